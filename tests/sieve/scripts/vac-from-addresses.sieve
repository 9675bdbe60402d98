require "vacation";
vacation :from "bob@example.com" :addresses ["bob@example.com", "robert@example.com"] "Away";
