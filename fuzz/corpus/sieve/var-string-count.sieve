require ["variables", "relational"];
if string :count "eq" :comparator "i;ascii-numeric" ["a", "", "b"] "2" { discard; }
