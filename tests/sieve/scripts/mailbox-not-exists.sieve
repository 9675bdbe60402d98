require ["fileinto", "mailbox"];
if mailboxexists ["INBOX", "Nope"] { fileinto "yes"; } else { fileinto "no"; }
