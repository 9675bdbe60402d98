require ["date", "variables", "fileinto"];
if date :originalzone :matches "date" "weekday" "*" { fileinto "wd${1}"; }
