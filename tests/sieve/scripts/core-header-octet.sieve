if header :comparator "i;octet" :contains "subject" "LUNCH" { discard; }
