require "fileinto";
if address :domain :matches "from" "*" { fileinto "Lists.Example"; }
