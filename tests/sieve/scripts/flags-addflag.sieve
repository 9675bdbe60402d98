require ["imap4flags", "fileinto"];
addflag ["\\Seen", "$Label1"];
addflag "\\Flagged";
fileinto "A";
