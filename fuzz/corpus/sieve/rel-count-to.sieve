require "relational";
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { discard; }
