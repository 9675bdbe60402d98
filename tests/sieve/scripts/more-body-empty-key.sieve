require "body";
if body :contains "" { discard; }
