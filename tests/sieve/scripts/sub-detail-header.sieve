require ["subaddress", "fileinto"];
if address :detail :is "to" "shopping" { fileinto "S"; }
