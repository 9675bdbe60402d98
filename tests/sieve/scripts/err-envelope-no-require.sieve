if envelope :is "from" "x" { discard; }
