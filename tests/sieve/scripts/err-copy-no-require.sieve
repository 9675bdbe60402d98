redirect :copy "copy@example.net";
