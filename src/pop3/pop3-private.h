#ifndef SORA_POP3_PRIVATE_H
#define SORA_POP3_PRIVATE_H

/* The session state the POP3 files share. Private to src/pop3.

   Threads: a session lives on its connection's loop. Jobs (login +
   maildrop snapshot, message bodies, the QUIT expunge) carry copies of
   what they need, never the session; their completions find the session
   through conn_session() and drop their results when it is gone.

   Input is paused (busy) while a job runs, while a failed login waits out
   the rate limiter's delay, and while a listing or a body is being sent:
   pipelined commands then wait in the connection's buffer, in order. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../auth/auth-login.h"
#include "../auth/auth.h"
#include "../auth/sasl.h"
#include "../deliver/deliver.h"
#include "../lib/arena.h"
#include "../lib/str.h"
#include "../net/conn.h"
#include "../net/loop.h"
#include "../store/store.h"
#include "pop3-client.h"

/* RFC 2449 §4: commands and arguments are short; a SASL response may be
   longer (PLAIN with 255-octet fields is ~1 KB of base64). */
#define POP3_SASL_LINE_MAX 4096
/* Bytes produced per step of a listing or a body, before waiting for the
   client to read them. */
#define POP3_CHUNK (64 * 1024)
/* Sora closes on the 4th client error (bad syntax, unknown command,
   wrong state, failed login). After login a client that only sends
   garbage is let go later: real clients there are busy downloading. */
#define POP3_MAX_ERRORS_AUTHZ 4
#define POP3_MAX_ERRORS_TRANS 20

struct pop3_server {
	const struct config_server *cfg;
	bool starttls;
	const char *hostname;
	struct auth *auth;
	struct mail_services ms;
};

enum pop3_state {
	POP3_ST_AUTHORIZATION,
	POP3_ST_TRANSACTION,
	POP3_ST_UPDATE, /* QUIT's expunge is running */
};

/* One message of the snapshot. Sequence number n is msgs[n - 1]. */
struct pop3_msg {
	uint64_t size;
	uint32_t uid;
	bool deleted;
};

enum pop3_stream_kind {
	POP3_STREAM_NONE,
	POP3_STREAM_LIST,
	POP3_STREAM_UIDL,
	POP3_STREAM_BODY,
};

/* A multi-line answer being produced as the client reads it. */
struct pop3_stream {
	enum pop3_stream_kind kind;
	size_t next;       /* LIST/UIDL: index of the next message */
	struct buf body;   /* BODY: the message as stored (the one copy) */
	size_t pos;        /* BODY: next byte to send */
	size_t line_len;   /* BODY: bytes of the current line already sent */
	bool bol;          /* BODY: pos is at the start of a line */
	bool in_body;      /* BODY: past the blank line ending the header */
	bool top;          /* TOP: stop after lines_left body lines */
	uint32_t lines_left;
};

struct pop3_client {
	struct conn *conn;
	const struct pop3_server *srv;
	enum pop3_state state;
	unsigned errors;
	bool skipping_long_line;
	bool busy;              /* input paused for a job, a delay or a stream */
	bool shutdown_pending;  /* server stopping: say goodbye when not busy */
	bool utf8;              /* RFC 6856 UTF8 issued */
	char *user;             /* USER argument (malloc), NULL when none */
	bool xclient_done;
	char client_ip[64];     /* from XCLIENT; "" = the connection's peer */

	/* AUTH in progress: the next line is a SASL response */
	struct arena *sasl_arena;
	struct sasl_exchange *sasl;

	/* the login in flight (auth/auth-login.h): a failed one waits out
	   the rate limiter's delay before its -ERR */
	struct auth_login login;

	/* the maildrop, fixed at login */
	int64_t account_id;
	int64_t mailbox_id;
	char *primary_address;  /* blob keys are built from it (malloc) */
	struct pop3_msg *msgs;  /* malloc */
	size_t msg_count;
	size_t live_count;      /* not marked deleted */
	uint64_t live_size;

	struct pop3_stream stream;

	/* counters for the logout line */
	unsigned retrieved, deleted;
};

