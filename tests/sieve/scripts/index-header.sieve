require "index";
if header :index 2 :is "x-custom" "second value" { discard; }
