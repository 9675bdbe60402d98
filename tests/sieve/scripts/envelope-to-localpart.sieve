require "envelope";
if envelope :localpart :contains "to" "bob" { discard; }
