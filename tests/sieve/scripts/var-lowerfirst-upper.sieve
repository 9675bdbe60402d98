require ["variables", "fileinto"];
set :lowerfirst :upper "b" "mixed";
fileinto "${b}";
