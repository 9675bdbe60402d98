require "copy";
keep;
redirect :copy "x@example.net";
