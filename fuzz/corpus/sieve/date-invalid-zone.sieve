require "date";
if date :zone "CET" :is "date" "year" "2023" { discard; }
