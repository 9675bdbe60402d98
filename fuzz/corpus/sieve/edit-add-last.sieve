require ["editheader", "index", "fileinto"];
addheader :last "X-Custom" "third";
if header :index 1 :last :is "x-custom" "third" { fileinto "last"; }
