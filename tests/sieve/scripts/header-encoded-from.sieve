if header :contains "from" "Jürgen" { discard; }
