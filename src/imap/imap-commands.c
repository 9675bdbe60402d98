#include "imap-commands.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/str.h"
#include "../lib/util.h"
#include "../net/worker.h"
#include "../store/store.h"

/* RFC 2971 §3.3 limits for the client's ID list */
#define ID_MAX_PAIRS 30
#define ID_MAX_FIELD 30
#define ID_MAX_VALUE 1024

typedef enum cmd_ret imap_cmd_fn(struct imap_cmd *cmd);

struct imap_command {
	const char *name;
	imap_cmd_fn *fn; /* NULL: known, valid after login, not served here */
	unsigned flags;
};

static enum cmd_ret imap_cmd_reply(struct imap_cmd *cmd, const char *status, const char *fmt,
				   va_list ap) PRINTF_FMT(3, 0);
static enum cmd_ret imap_cmd_reply(struct imap_cmd *cmd, const char *status, const char *fmt,
				   va_list ap)
{
	char text[512];

	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	(void)conn_sendf(cmd->client->conn, "%s %s %s\r\n", cmd->tag, status, text);
	return CMD_DONE;
}

enum cmd_ret imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_cmd_reply(cmd, "OK", fmt, ap);
	va_end(ap);
	return CMD_DONE;
}

enum cmd_ret imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_cmd_reply(cmd, "NO", fmt, ap);
	va_end(ap);
	return CMD_DONE;
}

enum cmd_ret imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_cmd_reply(cmd, "BAD", fmt, ap);
	va_end(ap);
	(void)imap_client_count_bad(cmd->client);
	return CMD_DONE;
}

bool imap_plaintext_auth_allowed(const struct imap_client *ic)
{
	return conn_is_secure(ic->conn) || ic->srv->cfg->insecure_auth;
}

void imap_capabilities(const struct imap_client *ic, struct buf *out)
{
	(void)buf_append_str(out, "IMAP4rev2 IMAP4rev1 LITERAL+ LITERAL- ID");
	if (ic->state != IMAP_ST_NOT_AUTH && ic->srv->ms != NULL) {
		(void)buf_append_str(out, " ENABLE UNSELECT UIDPLUS MOVE NAMESPACE "
					  "SPECIAL-USE CREATE-SPECIAL-USE CHILDREN STATUS=SIZE "
					  "CONDSTORE ESEARCH SASL-IR "
					  "LIST-EXTENDED LIST-STATUS IDLE UNAUTHENTICATE SORT "
					  "SORT=DISPLAY THREAD=ORDEREDSUBJECT");
		(void)buf_append_str(out, " THREAD=REFERENCES THREAD=REFS ESORT SEARCHRES "
					  "MULTISEARCH WITHIN QUOTA QUOTA=RES-STORAGE "
					  "QUOTA=RES-MESSAGE PREVIEW");
		(void)buf_append_str(out, " QRESYNC UTF8=ACCEPT BINARY MULTIAPPEND SAVEDATE OBJECTID");
		if (!conn_is_compressed(ic->conn))
			(void)buf_append_str(out, " COMPRESS=DEFLATE");
		(void)buf_printf(out, " APPENDLIMIT=%llu",
				 (unsigned long long)ic->srv->cfg->append_limit);
	}
	if (ic->state == IMAP_ST_NOT_AUTH) {
		if (conn_can_starttls(ic->conn) && ic->srv->starttls)
			(void)buf_append_str(out, " STARTTLS");
		/* RFC 9051 §6.2.3: no LOGIN where passwords would cross in clear */
		if (!imap_plaintext_auth_allowed(ic))
			(void)buf_append_str(out, " LOGINDISABLED");
		else if (ic->srv->auth != NULL)
			(void)buf_append_str(out, " AUTH=PLAIN AUTH=LOGIN SASL-IR");
	}
}

static enum cmd_ret cmd_capability(struct imap_cmd *cmd)
{
	struct buf caps;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "CAPABILITY takes no arguments");
	buf_init(&caps, 0);
	imap_capabilities(cmd->client, &caps);
	(void)conn_sendf(cmd->client->conn, "* CAPABILITY %s\r\n", caps.data);
	buf_free(&caps);
	return imap_cmd_ok(cmd, "CAPABILITY completed");
}

