require ["imap4flags", "variables"];
set "v1" "a";
set "v2" "b";
if hasflag ["v1", "v2"] "b" { discard; }
