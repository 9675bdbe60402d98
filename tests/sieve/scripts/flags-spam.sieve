require ["imap4flags", "fileinto"];
if header :is "x-spam" "yes" { addflag "$Junk"; fileinto "Junk"; }
