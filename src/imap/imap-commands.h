#ifndef SORA_IMAP_COMMANDS_H
#define SORA_IMAP_COMMANDS_H

/* The command table and the session state the handlers share. Private to
   src/imap. */

#include <stdbool.h>

#include <stdint.h>

#include "../auth/auth-login.h"
#include "../auth/auth.h"
#include "../auth/sasl.h"
#include "../lib/arena.h"
#include "../net/conn.h"
#include "../net/loop.h"
#include "imap-client.h"
#include "imap-notify.h"
#include "imap-searchlimit.h"
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
	IMAP_CMD_STORE = 1 << 4,   /* needs the mail store (NO without one) */
};

struct mail_services;
struct store_error;
struct store_uid_range;

struct imap_server {
	const struct config_server *cfg;
	const struct mail_services *ms; /* NULL: no mail store (commands answer NO) */
	bool starttls;
	const char *hostname;
	struct auth *auth;           /* NULL: no account store configured */
	struct worker_pool *workers;
	struct imap_notify *notify;  /* push of store changes; NULL without a store */
	struct search_limiter *search_limit; /* limits.search_rate_limit_per_min */
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

	/* the login in flight (auth/auth-login.h): a failed one waits out
	   the rate limiter's delay before its NO */
	struct auth_login login;
	char auth_tag[72];
	bool auth_busy; /* a verification or its delay is pending: no input */

	int64_t account_id;
	bool rev2_enabled;  /* ENABLE IMAP4rev2 (RFC 9051 §6.3.1) */
	bool condstore_enabled; /* RFC 7162 §3.1: MODSEQ in every FETCH with FLAGS */
	bool qresync_enabled;   /* RFC 7162 §3.2: VANISHED instead of EXPUNGE */
	bool utf8_enabled;      /* RFC 6855 ENABLE UTF8=ACCEPT */

	/* The selected mailbox. uids (malloc) maps sequence number n to
	   uids[n - 1]; it changes only on the loop, in job completions. */
	int64_t mailbox_id;
	char *mailbox_name; /* malloc */
	bool readonly;
	uint32_t uidvalidity;
	uint64_t highest_modseq;
	uint32_t *uids;
	size_t uid_count;

	/* IDLE (RFC 2177): the client's lines are "DONE", not commands */
	bool idling;
	char idle_tag[72];
	struct timer idle_timer;

	/* Push (imap-notify.h, cmd-select.c): the selected mailbox changed
	   since the last sync; a sync job runs at once while idling, else
	   with the next command. Expunges found while answering FETCH, STORE
	   or SEARCH wait in deferred_expunges (malloc) for a later command. */
	struct imap_notify_entry watch;
	bool sync_pending;
	bool sync_busy;
	uint32_t *deferred_expunges;
	size_t deferred_count;

	/* SEARCHRES (RFC 5182): UIDs saved by SEARCH/SORT RETURN (SAVE),
	   ascending, malloc; "$" in a sequence set. Emptied on unselect. */
	uint32_t *searchres;
	size_t searchres_count;
};

