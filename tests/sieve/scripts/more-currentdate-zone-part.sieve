require ["date", "variables", "fileinto"];
if currentdate :zone "+0530" :matches "zone" "*" { fileinto "z${1}"; }
