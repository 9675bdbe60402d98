#ifndef SORA_POP3_CLIENT_H
#define SORA_POP3_CLIENT_H

/* POP3 sessions (RFC 1939, CAPA RFC 2449, AUTH RFC 5034, UTF8/LANG
   RFC 6856) on top of net/conn, serving the account's INBOX only.

   AUTHORIZATION: CAPA, USER/PASS, AUTH PLAIN and LOGIN (with initial
   response), STLS (when the listener offers STARTTLS), UTF8, LANG, QUIT.
   Logins are verified by src/auth on the worker pool; the same job takes
   the maildrop snapshot (UIDs and sizes of the INBOX), which fixes the
   message numbers for the whole session.
   TRANSACTION: STAT, LIST, UIDL (the IMAP UID), RETR, TOP, DELE, RSET,
   NOOP, QUIT. Bodies come from the blob store on a worker and are sent
   dot-stuffed in bounded pieces as the client reads them. QUIT expunges
   the messages marked with DELE in one store call (visible to IMAP); a
   session that ends any other way deletes nothing.

   Plaintext credentials are accepted over TLS, from loopback or with
   insecure_auth only; otherwise CAPA hides USER and SASL, and USER, PASS
   and AUTH answer -ERR [AUTH]. */

#include <stdbool.h>

#include "../config/config.h"
#include "../net/conn.h"

struct auth;
struct mail_services;
struct pop3_server;

/* starttls: the listener can upgrade plaintext connections (STLS). auth
   NULL, or ms without a store or blob store: logins answer
   -ERR [SYS/TEMP]. cfg, hostname, auth and the services ms points to must
   outlive the server; *ms itself is copied. */
struct pop3_server *pop3_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, struct auth *auth,
				    const struct mail_services *ms);
void pop3_server_free(struct pop3_server **srv);

extern const struct proto_ops pop3_proto_ops;

#endif
