require ["relational", "comparator-i;ascii-numeric"];
if address :count "eq" "cc" "3" { discard; }
