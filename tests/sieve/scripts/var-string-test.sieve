require ["variables"];
set "a" "hello";
if string :is "${a}" "hello" { discard; }
