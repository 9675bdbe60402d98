require ["fileinto", "copy", "imap4flags"];
if address :domain :is "from" "example.org" { fileinto :copy :flags "\\Flagged" "VIP"; redirect :copy "assistant@example.net"; }
if size :over 20K { fileinto "Large"; }
