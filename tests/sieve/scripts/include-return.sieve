require ["include", "fileinto"];
include "inc-return";
fileinto "main";
