require ["variables"];
if envelope :matches "to" "*" {}
set "who" "archive";
redirect "${who}@example.net";
