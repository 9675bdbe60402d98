require ["envelope"];
if envelope :domain :is "from" "lists.example.biz" { discard; }
