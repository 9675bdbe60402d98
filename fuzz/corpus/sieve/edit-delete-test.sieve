require ["editheader", "fileinto"];
deleteheader "subject";
if not exists "subject" { fileinto "nosubject"; }
