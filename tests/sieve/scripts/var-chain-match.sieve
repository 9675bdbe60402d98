require ["variables", "fileinto"];
if header :matches "from" "*<*>" { set "addr" "${2}"; }
if string :matches "${addr}" "*@*" { fileinto "${2}"; }
