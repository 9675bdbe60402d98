if header :contains "SUBJECT" "LUNCH" { discard; }
