require "relational";
if header :value "greater" "subject" "a" { discard; }
