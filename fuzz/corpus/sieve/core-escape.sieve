if header :contains "subject" "\"" { discard; } if header :contains "subject" "F\riday" { keep; }
