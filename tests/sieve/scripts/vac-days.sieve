require "vacation";
vacation :days 14 :subject "Away" "Back on Monday.";
