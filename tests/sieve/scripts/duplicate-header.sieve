require ["duplicate", "fileinto"];
if duplicate :header "x-order-id" :seconds 3600 { fileinto "Dup"; }
