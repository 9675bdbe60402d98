require "ihave";
if header :contains "subject" "lunch" { error "no lunch mail"; }
