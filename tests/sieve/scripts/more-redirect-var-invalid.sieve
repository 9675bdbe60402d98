require ["variables"];
set "a" "not valid";
redirect "${a}";
