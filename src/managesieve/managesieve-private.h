#ifndef SORA_MANAGESIEVE_PRIVATE_H
#define SORA_MANAGESIEVE_PRIVATE_H

/* The session state the ManageSieve files share. Private.

   Threads: a session lives on its connection's loop. Jobs (logins, script
   operations) carry copies, never the session; their completions find it
   through conn_session() and drop their results when it is gone. Input is
   paused while a job runs, so pipelined commands wait, in order. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../auth/auth-login.h"
#include "../auth/sasl.h"
#include "../deliver/deliver.h"
#include "../lib/arena.h"
#include "../lib/str.h"
#include "managesieve-parser.h"
#include "managesieve.h"

/* Sora closes the connection at the 10th client error. */
#define MSIEVE_MAX_ERRORS 10
/* A literal over the script size limit is read and dropped up to this
   size (the client sends it without waiting); a larger one closes. */
#define MSIEVE_SKIP_MAX (1024 * 1024)

struct msieve_server {
	const struct config_server *cfg;
	bool starttls;
	struct auth *auth;
	struct mail_services ms;
	struct msieve_settings set;
	char *sieve_caps; /* the "SIEVE" capability value (malloc) */
};

struct msieve_client {
	struct conn *conn;
	struct msieve_server *srv;
	bool authenticated;
	unsigned errors;
	bool busy;             /* a job or a login is in flight: input paused */
	bool shutdown_pending; /* server stopping: say goodbye when not busy */
	bool caps_after_tls;   /* send the capabilities once STARTTLS is done */
	size_t need;           /* parse again once this many bytes are in */
	uint64_t skip_bytes;   /* an oversized literal being dropped */
	bool skip_line;        /* then drop through the end of its line */
	struct arena *cmd_arena;

	/* AUTHENTICATE in progress: the next line is a SASL response */
	struct arena *sasl_arena;
	struct sasl_exchange *sasl;
	struct auth_login login;

	int64_t account_id;
};

/* managesieve-client.c */
/* A string argument as RFC 5804 §4 wants it: quoted when short and
   plain, else a literal-s2c. */
void msieve_put_string(struct buf *b, const char *s, size_t len);
/* "OK"/"NO"/"BYE" [SP "(" code ")"] [SP string] CRLF */
void msieve_put_response(struct buf *b, const char *status, const char *code, const char *text);
void msieve_send_response(struct msieve_client *mc, const char *status, const char *code,
			  const char *text);
/* NO for a client error, counted; at the limit BYE and close. */
void msieve_client_error(struct msieve_client *mc, const char *code, const char *text);
void msieve_busy(struct msieve_client *mc);
void msieve_resume(struct msieve_client *mc);

/* managesieve-commands.c: the authenticated commands (script jobs) */
void msieve_cmd_listscripts(struct msieve_client *mc, struct msieve_cmd *cmd);
void msieve_cmd_getscript(struct msieve_client *mc, struct msieve_cmd *cmd);
void msieve_cmd_putscript(struct msieve_client *mc, struct msieve_cmd *cmd);
void msieve_cmd_checkscript(struct msieve_client *mc, struct msieve_cmd *cmd);
void msieve_cmd_havespace(struct msieve_client *mc, struct msieve_cmd *cmd);
void msieve_cmd_renamescript(struct msieve_client *mc, struct msieve_cmd *cmd);
void msieve_cmd_setactive(struct msieve_client *mc, struct msieve_cmd *cmd);
void msieve_cmd_deletescript(struct msieve_client *mc, struct msieve_cmd *cmd);

#endif
