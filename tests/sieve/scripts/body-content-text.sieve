require "body";
if body :content "text" :contains "quarterly" { discard; }
