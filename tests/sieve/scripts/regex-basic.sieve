require "regex";
if header :regex "subject" "^[A-Z][a-z]+ on" { discard; }
