require ["editheader", "fileinto"];
addheader "X-Utf" "Grüße";
if header :is "x-utf" "Grüße" { fileinto "utf"; }
