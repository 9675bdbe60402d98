require "vacation";
if header :contains "subject" "lunch" { vacation :days 2 "Back soon"; }
