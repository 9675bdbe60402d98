redirect "Bob <bob@example.net>";
