require ["variables", "fileinto"];
if header :matches "subject" "*" { fileinto "subj-${1}"; }
