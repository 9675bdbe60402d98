require "relational";
if header :value "lt" :comparator "i;ascii-numeric" "x-number" "100" { discard; }
