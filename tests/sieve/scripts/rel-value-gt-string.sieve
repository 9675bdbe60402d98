require "relational";
if header :value "gt" "subject" "M" { discard; }
