require ["envelope", "variables", "fileinto"];
if envelope :all :matches "to" "*" { fileinto "${1}"; }
