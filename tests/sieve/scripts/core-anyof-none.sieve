if anyof (false, not true) { discard; }
