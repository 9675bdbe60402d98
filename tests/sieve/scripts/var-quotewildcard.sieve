require ["variables"];
set :quotewildcard "p" "*SPAM*";
if header :matches "subject" "${p} You*" { discard; }
