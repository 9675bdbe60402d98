require ["subaddress"];
if address :detail :matches "to" "*" { discard; }
