if header :is "subject" "Grüße aus München € 100" { discard; }
