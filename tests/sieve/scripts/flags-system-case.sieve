require "imap4flags";
addflag ["\\SEEN", "\\flagged"];
