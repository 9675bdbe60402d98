if header :contains "subject" ["zzz", "lunch", "yyy"] { discard; }
