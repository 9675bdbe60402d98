require ["envelope", "subaddress"];
if envelope :user :is "to" "bob" { discard; }
