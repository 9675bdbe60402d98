require ["date", "relational"];
if currentdate :zone "+0100" :value "ge" "date" "2000-01-01" { discard; }
