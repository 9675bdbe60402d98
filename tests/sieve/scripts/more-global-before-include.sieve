require ["include", "variables", "fileinto"];
global "box";
include "inc-global-var";
