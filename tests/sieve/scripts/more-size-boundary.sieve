if size :over 28000 { discard; }
