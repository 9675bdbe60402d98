if header :contains "subject" "GRÜ" { discard; }
