KEEP;
If Header :Is "subject" "odd date" { Discard; }
