require ["variables", "fileinto"];
if header :matches "subject" "Lunch*" {}
if header :matches "subject" "nomatch*" {}
fileinto "m${1}";
