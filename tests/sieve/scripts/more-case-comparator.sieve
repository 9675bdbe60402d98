if header :comparator "I;OCTET" :is "subject" "odd date" { discard; }
