require "index";
if header :index 1 :last :is "x-custom" "second value" { discard; }
