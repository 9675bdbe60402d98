require "ihave";
if ihave ["body", "relational"] { if body :contains "lunch" { discard; } }
