#ifndef SORA_MANAGESIEVE_H
#define SORA_MANAGESIEVE_H

/* ManageSieve sessions (RFC 5804) on top of net/conn, with Sora's
   capability block, greeting and limits (sora-features §4).

   Before login: CAPABILITY, STARTTLS (plaintext listener with
   tls_use_starttls), AUTHENTICATE "PLAIN" (initial response, or a
   continuation), Sora's LOGIN "user" "password", NOOP, LOGOUT.
   After: LISTSCRIPTS, GETSCRIPT, PUTSCRIPT, CHECKSCRIPT, HAVESPACE,
   RENAMESCRIPT, SETACTIVE ("" deactivates), DELETESCRIPT (NO (ACTIVE) for
   the active script), UNAUTHENTICATE (RFC 5804 §2.14, which Sora lacks),
   NOOP, CAPABILITY, LOGOUT.

   Logins go through src/auth (auth-login.h), exactly as IMAP and POP3:
   schemes, master users in both forms, master SASL with an authzid, the
   rate limiter with its delays. Plaintext credentials are accepted over
   TLS, from loopback or with insecure_auth; otherwise the capability says
   "SASL" "" and AUTHENTICATE/LOGIN answer NO (ENCRYPT-NEEDED).

   Every script operation runs on the worker pool through
   managesieve-scripts.h, the code path `sora-admin sieve` uses too. Ten
   client errors (syntax, state, unknown commands, failed logins) close the
   connection, as in Sora. */

#include <stdbool.h>

#include "../config/config.h"
#include "../net/conn.h"
#include "managesieve-scripts.h"

struct auth;
struct mail_services;
struct msieve_server;

/* starttls: the listener can upgrade plaintext connections. cfg, auth,
   the services ms points to and set->extensions must outlive the server;
   *ms and *set are copied. auth NULL or no store: logins answer NO. */
struct msieve_server *msieve_server_new(const struct config_server *cfg, bool starttls,
					struct auth *auth, const struct mail_services *ms,
					const struct msieve_settings *set);
void msieve_server_free(struct msieve_server **srv);

extern const struct proto_ops msieve_proto_ops;

#endif
