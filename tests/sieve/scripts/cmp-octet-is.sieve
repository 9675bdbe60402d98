if header :comparator "i;octet" :is "subject" "odd date" { discard; }
