require "copy";
redirect :copy "copy@example.net";
