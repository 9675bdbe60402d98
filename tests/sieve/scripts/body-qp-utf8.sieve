require "body";
if body :contains "Grüße" { discard; }
