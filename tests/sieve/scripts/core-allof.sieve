if allof (exists "from", header :contains "subject" "o") { discard; }
