require ["envelope", "fileinto", "variables"];
if envelope :matches "from" "*@*" { fileinto "from-${2}"; }
