if address :is ["sender", "reply-to"] "replies@example.org" { discard; }
