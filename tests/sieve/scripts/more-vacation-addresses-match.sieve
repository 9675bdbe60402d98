require "vacation";
vacation :addresses ["bob@example.com"] :subject "S" "R";
