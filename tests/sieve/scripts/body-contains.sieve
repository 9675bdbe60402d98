require "body";
if body :contains "lunch" { discard; }
