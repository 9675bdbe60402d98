redirect "one@example.net";
keep;
