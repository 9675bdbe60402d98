require ["variables", "fileinto"];
set "Name" "v";
fileinto "${NAME}";
