require ["variables", "fileinto"];
set "box" "Archive";
fileinto "${box}";
