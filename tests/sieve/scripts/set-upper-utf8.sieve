require ["variables", "fileinto"];
set :upper "a" "grüße";
fileinto "${a}";
