require "comparator-i;ascii-numeric";
if header :comparator "i;ascii-numeric" :contains "x-number" "4" { discard; }
