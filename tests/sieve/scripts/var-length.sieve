require ["variables", "fileinto"];
set :length "n" "héllo";
fileinto "len${n}";
