if size :under 500 { discard; }
