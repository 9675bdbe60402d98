require ["editheader", "regex", "fileinto"];
deleteheader :regex "x-custom" "^sec";
if header :is "x-custom" "second value" { fileinto "still"; }
