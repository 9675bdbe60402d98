require ["mailboxid", "fileinto"];
fileinto :mailboxid "F1234" "Spam";
