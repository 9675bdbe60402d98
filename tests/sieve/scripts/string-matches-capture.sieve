require ["variables", "fileinto"];
set "s" "alpha-beta-gamma";
if string :matches "${s}" "*-*-*" { fileinto "${3}.${2}.${1}"; }
