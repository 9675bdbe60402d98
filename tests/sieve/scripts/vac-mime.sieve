require "vacation";
vacation :mime text:
Content-Type: text/plain

Away.
.
;
