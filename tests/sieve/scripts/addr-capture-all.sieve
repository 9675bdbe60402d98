require ["variables", "fileinto"];
if address :all :matches "from" "*" { fileinto "from-${1}"; }
if address :all :matches "to" "*" { fileinto "to-${1}"; }
if address :domain :matches "cc" "*" { fileinto "ccdom-${1}"; }
