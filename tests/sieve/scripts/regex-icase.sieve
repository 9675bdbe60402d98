require "regex";
if header :regex "subject" "LUNCH" { discard; }
