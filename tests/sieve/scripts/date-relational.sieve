require ["date", "relational"];
if date :value "ge" :originalzone "date" "date" "2023-06-01" { discard; }
