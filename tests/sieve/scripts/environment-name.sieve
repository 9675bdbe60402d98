require ["environment", "variables", "fileinto"];
if environment :matches "name" "*" { fileinto "${1}"; }
