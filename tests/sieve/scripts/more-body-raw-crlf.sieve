require "body";
if body :raw :contains "Line 0399" { discard; }
