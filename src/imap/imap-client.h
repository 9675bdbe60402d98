#ifndef SORA_IMAP_CLIENT_H
#define SORA_IMAP_CLIENT_H

/* IMAP4rev2/rev1 sessions (RFC 9051 / RFC 3501) on top of net/conn.

   This build serves the not-authenticated state: greeting, CAPABILITY,
   NOOP, LOGOUT, ID (RFC 2971) and STARTTLS. LOGIN and AUTHENTICATE answer
   NO [UNAVAILABLE] until the account store and auth module exist; every
   other RFC 9051 command answers BAD as not valid before login.
   See README "Feature status". */

#include <stdbool.h>

#include "../config/config.h"
#include "../net/conn.h"

struct imap_server;

/* starttls: the listener can upgrade plaintext connections. */
struct imap_server *imap_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname);
void imap_server_free(struct imap_server **srv);

extern const struct proto_ops imap_proto_ops;

#endif
