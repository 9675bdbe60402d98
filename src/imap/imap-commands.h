#ifndef SORA_IMAP_COMMANDS_H
#define SORA_IMAP_COMMANDS_H

/* The command table and the session state the handlers share. Private to
   src/imap. */

#include <stdbool.h>

#include "../auth/auth.h"
#include "../auth/sasl.h"
#include "../lib/arena.h"
#include "../net/conn.h"
#include "../net/loop.h"
#include "imap-client.h"
#include "imap-parser.h"

enum imap_state {
	IMAP_ST_NOT_AUTH,
	IMAP_ST_AUTH,
	IMAP_ST_SELECTED,
	IMAP_ST_LOGOUT,
};

enum imap_cmd_flags {
	IMAP_CMD_ANY = 0,          /* every state */
	IMAP_CMD_NOAUTH = 1 << 0,  /* not authenticated only */
	IMAP_CMD_AUTH = 1 << 1,    /* authenticated or selected */
	IMAP_CMD_SELECTED = 1 << 2,/* selected only */
	IMAP_CMD_SECRET_ARGS = 1 << 3, /* never trace the arguments */
};

struct imap_server {
	const struct config_server *cfg;
	bool starttls;
	const char *hostname;
	struct auth *auth;           /* NULL: no account store configured */
	struct worker_pool *workers;
};

struct imap_client {
	struct conn *conn;
	const struct imap_server *srv;
	struct imap_parser *parser; /* NULL while idle */
	struct arena *cmd_arena;    /* NULL while idle */
	enum imap_state state;
	unsigned bad_commands;
	unsigned auth_failures;

	/* AUTHENTICATE in progress: the tag and the exchange, which read the
	   client's continuation lines instead of commands */
	struct arena *sasl_arena;
	struct sasl_exchange *sasl;
	char sasl_tag[72];

	/* a failed login waits out the rate limiter's delay before its NO */
	struct timer auth_delay;
	struct auth_result auth_pending;
	char auth_tag[72];
	bool auth_busy; /* a verification or its delay is pending: no input */

	int64_t account_id;
};

struct imap_cmd {
	struct imap_client *client;
	const struct imap_cmd_args *args;
	const char *tag;
};

enum cmd_ret { CMD_DONE, CMD_ASYNC };

/* Runs one parsed command: looks it up, checks the state, calls it. */
enum cmd_ret imap_command_run(struct imap_client *ic, const struct imap_cmd_args *args);

/* "* CAPABILITY …" contents for the client's current state and transport. */
void imap_capabilities(const struct imap_client *ic, struct buf *out);

/* Tagged replies; text is a printf format. Each returns CMD_DONE. */
enum cmd_ret imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...) PRINTF_FMT(2, 3);
enum cmd_ret imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...) PRINTF_FMT(2, 3);
enum cmd_ret imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...) PRINTF_FMT(2, 3);

/* Counts an erroneous command; true when the client must be disconnected. */
bool imap_client_count_bad(struct imap_client *ic);

/* imap-auth.c: LOGIN and AUTHENTICATE, verified on the worker pool. */
enum cmd_ret imap_cmd_login(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_authenticate(struct imap_cmd *cmd);
/* One continuation line of AUTHENTICATE (without CRLF). */
void imap_auth_continue(struct imap_client *ic, struct slice line);
/* Tear down any exchange or pending reply (connection closing). */
void imap_auth_cleanup(struct imap_client *ic);
/* Plaintext passwords are acceptable on this connection. */
bool imap_plaintext_auth_allowed(const struct imap_client *ic);

#endif
