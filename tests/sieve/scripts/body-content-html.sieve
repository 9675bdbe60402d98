require "body";
if body :content "text/html" :contains "pineapple" { discard; }
