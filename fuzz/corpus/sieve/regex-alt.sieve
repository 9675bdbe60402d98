require "regex";
if address :regex :domain "from" "(example\\.org|example\\.net)$" { discard; }
