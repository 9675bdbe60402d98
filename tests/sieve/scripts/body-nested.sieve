require "body";
if body :contains "kiwi" { discard; }
