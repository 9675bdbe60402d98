if true { keep; stop; }
discard;
