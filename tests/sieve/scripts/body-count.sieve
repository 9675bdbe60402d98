require ["body", "relational", "comparator-i;ascii-numeric"];
if body :content "text" :count "ge" "2" { discard; }
