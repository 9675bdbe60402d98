if header :is "subject" "this subject	is folded   over  three lines" { discard; }
