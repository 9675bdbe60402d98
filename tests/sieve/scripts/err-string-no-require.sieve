if string "a" "a" { discard; }
