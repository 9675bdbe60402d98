require ["encoded-character", "fileinto"];
fileinto "${hex:42 6f 78}";
