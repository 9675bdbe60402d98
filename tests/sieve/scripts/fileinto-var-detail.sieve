require ["variables", "fileinto", "envelope", "subaddress"];
if envelope :detail :matches "to" "*" { fileinto "Detail/${1}"; }
