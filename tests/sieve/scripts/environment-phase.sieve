require ["environment"];
if environment :is "phase" "during" { discard; }
