if header :contains ["x-nope", "subject"] "date" { discard; }
