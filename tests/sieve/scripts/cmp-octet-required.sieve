require "comparator-i;octet";
if header :comparator "i;octet" :matches "subject" "*SPAM*" { discard; }
