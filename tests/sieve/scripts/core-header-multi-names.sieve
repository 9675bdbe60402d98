if header :contains ["x-spam", "x-spam-flag"] ["yes", "true"] { discard; }
