require ["fileinto"];
if exists "x-spam" { fileinto "GlobalJunk"; }
