require "body";
if body :text :contains "pineapple" { discard; }
