require "date";
if not date :matches "x-nodate" "year" "*" { discard; }
