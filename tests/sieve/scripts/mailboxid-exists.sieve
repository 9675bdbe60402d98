require ["mailboxid", "fileinto"];
if mailboxidexists "F1234" { fileinto "yes"; } else { fileinto "no"; }
