require "fileinto";
fileinto "${x}";
