require ["variables", "fileinto"];
if anyof (header :matches "subject" "*", header :matches "from" "*") { fileinto "${1}"; }
