require ["include", "fileinto"];
fileinto "inc-before";
return;
fileinto "inc-after";
