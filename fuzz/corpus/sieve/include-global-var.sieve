require ["include", "variables", "fileinto"];
global "box";
set "box" "FromMain";
include "inc-global-var";
