if header :matches "subject" "Gr?ße*" { redirect "one@example.net"; }
if header :matches "subject" "Gr??e*" { redirect "two@example.net"; }
