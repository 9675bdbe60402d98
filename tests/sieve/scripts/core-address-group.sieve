if address :is "cc" "erin@example.net" { discard; }
