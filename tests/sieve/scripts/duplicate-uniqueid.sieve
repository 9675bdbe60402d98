require ["duplicate", "variables", "fileinto"];
if duplicate :uniqueid "abc" :handle "h" { fileinto "Dup"; }
