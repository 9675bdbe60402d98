if size :under 1k { discard; }
