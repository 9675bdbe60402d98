require ["variables", "fileinto"];
if header :matches "subject" "**day*" { fileinto "[${1}][${2}][${3}]"; }
