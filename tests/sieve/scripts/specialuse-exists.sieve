require ["special-use", "fileinto"];
if specialuse_exists "\\Junk" { fileinto "has-junk"; }
