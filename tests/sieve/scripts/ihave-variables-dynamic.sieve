require ["ihave", "variables"];
set "e" "fileinto";
if ihave "${e}" { discard; }
