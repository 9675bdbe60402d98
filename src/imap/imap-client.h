#ifndef SORA_IMAP_CLIENT_H
#define SORA_IMAP_CLIENT_H

/* IMAP4rev2/rev1 sessions (RFC 9051 / RFC 3501) on top of net/conn.

   This build serves the not-authenticated state — greeting, CAPABILITY,
   NOOP, LOGOUT, ID (RFC 2971), STARTTLS, LOGIN and AUTHENTICATE PLAIN /
   LOGIN with SASL-IR (verified by src/auth on the worker pool) — and
   after login the authenticated and selected states on the mail store
   (cmd-mailbox.c, cmd-select.c, cmd-fetch.c, cmd-store.c, cmd-append.c,
   cmd-search.c). Commands not served answer NO [UNAVAILABLE]. Changes
   made by other sessions reach a session through store change events
   (imap-notify.h), which imap_server_new() subscribes to. */

#include <stdbool.h>

#include "../config/config.h"
#include "../net/conn.h"

struct imap_server;

struct auth;
struct worker_pool;
struct mail_services;

/* starttls: the listener can upgrade plaintext connections. auth NULL:
   LOGIN and AUTHENTICATE answer NO [UNAVAILABLE]. ms (store, blob store,
   workers; outlives the server) NULL: the mailbox commands answer
   NO [UNAVAILABLE]. */
struct imap_server *imap_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, struct auth *auth,
				    struct worker_pool *workers, const struct mail_services *ms);
void imap_server_free(struct imap_server **srv);

extern const struct proto_ops imap_proto_ops;

#endif
