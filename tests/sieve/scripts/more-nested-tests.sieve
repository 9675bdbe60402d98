if allof (anyof (not false, false), not anyof (false, false), true) { discard; }
