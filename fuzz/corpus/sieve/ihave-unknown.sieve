require "ihave";
if ihave "x-bogus-ext" { bogus_command "x"; } else { discard; }
