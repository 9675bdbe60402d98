require ["envelope", "subaddress", "variables", "fileinto"];
if envelope :detail :matches "to" "*" { set :lower "d" "${1}"; fileinto "${d}"; }
