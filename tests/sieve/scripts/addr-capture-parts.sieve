require ["variables", "fileinto", "subaddress", "envelope"];
if address :localpart :matches "from" "*" { fileinto "lp-${1}"; }
if envelope :user :matches "to" "*" { fileinto "user-${1}"; }
if envelope :detail :matches "to" "*" { fileinto "detail-${1}"; }
