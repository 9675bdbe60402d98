require "body";
if body :content "text/plain" :contains "Revenue" { discard; }
