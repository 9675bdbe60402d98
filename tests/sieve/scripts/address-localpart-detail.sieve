if address :localpart :is "to" "bob+shopping" { discard; }
