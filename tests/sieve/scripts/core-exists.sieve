if exists ["From", "Date", "Message-ID"] { discard; }
