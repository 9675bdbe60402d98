if header :contains "subject" text:
Lunch
.
{ discard; }
