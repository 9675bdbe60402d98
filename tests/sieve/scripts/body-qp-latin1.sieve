require "body";
if body :contains "réunion" { discard; }
