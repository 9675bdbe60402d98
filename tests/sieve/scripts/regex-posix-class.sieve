require "regex";
if header :regex "subject" "^[[:alpha:]]+ on" { discard; }
