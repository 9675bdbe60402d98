#ifndef SORA_LMTP_CLIENT_H
#define SORA_LMTP_CLIENT_H

/* LMTP delivery (RFC 2033) on top of net/conn: admission from trusted
   networks, LHLO, STARTTLS (RFC 3207), PIPELINING, ENHANCEDSTATUSCODES,
   SIZE, 8BITMIME, MAIL, RCPT (looked up on the worker pool: 550 5.1.1 for
   unknown users), DATA with one reply per accepted recipient after the
   final dot, RSET, NOOP, QUIT. Many recipients per transaction (unlike
   Sora's one). The message size limit is enforced while the data streams
   in (552 5.3.4). A storage failure answers 451 4.x.x for that recipient:
   250 only for what is stored durably. */

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
