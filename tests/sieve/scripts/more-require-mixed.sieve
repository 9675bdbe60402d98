require ["fileinto", "nonsense"];
fileinto "x";
