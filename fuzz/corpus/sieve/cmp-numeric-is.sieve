require "comparator-i;ascii-numeric";
if header :comparator "i;ascii-numeric" :is "x-number" "042" { discard; }
