# hash comment
/* bracket comment
   over lines */ if /* inline */ header :contains "subject" "a" # trailing
{ discard; }
