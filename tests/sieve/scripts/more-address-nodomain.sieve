if address :domain :is "to" "" { discard; }
