require ["environment", "variables", "fileinto"];
if environment :matches "domain" "*" { fileinto "d-${1}"; }
