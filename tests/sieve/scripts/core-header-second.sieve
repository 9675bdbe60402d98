if header :is "x-custom" "second value" { discard; }
