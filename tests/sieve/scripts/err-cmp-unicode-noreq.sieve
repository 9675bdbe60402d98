if header :comparator "i;unicode-casemap" :is "subject" "x" { discard; }
