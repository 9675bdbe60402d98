require "reject";
if header :contains "subject" "prize" { reject "No spam please."; }
