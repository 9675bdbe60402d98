require ["vacation", "fileinto"];
if anyof (exists "list-id", header :is "precedence" ["bulk", "junk"], header :is "auto-submitted" "auto-replied") { fileinto "Auto"; } else { vacation :days 1 "Away"; }
