if false { keep; } elsif true { stop; } else { discard; }
discard;
