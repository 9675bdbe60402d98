if header :matches "x-empty" "" { discard; }
