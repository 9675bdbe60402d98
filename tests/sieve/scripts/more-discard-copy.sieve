require ["fileinto", "copy"];
discard;
fileinto :copy "x";
