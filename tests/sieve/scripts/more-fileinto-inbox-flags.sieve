require ["imap4flags", "fileinto"];
fileinto :flags "x" "INBOX";
