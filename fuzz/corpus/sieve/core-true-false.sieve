if false { discard; } if true { keep; }
