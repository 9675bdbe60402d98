#ifndef SORA_AUTH_AUTH_LOGIN_H
#define SORA_AUTH_AUTH_LOGIN_H

/* The protocol side of one login attempt, the same for IMAP, POP3 and
   ManageSieve: copy the credentials into a job, run auth_verify() on the
   worker pool with the connection's input paused, then hand the result
   back on the connection's loop — at once for a success or a temporary
   failure, after the rate limiter's delay (a loop timer, never a sleeping
   thread) for a failure. The protocol only frames the reply.

	auth_login_init(&s->login, conn, login_done, s);     // once per session
	auth_login_submit(&s->login, auth, workers, &creds, NULL);
	...
	static void login_done(struct auth_login *al, const struct auth_result *res,
			       void *extra) { reply; conn_resume_input(); }
	auth_login_cleanup(&s->login);                        // when the session goes

   The completion finds the session through conn_session(): when the client
   left meanwhile nothing is called. The password is copied once, wiped on
   the worker right after verification and freed with the job; the caller
   wipes its own copy.

   hooks (optional) add work to the same job: work() runs on the worker
   right after a successful verification (POP3 takes its maildrop snapshot
   there), done() receives extra, and free_extra() always runs last, on the
   loop, whether or not done() was called. */

#include <stdbool.h>
#include <stddef.h>

#include "../net/conn.h"
#include "../net/loop.h"
#include "auth.h"

struct worker_pool;

/* Longest login name or authzid copied into a job; longer ones are cut
   (and then fail as unknown users). */
#define AUTH_LOGIN_FIELD_MAX 1024

struct auth_login;

/* On the loop. extra: hooks->extra for an answer straight from the job,
   NULL for a failure answered after a delay. */
typedef void auth_login_done_fn(struct auth_login *al, const struct auth_result *res,
				void *extra);

struct auth_login_hooks {
	/* worker thread, only after AUTH_OK; may change nothing in res but
	   what it owns in extra */
	void (*work)(const struct auth_result *res, void *extra);
	void (*free_extra)(void *extra); /* loop thread, always */
	void *extra;
};

struct auth_login_creds {
	const char *authzid;   /* NULL or "" = none */
	const char *login;
	size_t login_len;
	const char *password;  /* may hold NULs */
	size_t password_len;
	const char *client_ip; /* NULL: conn_peer_str() (after PROXY) */
};

struct auth_login {
	struct conn *conn;
	struct timer delay;
	struct auth_result pending;
	auth_login_done_fn *done;
	void *ctx;    /* the session, for done() */
	bool busy;    /* a job or a delay is in flight */
};

void auth_login_init(struct auth_login *al, struct conn *c, auth_login_done_fn *done, void *ctx);
/* Pauses the connection's input; done() will be called once (unless the
   client leaves first). hooks may be NULL; *hooks is copied. */
void auth_login_submit(struct auth_login *al, struct auth *a, struct worker_pool *workers,
		       const struct auth_login_creds *creds, const struct auth_login_hooks *hooks);
/* Stops a pending delay (the session is going away). */
void auth_login_cleanup(struct auth_login *al);

#endif
