require ["environment", "variables", "fileinto"];
if environment :matches "location" "*" { fileinto "${1}"; }
