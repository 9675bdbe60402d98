require ["imap4flags"];
addflag "Important";
if hasflag :is "important" { discard; }
