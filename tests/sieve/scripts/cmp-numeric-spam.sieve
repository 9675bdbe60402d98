require ["comparator-i;ascii-numeric", "relational"];
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { discard; }
