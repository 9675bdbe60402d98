redirect text:
forward@example.net
.
;
