#ifndef SORA_LMTP_CLIENT_H
#define SORA_LMTP_CLIENT_H

/* LMTP delivery (RFC 2033) on top of net/conn: admission from trusted
   networks, LHLO, STARTTLS (RFC 3207), PIPELINING, ENHANCEDSTATUSCODES,
   SIZE, 8BITMIME, CHUNKING (RFC 3030 BDAT), MAIL, RCPT (looked up on the
   worker pool: 550 5.1.1 for unknown users), DATA or BDAT ... LAST with one
   reply per accepted recipient at the end, RSET, NOOP, QUIT, and Postfix's
   XCLIENT (ADDR PORT PROTO HELO LOGIN NAME) from an explicitly configured
   trusted_networks only (fail-closed: the built-in default admits RFC 1918
   peers but trusts none of them). Many recipients per transaction (unlike
   Sora's one). The message size limit is enforced while the data streams
   in (552 5.3.4). Each recipient goes through deliver_incoming() (retry
   absorption, Sieve, relay queue); a storage failure answers 451 4.x.x
   for that recipient: 250 only for what is stored durably. The command
   reader's pure parts are in lmtp-parse.h. */

#include <stdbool.h>

#include "../config/config.h"
#include "../net/cidr.h"
#include "../net/conn.h"

struct mail_services;
struct lmtp_server;

/* trusted: who may connect; empty list = loopback and RFC 1918 networks. */
struct lmtp_server *lmtp_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, const struct cidr_list *trusted,
				    const struct mail_services *ms);
void lmtp_server_free(struct lmtp_server **srv);

extern const struct proto_ops lmtp_proto_ops;

#endif