static enum cmd_ret cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "NOOP takes no arguments");
	if (cmd->client->state == IMAP_ST_SELECTED)
		return imap_cmd_sync(cmd);
	return imap_cmd_ok(cmd, "NOOP completed");
}

static enum cmd_ret cmd_check(struct imap_cmd *cmd)
{
	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "CHECK takes no arguments");
	return imap_cmd_sync(cmd);
}

static enum cmd_ret cmd_logout(struct imap_cmd *cmd)
{
	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "LOGOUT takes no arguments");
	cmd->client->state = IMAP_ST_LOGOUT;
	(void)conn_send_str(cmd->client->conn, "* BYE Logging out\r\n");
	imap_cmd_ok(cmd, "LOGOUT completed");
	conn_close(cmd->client->conn, "logout");
	return CMD_DONE;
}

static bool id_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL;
}

/* RFC 2971: ID ( "field" "value" … ) or ID NIL */
static enum cmd_ret cmd_id(struct imap_cmd *cmd)
{
	const struct imap_arg *arg = cmd->args->count == 1 ? &cmd->args->args[0] : NULL;
	struct buf fields;

	if (arg == NULL || (arg->type != IMAP_ARG_NIL && arg->type != IMAP_ARG_LIST))
		return imap_cmd_bad(cmd, "ID expects a parenthesised list or NIL");
	buf_init(&fields, 2048);
	if (arg->type == IMAP_ARG_LIST) {
		if (arg->list_count % 2 != 0 || arg->list_count / 2 > ID_MAX_PAIRS) {
			buf_free(&fields);
			return imap_cmd_bad(cmd, "ID list must hold at most 30 field/value pairs");
		}
		for (size_t i = 0; i < arg->list_count; i += 2) {
			const struct imap_arg *f = &arg->list[i], *v = &arg->list[i + 1];

			if (!id_string(f) || f->str.len > ID_MAX_FIELD ||
			    (!id_string(v) && v->type != IMAP_ARG_NIL) ||
			    v->str.len > ID_MAX_VALUE) {
				buf_free(&fields);
				return imap_cmd_bad(cmd, "Invalid ID field or value");
			}
			(void)buf_printf(&fields, "%s%s=%s", i == 0 ? "" : " ",
					 log_strn(f->str.ptr, f->str.len),
					 v->type == IMAP_ARG_NIL ? "NIL"
								  : log_strn(v->str.ptr, v->str.len));
		}
	}
	if (fields.len > 0)
		log_info(conn_log(cmd->client->conn), "imap.id", "%s", fields.data);
	buf_free(&fields);
	(void)conn_send_str(cmd->client->conn, "* ID (\"name\" \"Sora\" \"vendor\" \"Sora in C\" "
					       "\"version\" \"" SORA_VERSION "\")\r\n");
	return imap_cmd_ok(cmd, "ID completed");
}

static enum cmd_ret cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "STARTTLS takes no arguments");
	if (conn_is_tls(ic->conn))
		return imap_cmd_bad(cmd, "TLS is already active");
	if (!ic->srv->starttls || !conn_can_starttls(ic->conn))
		return imap_cmd_bad(cmd, "STARTTLS is not available on this port");
	imap_cmd_ok(cmd, "Begin TLS negotiation now");
	/* RFC 9051 §6.2.1: everything after the command is discarded; the
	   client asks for CAPABILITY again over TLS */
	(void)conn_starttls(ic->conn);
	return CMD_DONE;
}

/* RFC 8437: back to the not-authenticated state, as after the greeting. */
static enum cmd_ret cmd_unauthenticate(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	struct conn *c = ic->conn;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "UNAUTHENTICATE takes no arguments");
	imap_unselect(ic);
	ic->state = IMAP_ST_NOT_AUTH;
	ic->account_id = 0;
	ic->rev2_enabled = false;
	ic->condstore_enabled = false;
	ic->qresync_enabled = false;
	ic->utf8_enabled = false;
	ic->highest_modseq = 0;
	log_info(conn_log(c), "logout", "reason=unauthenticate");
	conn_log(c)->user[0] = '\0';
	conn_set_idle_timeout(c, ic->srv->cfg->auth_idle_timeout_ms);
	/* the parser has post-login limits: the next command gets pre-login ones */
	if (ic->parser != NULL && imap_parser_is_idle(ic->parser))
		imap_parser_free(&ic->parser);
	return imap_cmd_ok(cmd, "UNAUTHENTICATE completed");
}

