fileinto "x";
