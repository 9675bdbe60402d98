if header :matches "subject" "odd ????" { discard; }
