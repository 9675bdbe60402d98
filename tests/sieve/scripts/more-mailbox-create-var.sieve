require ["fileinto", "mailbox", "variables"];
set "m" "Var";
fileinto :create "${m}/Sub";
