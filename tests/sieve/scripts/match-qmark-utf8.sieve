require ["variables", "fileinto"];
if header :matches "subject" "Gr???e*" { fileinto "${3}"; }
