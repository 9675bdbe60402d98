if address :domain :is "from" "SUB.EXAMPLE.NET" { discard; }
