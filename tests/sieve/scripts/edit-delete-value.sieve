require ["editheader", "fileinto"];
deleteheader :is "x-custom" "spaced value";
if header :is "x-custom" "second value" { fileinto "one-left"; }
if header :is "x-custom" "spaced value" { fileinto "still"; }
