require ["include"];
include "inc-once";
include "inc-once";