struct imap_cmd {
	struct imap_client *client;
	const struct imap_cmd_args *args;
	const char *tag;
	bool is_uid; /* UID FETCH, UID STORE, ... (args start after the sub-command) */
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

/* ---- worker jobs for the mail store --------------------------------

   A job carries copies of its inputs (in its own arena), runs on the worker
   pool, and writes its untagged responses into out and its tagged line into
   tagged. The completion, on the loop, sends out, calls done (which may
   change the session and send more, e.g. EXPUNGE), then sends tagged (or a
   generic NO when the job failed, logged once), frees the command arena and
   resumes input. */
struct imap_job;
typedef void imap_job_fn(struct imap_job *job);
typedef void imap_job_done_fn(struct imap_client *ic, struct imap_job *job);

struct imap_job {
	struct conn *conn;
	const struct mail_services *ms;
	struct arena *arena;
	char tag[72];
	int64_t account_id;
	int64_t mailbox_id;   /* selected mailbox, 0 when none */
	bool readonly;
	bool rev2;
	bool condstore;
	bool qresync;
	bool utf8;            /* mailbox names in UTF-8 (IMAP4rev2 or UTF8=ACCEPT) */
	/* changes of other sessions collected before run() and announced
	   before out (imap_job_new decides; cmd-select.c) */
	bool presync;
	bool presync_expunge; /* may report expunges (not FETCH/STORE/SEARCH) */
	struct imap_sync *presync_result;
	uint32_t *uids;       /* copy of the session's UID map (malloc), with_uids only */
	size_t uid_count;
	uint64_t quota_storage, quota_messages; /* RFC 9208 limits, 0 = none */
	struct buf out;
	struct buf tagged;
	imap_job_fn *run;
	imap_job_done_fn *done;
	void *ctx;            /* the command's own state, in arena */
	void *owned;          /* malloc'ed result, freed with the job (done may take it) */
	uint64_t since_modseq;/* the session's HIGHESTMODSEQ when the job was made */
	bool failed;
	bool no_reply;        /* no command waits (IDLE push sync): failures only logged */
	char error[300];
};

struct imap_job *imap_job_new(struct imap_cmd *cmd, imap_job_fn *run, imap_job_done_fn *done,
			      bool with_uids);
enum cmd_ret imap_job_submit(struct imap_job *job);
/* Frees a job that was not submitted (argument errors found late). */
void imap_job_discard(struct imap_job **job);
void imap_job_tagged(struct imap_job *job, const char *status, const char *fmt, ...)
	PRINTF_FMT(3, 4);
/* The world is wrong: logged by the completion, answered NO [UNAVAILABLE]. */
void imap_job_fail(struct imap_job *job, const char *op, const struct store_error *err);
/* 1-based sequence number of uid in job->uids (or ic's), 0 when absent. */
uint32_t imap_uid_seq(const uint32_t *uids, size_t count, uint32_t uid);

/* astring argument (atom, quoted, literal), copied into a. NULL if absent. */
const char *imap_arg_astring_dup(const struct imap_arg *a, struct arena *arena);
/* A mailbox name argument in the store's UTF-8: decoded from modified
   UTF-7 (RFC 3501 §5.1.3) unless the client enabled IMAP4rev2. NULL when
   absent or not valid modified UTF-7. (cmd-mailbox.c) */
const char *imap_arg_mailbox_dup(const struct imap_client *ic, const struct imap_arg *a,
				 struct arena *arena);
/* Appends a mailbox name: UTF-8 when utf8, else modified UTF-7. */
void imap_append_mailbox(struct buf *out, const char *name, bool utf8);
/* Appends s as an IMAP string: quoted when safe, else a literal. */
void imap_append_string(struct buf *out, const char *s);
/* A sequence set (or UID set with is_uid) into UID ranges of the selected
   mailbox, from a. 0, or -1 for bad syntax. An empty result is valid. */
int imap_seqset_parse(const struct imap_client *ic, struct slice set, bool is_uid,
		      struct arena *a, struct store_uid_range **ranges_r, size_t *count_r);
/* "1:3,7" of ascending uids. */
void imap_append_uidset(struct buf *out, const uint32_t *uids, size_t count);
/* Flags as in FETCH: "(\Seen kw)". */
void imap_append_flags(struct buf *out, uint32_t flags, const char *keywords);
/* What changed in the selected mailbox (job->mailbox_id) since
   job->since_modseq: worker side, NULL with *err set on failure; the
   result lives in the job's arena. Applying it on the loop sends EXPUNGE,
   EXISTS and FETCH FLAGS responses and updates the session's UID map. */
struct imap_sync;
struct imap_sync *imap_sync_collect(struct imap_job *job, struct store_error *err);
void imap_sync_apply(struct imap_client *ic, const struct imap_sync *sync);
/* Like imap_sync_apply; without allow_expunge (RFC 9051 §7.5.1: during
   FETCH, STORE, SEARCH) expunges are kept for a later command. */
void imap_sync_apply_ex(struct imap_client *ic, const struct imap_sync *sync,
			bool allow_expunge);
/* imap_job_new: should this command sync first? Sets job->presync*. */
void imap_sync_prepare(struct imap_client *ic, struct imap_cmd *cmd, struct imap_job *job);
/* Removes uids (ascending) from the map and reports them: EXPUNGE, or
   VANISHED once QRESYNC is enabled. */
void imap_expunge_report(struct imap_client *ic, const uint32_t *uids, size_t count);
/* A change this session made itself raised HIGHESTMODSEQ to modseq: no
   need to report it back when nothing else happened in between. */
void imap_own_change(struct imap_client *ic, uint64_t modseq);

/* IDLE (cmd-select.c). One raw line while idling; false when more bytes
   are needed. */
enum cmd_ret imap_cmd_idle(struct imap_cmd *cmd);
bool imap_idle_input(struct imap_client *ic);
void imap_idle_stop(struct imap_client *ic);

/* Drops the selection (state AUTH). */
void imap_unselect(struct imap_client *ic);
/* Removes uid from the session map and sends "* n EXPUNGE". */
void imap_expunged(struct imap_client *ic, uint32_t uid);

/* System flags and keywords of a STORE/APPEND flag list (\Recent is
   ignored). -1 for an unknown system flag or a bad keyword. */
int imap_flags_parse(const struct imap_arg *args, size_t count, struct arena *a,
		     uint32_t *flags_r, const char ***keywords_r, size_t *keyword_count_r);

/* command handlers, cmd-*.c */
enum cmd_ret imap_cmd_enable(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_create(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_delete(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_rename(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_subscribe(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_unsubscribe(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_list(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_lsub(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_namespace(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_status(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_select(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_examine(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_close(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_unselect(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_sync(struct imap_cmd *cmd); /* NOOP / CHECK when selected */
enum cmd_ret imap_cmd_expunge(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_fetch(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_store(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_copy(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_move(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_append(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_search(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_sort(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_thread(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_esearch(struct imap_cmd *cmd); /* RFC 7377 MULTISEARCH */
void imap_searchres_clear(struct imap_client *ic);
/* "$" (RFC 5182): the saved UIDs as ranges in a. */
void imap_searchres_ranges(const struct imap_client *ic, struct arena *a,
			   struct store_uid_range **ranges_r, size_t *count_r);
/* cmd-quota.c: RFC 9208 */
enum cmd_ret imap_cmd_getquota(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_getquotaroot(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_setquota(struct imap_cmd *cmd);
struct store_account;
/* Would add_bytes / add_messages more take the account past its limits? */
bool imap_quota_exceeded(const struct imap_job *job, const struct store_account *acc,
			 uint64_t add_bytes, uint64_t add_messages);
/* COPY of a UID set of the selected mailbox: 1 over quota, 0 fits, -1 with
   *err on a store failure. Worker side. */
int imap_quota_check_copy(struct imap_job *job, const struct store_uid_range *set,
			  size_t set_count, struct store_error *err);
/* STATUS DELETED-STORAGE (RFC 9208 §4.2): KiB that EXPUNGE would free in
   the mailbox. -1 after imap_job_fail(). Worker side. */
int imap_quota_deleted_storage(struct imap_job *job, int64_t mailbox_id, uint64_t *kib_r);
/* imap-compress.c: RFC 4978 */
enum cmd_ret imap_cmd_compress(struct imap_cmd *cmd);

/* imap-auth.c: LOGIN and AUTHENTICATE, verified on the worker pool. */
enum cmd_ret imap_cmd_login(struct imap_cmd *cmd);
enum cmd_ret imap_cmd_authenticate(struct imap_cmd *cmd);
/* One continuation line of AUTHENTICATE (without CRLF). */
void imap_auth_continue(struct imap_client *ic, struct slice line);
/* Tear down any exchange or pending reply (connection closing). */
void imap_auth_cleanup(struct imap_client *ic);
/* At session start: the login glue's state. */
void imap_auth_init(struct imap_client *ic);
/* Plaintext passwords are acceptable on this connection. */
bool imap_plaintext_auth_allowed(const struct imap_client *ic);

#endif
