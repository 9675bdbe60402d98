require ["include", "fileinto"];
include :personal "inc-junk";
fileinto "after";
