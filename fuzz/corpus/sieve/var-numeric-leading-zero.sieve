require ["variables", "fileinto"];
if header :matches "subject" "L*" { fileinto "${01}"; }
