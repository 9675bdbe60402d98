require "comparator-i;unicode-casemap";
if header :comparator "i;unicode-casemap" :is "x-mood" "FRÖHLICH" { discard; }
