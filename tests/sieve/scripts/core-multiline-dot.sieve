require ["variables", "fileinto"];
set "a" text:
..dotted
.
;
if string :matches "${a}" ".dotted*" { fileinto "dot-ok"; }