/* RFC 9051 §6.4.9: UID FETCH, UID STORE, UID COPY, UID MOVE, UID SEARCH,
   UID EXPUNGE (RFC 4315). The sub-command's arguments follow it. */
static enum cmd_ret cmd_uid(struct imap_cmd *cmd)
{
	static const struct {
		const char *name;
		imap_cmd_fn *fn;
	} subs[] = {
		{ "FETCH", imap_cmd_fetch }, { "STORE", imap_cmd_store },
		{ "COPY", imap_cmd_copy },   { "MOVE", imap_cmd_move },
		{ "SEARCH", imap_cmd_search }, { "EXPUNGE", imap_cmd_expunge },
		{ "SORT", imap_cmd_sort },   { "THREAD", imap_cmd_thread },
	};
	const struct imap_cmd_args *args = cmd->args;
	struct imap_cmd_args *sub;

	if (args->count < 1 || args->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "UID expects a command");
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		if (!slice_eq_ci(args->args[0].str, subs[i].name))
			continue;
		sub = arena_alloc(cmd->client->cmd_arena, sizeof(*sub));
		*sub = *args;
		sub->name = args->args[0].str;
		sub->args = args->count > 1 ? args->args + 1 : NULL;
		sub->count = args->count - 1;
		cmd->args = sub;
		cmd->is_uid = true;
		return subs[i].fn(cmd);
	}
	return imap_cmd_bad(cmd, "Unknown UID command");
}

