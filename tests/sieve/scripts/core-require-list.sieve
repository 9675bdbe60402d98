require ["fileinto", "envelope"];
fileinto "A";
