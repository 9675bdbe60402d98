require ["include"];
include :once "inc-once";
include :once "inc-once";
