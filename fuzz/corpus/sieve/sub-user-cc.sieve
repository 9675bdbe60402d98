require ["subaddress"];
if address :user :is "cc" "dave" { discard; }
