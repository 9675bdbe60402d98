if address :localpart :is "from" "carol" { discard; }
