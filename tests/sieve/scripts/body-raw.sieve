require "body";
if body :raw :contains "BOUNDARY-1" { discard; }
