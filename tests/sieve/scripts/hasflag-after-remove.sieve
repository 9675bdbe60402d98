require ["imap4flags"];
addflag ["a", "b"];
removeflag "a";
if hasflag :is "a" { discard; }
if hasflag :contains "b" { keep; }
