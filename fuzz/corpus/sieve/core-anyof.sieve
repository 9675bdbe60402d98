if anyof (false, header :contains "to" "bob") { discard; }
