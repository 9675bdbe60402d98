require "copy";
redirect :copy "once@example.net";
