require ["variables", "fileinto"];
if allof (header :matches "subject" "*", address :matches :domain "from" "*") { fileinto "${1}"; }
