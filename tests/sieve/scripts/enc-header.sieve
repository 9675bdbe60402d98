require "encoded-character";
if header :contains "subject" "${hex:4c}unch" { discard; }
