require ["variables"];
set "who" "archive";
redirect "${who}@example.net";
