require ["envelope"];
if envelope :is "to" "BOB@EXAMPLE.COM" { discard; }
