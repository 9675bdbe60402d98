require ["date", "variables", "fileinto"];
set "z" "+0300";
if date :zone "${z}" :matches "date" "hour" "*" { fileinto "h${1}"; }
