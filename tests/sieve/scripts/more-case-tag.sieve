if header :CONTAINS "subject" "lunch" { discard; }
