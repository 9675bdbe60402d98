require ["regex", "relational", "comparator-i;ascii-numeric"];
if header :count "ge" "received" "1" { discard; }
