require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "shopping" { fileinto "Shopping"; }
