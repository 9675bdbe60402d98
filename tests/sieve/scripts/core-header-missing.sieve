if not header :contains "x-nonexistent" "" { discard; }
