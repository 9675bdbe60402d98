require ["vacation", "variables"];
set "x" "hello";
vacation :subject "${x} world" "R";