static const struct imap_command imap_commands[] = {
	{ "CAPABILITY", cmd_capability, IMAP_CMD_ANY },
	{ "NOOP", cmd_noop, IMAP_CMD_ANY },
	{ "LOGOUT", cmd_logout, IMAP_CMD_ANY },
	{ "ID", cmd_id, IMAP_CMD_ANY },
	{ "STARTTLS", cmd_starttls, IMAP_CMD_NOAUTH },
	{ "LOGIN", imap_cmd_login, IMAP_CMD_NOAUTH | IMAP_CMD_SECRET_ARGS },
	{ "AUTHENTICATE", imap_cmd_authenticate, IMAP_CMD_NOAUTH | IMAP_CMD_SECRET_ARGS },
	/* RFC 9051 and extension commands valid only after login */
	{ "ENABLE", imap_cmd_enable, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "SELECT", imap_cmd_select, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "EXAMINE", imap_cmd_examine, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "CREATE", imap_cmd_create, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "DELETE", imap_cmd_delete, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "RENAME", imap_cmd_rename, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "SUBSCRIBE", imap_cmd_subscribe, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "UNSUBSCRIBE", imap_cmd_unsubscribe, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "LIST", imap_cmd_list, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "LSUB", imap_cmd_lsub, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "NAMESPACE", imap_cmd_namespace, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "STATUS", imap_cmd_status, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "APPEND", imap_cmd_append, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "IDLE", imap_cmd_idle, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "GETQUOTA", imap_cmd_getquota, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "GETQUOTAROOT", imap_cmd_getquotaroot, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "SETQUOTA", imap_cmd_setquota, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "ESEARCH", imap_cmd_esearch, IMAP_CMD_AUTH | IMAP_CMD_STORE },
	{ "UNAUTHENTICATE", cmd_unauthenticate, IMAP_CMD_AUTH },
	{ "COMPRESS", imap_cmd_compress, IMAP_CMD_AUTH },
	{ "CHECK", cmd_check, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "CLOSE", imap_cmd_close, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "UNSELECT", imap_cmd_unselect, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "EXPUNGE", imap_cmd_expunge, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "SEARCH", imap_cmd_search, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "FETCH", imap_cmd_fetch, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "STORE", imap_cmd_store, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "COPY", imap_cmd_copy, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "MOVE", imap_cmd_move, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "UID", cmd_uid, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "SORT", imap_cmd_sort, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
	{ "THREAD", imap_cmd_thread, IMAP_CMD_SELECTED | IMAP_CMD_STORE },
};

static const struct imap_command *imap_command_find(struct slice name)
{
	for (size_t i = 0; i < ARRAY_SIZE(imap_commands); i++) {
		if (slice_eq_ci(name, imap_commands[i].name))
			return &imap_commands[i];
	}
	return NULL;
}

static bool state_allows(const struct imap_client *ic, unsigned flags)
{
	if ((flags & IMAP_CMD_NOAUTH) != 0)
		return ic->state == IMAP_ST_NOT_AUTH;
	if ((flags & IMAP_CMD_SELECTED) != 0)
		return ic->state == IMAP_ST_SELECTED;
	if ((flags & IMAP_CMD_AUTH) != 0)
		return ic->state == IMAP_ST_AUTH || ic->state == IMAP_ST_SELECTED;
	return true;
}

enum cmd_ret imap_command_run(struct imap_client *ic, const struct imap_cmd_args *args)
{
	const struct imap_command *def = imap_command_find(args->name);
	struct imap_cmd cmd = { .client = ic, .args = args, .tag = args->tag.ptr };

	if (def == NULL)
		return imap_cmd_bad(&cmd, "Unknown command %s",
				    log_strn(args->name.ptr, MIN(args->name.len, 32)));
	log_debug(conn_log(ic->conn), "imap.command", "tag=%s command=%s%s",
		  log_strn(args->tag.ptr, args->tag.len), def->name,
		  (def->flags & IMAP_CMD_SECRET_ARGS) != 0 ? " args=<redacted>" : "");
	if (!state_allows(ic, def->flags)) {
		if (ic->state == IMAP_ST_NOT_AUTH)
			return imap_cmd_bad(&cmd, "Command %s is not valid before login",
					    def->name);
		return imap_cmd_bad(&cmd, "Command %s is not valid in this state", def->name);
	}
	if (def->fn == NULL || ((def->flags & IMAP_CMD_STORE) != 0 && ic->srv->ms == NULL))
		return imap_cmd_no(&cmd, "[UNAVAILABLE] %s is not implemented in this build",
				   def->name);
	ic->bad_commands = 0;
	return def->fn(&cmd);
}

/* ---- worker jobs ------------------------------------------------------ */

struct imap_job *imap_job_new(struct imap_cmd *cmd, imap_job_fn *run, imap_job_done_fn *done,
			      bool with_uids)
{
	struct imap_client *ic = cmd->client;
	struct imap_job *job = xcalloc(1, sizeof(*job));

	job->conn = ic->conn;
	job->ms = ic->srv->ms;
	job->arena = arena_new(8192);
	snprintf(job->tag, sizeof(job->tag), "%s", cmd->tag);
	job->account_id = ic->account_id;
	job->mailbox_id = ic->state == IMAP_ST_SELECTED ? ic->mailbox_id : 0;
	job->readonly = ic->readonly;
	job->rev2 = ic->rev2_enabled;
	job->condstore = ic->condstore_enabled;
	job->qresync = ic->qresync_enabled;
	job->utf8 = ic->rev2_enabled || ic->utf8_enabled;
	job->since_modseq = ic->highest_modseq;
	job->quota_storage = ic->srv->cfg->quota_storage;
	job->quota_messages = ic->srv->cfg->quota_messages;
	job->run = run;
	job->done = done;
	buf_init(&job->out, 0);
	buf_init(&job->tagged, 0);
	if (with_uids && ic->uid_count > 0) {
		job->uids = xmalloc(ic->uid_count * sizeof(*job->uids));
		memcpy(job->uids, ic->uids, ic->uid_count * sizeof(*job->uids));
		job->uid_count = ic->uid_count;
	}
	imap_sync_prepare(ic, cmd, job);
	return job;
}

static void imap_job_free(struct imap_job *job)
{
	buf_free(&job->out);
	buf_free(&job->tagged);
	free(job->uids);
	free(job->owned);
	arena_free(&job->arena);
	free(job);
}

void imap_job_discard(struct imap_job **job)
{
	imap_job_free(*job);
	*job = NULL;
}

static void imap_job_run(void *arg)
{
	struct imap_job *job = arg;

	if (job->presync) {
		struct store_error err = { 0 };

		/* a failure here only delays the news to the next command */
		job->presync_result = imap_sync_collect(job, &err);
	}
	job->run(job);
}

static void imap_job_done(void *arg)
{
	struct imap_job *job = arg;
	struct conn *c = job->conn;
	struct imap_client *ic = conn_session(c);

	if (ic != NULL && !conn_is_closing(c)) {
		if (job->presync_result != NULL)
			imap_sync_apply_ex(ic, job->presync_result, job->presync_expunge);
		if (job->out.len > 0)
			(void)conn_send(c, job->out.data, job->out.len);
		if (job->done != NULL)
			job->done(ic, job);
		if (job->failed) {
			log_error(conn_log(c), "store.fail", "%s", log_str(job->error));
			if (!job->no_reply)
				(void)conn_sendf(c, "%s NO [UNAVAILABLE] Internal error, "
						    "session %s\r\n", job->tag, conn_log(c)->sid);
		} else if (job->tagged.len > 0) {
			(void)conn_send(c, job->tagged.data, job->tagged.len);
		}
		if (ic->cmd_arena != NULL)
			arena_reset(ic->cmd_arena);
		conn_resume_input(c);
	}
	conn_job_end(c);
	imap_job_free(job);
}

enum cmd_ret imap_job_submit(struct imap_job *job)
{
	struct conn *c = job->conn;
	struct imap_client *ic = conn_session(c);

	/* the news this job will read are no longer pending (a job discarded
	   before this point leaves them pending) */
	if (job->presync && ic != NULL)
		ic->sync_pending = false;
	conn_pause_input(c);
	conn_job_begin(c);
	worker_submit(job->ms->workers, conn_loop(c), imap_job_run, imap_job_done, job);
	return CMD_ASYNC;
}

void imap_job_tagged(struct imap_job *job, const char *status, const char *fmt, ...)
{
	va_list ap;

	buf_clear(&job->tagged);
	(void)buf_printf(&job->tagged, "%s %s ", job->tag, status);
	va_start(ap, fmt);
	(void)buf_vprintf(&job->tagged, fmt, ap);
	va_end(ap);
	(void)buf_append_str(&job->tagged, "\r\n");
}

void imap_job_fail(struct imap_job *job, const char *op, const struct store_error *err)
{
	job->failed = true;
	snprintf(job->error, sizeof(job->error), "op=%s err=%s %s", op,
		 store_err_name(err->code), err->msg);
}

uint32_t imap_uid_seq(const uint32_t *uids, size_t count, uint32_t uid)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uids[mid] == uid)
			return (uint32_t)(mid + 1);
		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---- argument and response helpers ------------------------------------ */

