require ["variables", "fileinto"];
if address :all :matches "reply-to" "*" { fileinto "rt-${1}"; }
if address :all :matches "sender" "*" { fileinto "snd-${1}"; }
