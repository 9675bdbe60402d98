require ["fileinto", "envelope", "subaddress", "variables", "mailbox"];
if header :is "X-Spam" "Yes" { fileinto "Junk"; stop; }
if envelope :detail :matches "to" "?*" { set :lower "d" "${0}"; fileinto :create "${d}"; }
