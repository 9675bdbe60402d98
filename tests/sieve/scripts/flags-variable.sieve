require ["imap4flags", "variables", "fileinto"];
set "myflags" "";
addflag "myflags" "\\Seen";
if hasflag "myflags" "\\Seen" { fileinto :flags "${myflags}" "V"; }
