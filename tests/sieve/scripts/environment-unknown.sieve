require ["environment"];
if environment :matches "no-such-item" "*" { discard; }
