if header :is "from" "Alice Example <alice@example.org>" { discard; }
