require ["imap4flags", "fileinto"];
setflag "\\Deleted";
fileinto :flags "\\Seen" "A";
fileinto "B";
