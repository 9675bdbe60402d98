require ["editheader", "fileinto"];
deleteheader :index 1 :last "x-custom";
if header :is "x-custom" "second value" { fileinto "still"; } else { fileinto "gone"; }
