if header :index 1 :is "subject" "x" { discard; }
