require ["variables"];
set "h" "subject";
if header :contains "${h}" "Lunch" { discard; }
