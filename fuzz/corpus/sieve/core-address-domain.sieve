if address :domain :is "to" "example.com" { redirect "copy@example.net"; }
