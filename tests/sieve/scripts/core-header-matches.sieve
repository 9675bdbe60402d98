if header :matches "subject" "*order #*shipped" { discard; }
