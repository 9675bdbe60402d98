require "body";
if body :matches "*prize*" { discard; }
