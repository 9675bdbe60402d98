require "date";
if date :is "date" "year" "2023" { discard; }
