if address :is "from" "old@example.org" { discard; }
