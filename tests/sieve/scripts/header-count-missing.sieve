require ["relational", "comparator-i;ascii-numeric"];
if header :count "eq" "x-nothing" "0" { discard; }