const char *imap_arg_astring_dup(const struct imap_arg *a, struct arena *arena)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL)
		return NULL;
	return arena_strndup(arena, a->str.ptr, a->str.len);
}

void imap_append_string(struct buf *out, const char *s)
{
	size_t len = strlen(s);
	bool quotable = len < 1024;

	for (size_t i = 0; i < len && quotable; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r' || ch == '\n' || ch == 0)
			quotable = false;
	}
	if (!quotable) {
		(void)buf_printf(out, "{%zu}\r\n", len);
		(void)buf_append(out, s, len);
		return;
	}
	(void)buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			(void)buf_append(out, "\\", 1);
		(void)buf_append(out, &s[i], 1);
	}
	(void)buf_append(out, "\"", 1);
}

/* One number of a set; '*' is `star` (0 in an empty mailbox). */
static int seq_number(struct slice s, uint32_t star, uint32_t *num_r)
{
	if (s.len == 1 && s.ptr[0] == '*') {
		*num_r = star;
		return 0;
	}
	if (str_to_u32(s, num_r) < 0 || *num_r == 0)
		return -1;
	return 0;
}

int imap_seqset_parse(const struct imap_client *ic, struct slice set, bool is_uid,
		      struct arena *a, struct store_uid_range **ranges_r, size_t *count_r)
{
	uint32_t max_uid = ic->uid_count > 0 ? ic->uids[ic->uid_count - 1] : 0;
	uint32_t star = is_uid ? max_uid : (uint32_t)ic->uid_count;
	size_t n = 1, count = 0;
	struct store_uid_range *ranges;
	const char *p = set.ptr, *end = set.ptr + set.len;

