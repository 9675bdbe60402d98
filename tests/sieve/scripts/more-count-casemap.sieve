require "relational";
if header :count "ge" ["to", "cc"] "10" { discard; }
