if header :comparator "i;nope" :is "subject" "x" { discard; }
