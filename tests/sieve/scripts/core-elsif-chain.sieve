if header :contains "subject" "lunch" { redirect "lunch@example.net"; }
elsif header :contains "subject" "report" { redirect "reports@example.net"; }
elsif size :over 10K { redirect "big@example.net"; }
else { discard; }
