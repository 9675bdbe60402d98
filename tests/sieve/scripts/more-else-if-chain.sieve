if false { discard; }
elsif false { discard; }
elsif false { discard; }
else { redirect "x@example.net"; }
if true { keep; }
