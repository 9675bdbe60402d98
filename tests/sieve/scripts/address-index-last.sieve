require ["index"];
if address :index 1 :last :is "to" "c@other.example" { discard; }
