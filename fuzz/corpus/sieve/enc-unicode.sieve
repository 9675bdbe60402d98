require ["encoded-character", "fileinto"];
fileinto "${unicode:263A}x";
