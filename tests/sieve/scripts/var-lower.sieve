require ["variables", "fileinto"];
set :lower "b" "MiXeD";
fileinto "${b}";
