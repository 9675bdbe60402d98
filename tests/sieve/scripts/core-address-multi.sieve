if address :is ["to", "cc"] "c@other.example" { discard; }
