if address :is "x-custom" "second value" { discard; }
