require "envelope";
if envelope :is "bcc" "x" { discard; }
