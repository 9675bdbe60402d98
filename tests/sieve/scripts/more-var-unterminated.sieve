require ["variables", "fileinto"];
fileinto "a${b";
