require ["variables", "fileinto"];
set :upperfirst "b" "mixed";
fileinto "${b}";
