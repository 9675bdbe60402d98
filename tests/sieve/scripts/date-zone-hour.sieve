require ["date", "variables", "fileinto"];
if date :zone "-0500" :matches "date" "hour" "*" { fileinto "h${1}"; }
