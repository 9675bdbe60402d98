require ["index"];
if address :index 1 :is "to" "bob@example.com" { discard; }
