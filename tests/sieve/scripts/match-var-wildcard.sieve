require ["variables"];
set "p" "*lunch*";
if header :matches "subject" "${p}" { discard; }
