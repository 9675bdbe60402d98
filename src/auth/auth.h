#ifndef SORA_AUTH_AUTH_H
#define SORA_AUTH_AUTH_H

/* Protocol-independent login verification: one call decides a LOGIN,
   AUTHENTICATE PLAIN/LOGIN, POP3 USER/PASS or AUTH, ManageSieve
   AUTHENTICATE. It runs on a worker thread (it hashes and queries the
   store) and never sleeps: the delay the rate limiter asks for comes back
   in the result, and the protocol waits on its loop before answering.

   Rules (sora-security §1, §4; README "Authentication"):
   - the login name may carry +detail (stripped) and a master suffix:
     user@domain@<master_username> or seed-era user@domain~<master>; with
     master_password it opens user@domain. Master attempts are rate-limited
     under the master name, never against the target account;
   - SASL authzid ≠ authcid: only master_sasl_username/password, and only
     from a socket peer in master_sasl_allowed_networks when that is set
     (never the PROXY-forwarded address), may act for authzid;
   - unknown users cost a dummy bcrypt verify; blocked, unknown and wrong
     answers are the same AUTH_FAILED for the client;
   - a good password stored with a legacy scheme, or bcrypt below the
     configured cost, is re-hashed with bcrypt and stored (rehash = true). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../config/config.h"
#include "password.h"

struct store;
struct ratelimit;
struct auth;
struct worker_pool;

/* At most this many failed attempts of one IP wait out a delay at once
   (per struct auth, so per server section); the next one is refused at
   once with AUTH_FAILED and no delay, looking like a wrong password. Sora
   HEAD holds 10 per IP; each held attempt keeps a connection and a timer,
   so we hold fewer. */
#define AUTH_MAX_DELAYED_PER_IP_DEFAULT 4
/* IPs tracked for that cap; past it an IP's delays are not capped. */
#define AUTH_DELAY_TABLE_SIZE 4096

struct auth_settings {
	const struct config_server *server; /* master users, rate limit */
	struct password_params params;       /* bcrypt cost for rehash and dummy */
	bool rehash;                         /* [auth] rehash_on_login, default true */
	unsigned max_delayed_per_ip;         /* 0: AUTH_MAX_DELAYED_PER_IP_DEFAULT */
	/* Pool that runs login jobs (hashing); NULL: the pool the caller of
	   auth_login_submit() passes. Borrowed. */
	struct worker_pool *pool;
};

/* store is borrowed (outlives the auth); the rate limiter is owned. */
struct auth *auth_new(struct store *st, const struct auth_settings *set);
void auth_free(struct auth **a);
/* set.pool of a. */
struct worker_pool *auth_pool(const struct auth *a);

struct auth_request {
	const char *login;      /* LOGIN user / SASL authcid */
	const char *authzid;    /* SASL authzid; NULL or "" = none */
	const char *password;   /* may hold NULs: password_len counts */
	size_t password_len;
	const char *client_ip;  /* after PROXY; for the rate limiter and logs */
	struct sockaddr_storage socket_peer; /* for master_sasl_allowed_networks */
	uint64_t now_ms;        /* monotonic clock, for the rate limiter */
};

enum auth_status {
	AUTH_OK,
	AUTH_FAILED,   /* wrong password, unknown user, blocked: same answer */
	AUTH_TEMPFAIL, /* the store failed: try again later */
};

struct auth_result {
	enum auth_status status;
	int64_t account_id;
	char address[256];     /* the account logged in to (normalised) */
	char detail[128];      /* +detail of the login name, "" when none */
	bool via_master;       /* master user or master SASL */
	bool rehashed;
	uint64_t delay_ms;     /* wait this long before answering */
	const char *reason;    /* static, for the log: never shown to the client */
	/* The rate limiter's store failed during this attempt (the attempt
	   was refused: fail closed): "op: message", no secrets; "" when not.
	   The caller logs it once. */
	char store_error[320];
};

/* Blocking: call on a worker thread. */
void auth_verify(struct auth *a, const struct auth_request *req, struct auth_result *res);

#endif
