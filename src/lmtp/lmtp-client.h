#ifndef SORA_LMTP_CLIENT_H
#define SORA_LMTP_CLIENT_H

/* LMTP sessions (RFC 2033) on top of net/conn.

   This build serves the session layer: admission from trusted networks,
   greeting, LHLO, STARTTLS (RFC 3207), NOOP, RSET, QUIT. MAIL FROM answers
   a temporary 451 4.3.2 — delivery arrives with the storage layer — so an
   MTA keeps its queue instead of bouncing. See README "Feature status". */

#include <stdbool.h>

#include "../config/config.h"
#include "../net/cidr.h"
#include "../net/conn.h"

struct lmtp_server;

/* trusted: who may connect; empty list = loopback and RFC 1918 networks. */
struct lmtp_server *lmtp_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, const struct cidr_list *trusted);
void lmtp_server_free(struct lmtp_server **srv);

extern const struct proto_ops lmtp_proto_ops;

#endif
