require ["vacation", "fileinto"];
fileinto "Away";
vacation "gone";
