require "reject";
reject text:
Your message was refused.
Bye.
.
;
