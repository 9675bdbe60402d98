require "envelope";
if envelope :domain :is "to" "example.com" { redirect "x@example.net"; }
