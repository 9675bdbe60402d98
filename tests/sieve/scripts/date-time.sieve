require ["date", "variables", "fileinto"];
if date :originalzone :matches "date" "time" "*" { fileinto "t${1}"; }
