if header :is "subject" ["a", ] { discard; }
