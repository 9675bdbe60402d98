require "imap4flags";
addflag "\\Seen \\Flagged";
removeflag "\\seen";
