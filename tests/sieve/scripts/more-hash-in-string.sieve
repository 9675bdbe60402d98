require "fileinto";
fileinto "a#b/*c*/";