/* One parsed command line. args are slices into the line. */
#define POP3_MAX_ARGS 8
struct pop3_cmd {
	struct slice verb;
	struct slice raw_arg; /* everything after the verb and one blank */
	struct slice args[POP3_MAX_ARGS];
	size_t arg_count;
	bool too_many_args;
};

enum pop3_ret {
	POP3_DONE,  /* answered: read the next command */
	POP3_ASYNC, /* a job, delay or stream answers; input is paused */
};

/* pop3-client.c */
/* Pure: splits a command line (without CRLF) into verb and arguments;
   the slices point into line. */
void pop3_parse_line(struct slice line, struct pop3_cmd *cmd);
void pop3_ok(struct pop3_client *pc, const char *text);
void pop3_err(struct pop3_client *pc, const char *text);
/* A client error: -ERR text, counted; at the limit the connection closes.
   Always returns POP3_DONE. */
enum pop3_ret pop3_client_error(struct pop3_client *pc, const char *text);
/* Pause input until pop3_resume(). */
void pop3_busy(struct pop3_client *pc);
/* The asynchronous part of a command is over: read the next command (or
   say goodbye when the server is stopping). */
void pop3_resume(struct pop3_client *pc);
bool pop3_plaintext_auth_allowed(const struct pop3_client *pc);
void pop3_set_idle_timeout(struct pop3_client *pc);

/* pop3-auth.c */
enum pop3_ret pop3_cmd_user(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_pass(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_auth(struct pop3_client *pc, struct pop3_cmd *cmd);
/* One SASL response line (without CRLF) while pc->sasl is set. */
void pop3_auth_continue(struct pop3_client *pc, struct slice line);
void pop3_auth_cleanup(struct pop3_client *pc);
/* At session start: the login glue's state. */
void pop3_auth_init(struct pop3_client *pc);

/* pop3-commands.c */
enum pop3_ret pop3_cmd_capa(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_stls(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_utf8(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_lang(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_stat(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_list(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_uidl(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_dele(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_rset(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_noop(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_quit(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_last(struct pop3_client *pc, struct pop3_cmd *cmd);
/* Message number argument i: the index into msgs, or -1 after the error
   reply (syntax, no such message, marked deleted). */
ssize_t pop3_msg_arg(struct pop3_client *pc, struct pop3_cmd *cmd, size_t i);

/* pop3-xclient.c */
enum pop3_ret pop3_cmd_xclient(struct pop3_client *pc, struct pop3_cmd *cmd);
#define POP3_XCLIENT_SESSION_MAX 64
struct pop3_xclient_params {
	char addr[64];
	uint32_t port;
	char session[POP3_XCLIENT_SESSION_MAX + 1];
	bool has_ttl;
	uint32_t ttl;
};
/* Pure: the attributes of an XCLIENT command; 0, or -1 when malformed. */
int pop3_xclient_parse(const struct pop3_cmd *cmd, struct pop3_xclient_params *p);

/* pop3-retr.c */
enum pop3_ret pop3_cmd_retr(struct pop3_client *pc, struct pop3_cmd *cmd);
enum pop3_ret pop3_cmd_top(struct pop3_client *pc, struct pop3_cmd *cmd);
/* Sends the next part of the current stream; true when it is complete. */
bool pop3_stream_step(struct pop3_client *pc);
/* Starts a listing or body stream: POP3_DONE when it was all sent at
   once, else POP3_ASYNC (CONN_EV_DRAINED continues it). */
enum pop3_ret pop3_stream_start(struct pop3_client *pc);
/* CONN_EV_DRAINED. */
void pop3_stream_resume(struct pop3_client *pc);
void pop3_stream_free(struct pop3_stream *s);
/* Pure: appends the next dot-stuffed piece of s->body (about POP3_CHUNK
   bytes) to out; true once the terminating ".\r\n" is in out. Bare LFs
   become CRLF, a missing final line end is added, everything else is
   sent as stored. */
bool pop3_body_fill(struct pop3_stream *s, struct buf *out);

#endif
