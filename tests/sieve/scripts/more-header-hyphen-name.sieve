if exists "Message-Id" { discard; }
