require ["include", "variables", "fileinto"];
global "box";
fileinto "g-${box}";
