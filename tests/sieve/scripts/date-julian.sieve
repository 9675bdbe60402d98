require ["date", "variables", "fileinto"];
if date :zone "+0000" :matches "date" "julian" "*" { fileinto "j${1}"; }
