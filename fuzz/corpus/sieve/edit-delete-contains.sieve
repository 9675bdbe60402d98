require ["editheader", "fileinto"];
deleteheader :contains "subject" "Lunch";
if exists "subject" { fileinto "kept"; } else { fileinto "deleted"; }
