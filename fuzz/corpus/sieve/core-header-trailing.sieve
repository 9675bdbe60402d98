if header :is "x-custom" "spaced value" { discard; }
