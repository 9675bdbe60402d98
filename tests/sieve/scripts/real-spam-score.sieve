require ["fileinto", "relational", "comparator-i;ascii-numeric", "imap4flags"];
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { addflag "$Junk"; fileinto "Junk"; }
