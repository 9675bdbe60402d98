if header :contains "Subject" "report" { discard; } else { keep; }
