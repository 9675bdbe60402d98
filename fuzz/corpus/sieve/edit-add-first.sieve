require ["editheader", "index", "fileinto"];
addheader "X-Custom" "zeroth";
if header :index 1 :is "x-custom" "zeroth" { fileinto "first"; }
