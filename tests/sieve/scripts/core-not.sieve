if not exists "x-spam" { discard; }
