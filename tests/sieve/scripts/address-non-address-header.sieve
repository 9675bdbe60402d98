if address :contains "subject" "lunch" { discard; }