	if (set.len == 0)
		return -1;
	if (set.len == 1 && set.ptr[0] == '$') {
		imap_searchres_ranges(ic, a, ranges_r, count_r);
		return 0;
	}
	for (size_t i = 0; i < set.len; i++)
		n += set.ptr[i] == ',';
	ranges = arena_alloc(a, n * sizeof(*ranges));
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma != NULL ? comma : end;
		const char *colon = memchr(p, ':', (size_t)(item_end - p));
		const char *lo_end = colon != NULL ? colon : item_end;
		uint32_t lo, hi;

		if (seq_number(slice_from(p, (size_t)(lo_end - p)), star, &lo) < 0)
			return -1;
		hi = lo;
		if (colon != NULL && seq_number(slice_from(colon + 1, (size_t)(item_end - colon - 1)),
						star, &hi) < 0)
			return -1;
		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		lo = MAX(lo, 1u);
		if (is_uid) {
			if (hi != 0)
				ranges[count++] = (struct store_uid_range){ lo, hi };
		} else if (lo <= ic->uid_count) {
			hi = MIN(hi, (uint32_t)ic->uid_count);
			ranges[count++] =
				(struct store_uid_range){ ic->uids[lo - 1], ic->uids[hi - 1] };
		} else if (ic->uid_count > 0) {
			/* RFC 9051 §6.4.8: no such message */
			return -1;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*ranges_r = ranges;
	*count_r = count;
	return 0;
}

void imap_append_uidset(struct buf *out, const uint32_t *uids, size_t count)
{
	for (size_t i = 0; i < count;) {
		size_t j = i;

		while (j + 1 < count && uids[j + 1] == uids[j] + 1)
			j++;
		if (j == i)
			(void)buf_printf(out, "%s%u", i == 0 ? "" : ",", uids[i]);
		else
			(void)buf_printf(out, "%s%u:%u", i == 0 ? "" : ",", uids[i], uids[j]);
		i = j + 1;
	}
}

void imap_append_flags(struct buf *out, uint32_t flags, const char *keywords)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ STORE_FLAG_SEEN, "\\Seen" },       { STORE_FLAG_ANSWERED, "\\Answered" },
		{ STORE_FLAG_FLAGGED, "\\Flagged" }, { STORE_FLAG_DELETED, "\\Deleted" },
		{ STORE_FLAG_DRAFT, "\\Draft" },
	};
	bool first = true;

	(void)buf_append(out, "(", 1);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if ((flags & names[i].bit) == 0)
			continue;
		(void)buf_printf(out, "%s%s", first ? "" : " ", names[i].name);
		first = false;
	}
	if (keywords != NULL && keywords[0] != '\0')
		(void)buf_printf(out, "%s%s", first ? "" : " ", keywords);
	(void)buf_append(out, ")", 1);
}

void imap_unselect(struct imap_client *ic)
{
	imap_notify_unwatch(&ic->watch);
	ic->sync_pending = false;
	free(ic->deferred_expunges);
	ic->deferred_expunges = NULL;
	ic->deferred_count = 0;
	imap_searchres_clear(ic);
	free(ic->uids);
	ic->uids = NULL;
	ic->uid_count = 0;
	free(ic->mailbox_name);
	ic->mailbox_name = NULL;
	ic->mailbox_id = 0;
	if (ic->state == IMAP_ST_SELECTED)
		ic->state = IMAP_ST_AUTH;
}

void imap_expunged(struct imap_client *ic, uint32_t uid)
{
	uint32_t seq = imap_uid_seq(ic->uids, ic->uid_count, uid);

	if (seq == 0)
		return;
	memmove(&ic->uids[seq - 1], &ic->uids[seq], (ic->uid_count - seq) * sizeof(*ic->uids));
	ic->uid_count--;
	(void)conn_sendf(ic->conn, "* %u EXPUNGE\r\n", seq);
}
