require ["editheader", "variables", "fileinto"];
addheader "X-Tag" "tag-1";
if header :matches "x-tag" "tag-*" { fileinto "t${1}"; }
