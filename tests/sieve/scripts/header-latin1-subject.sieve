if header :is "subject" "Réunion" { discard; }
