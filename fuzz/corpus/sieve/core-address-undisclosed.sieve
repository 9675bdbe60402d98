if address :contains "to" "undisclosed" { discard; }
