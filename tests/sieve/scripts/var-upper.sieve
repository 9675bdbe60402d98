require ["variables", "fileinto"];
set :upper "b" "MiXeD";
fileinto "${b}";
