require "fileinto";
fileinto "Bücher/Ölfässer";
