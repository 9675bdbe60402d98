require "relational";
if header :value "ne" "subject" "odd date" { discard; }
