/* CAPA (RFC 2449), STLS (RFC 2595), UTF8 and LANG (RFC 6856), and the
   TRANSACTION commands that need no message body: STAT, LIST, UIDL,
   DELE, RSET, NOOP, QUIT (RFC 1939). QUIT's expunge runs on the worker
   pool; everything else answers from the snapshot taken at login. */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "../net/worker.h"
#include "pop3-private.h"

enum pop3_ret pop3_cmd_capa(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	struct conn *c = pc->conn;
	bool authz = pc->state == POP3_ST_AUTHORIZATION;
	bool can_login;

	if (cmd->arg_count != 0)
		return pop3_client_error(pc, "Syntax: CAPA");
	/* like Dovecot: no USER or SASL where they would be refused */
	can_login = authz && pop3_plaintext_auth_allowed(pc) && pc->srv->auth != NULL &&
		    pc->srv->ms.store != NULL;
	/* Sora's order (sora-features §2) */
	(void)conn_send_str(c, "+OK Capability list follows\r\nTOP\r\nUIDL\r\n");
	if (can_login)
		(void)conn_send_str(c, "USER\r\n");
	(void)conn_send_str(c, "RESP-CODES\r\nPIPELINING\r\n");
	if (authz && pc->srv->starttls && conn_can_starttls(c))
		(void)conn_send_str(c, "STLS\r\n");
	if (can_login) {
		(void)conn_send_str(c, "SASL");
		for (int m = 0; m < SASL_MECH_COUNT; m++)
			(void)conn_sendf(c, " %s", sasl_mech_name((enum sasl_mech)m));
		(void)conn_send_str(c, "\r\n");
	}
	/* EXPIRE NEVER: nothing removes mail a client left on the server */
	(void)conn_send_str(c, "LANG\r\nUTF8\r\nEXPIRE NEVER\r\nAUTH-RESP-CODE\r\n"
			       "IMPLEMENTATION Sora-POP3-Server\r\n.\r\n");
	return POP3_DONE;
}

enum pop3_ret pop3_cmd_stls(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	if (cmd->arg_count != 0)
		return pop3_client_error(pc, "Syntax: STLS");
	if (conn_is_tls(pc->conn))
		return pop3_client_error(pc, "Already using TLS");
	if (!pc->srv->starttls || !conn_can_starttls(pc->conn))
		return pop3_client_error(pc, "TLS not available");
	pop3_ok(pc, "Begin TLS negotiation");
	/* RFC 2595 §4: forget what the client said in clear */
	if (pc->user != NULL)
		util_wipe(pc->user, strlen(pc->user));
	free(pc->user);
	pc->user = NULL;
	(void)conn_starttls(pc->conn);
	return POP3_DONE;
}

enum pop3_ret pop3_cmd_utf8(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	if (cmd->arg_count != 0)
		return pop3_client_error(pc, "Syntax: UTF8");
	/* RFC 6856 §2: user names and passwords may now be UTF-8 (they are
	   accepted as such anyway) and messages are sent unmodified */
	pc->utf8 = true;
	pop3_ok(pc, "UTF8 mode enabled");
	return POP3_DONE;
}

enum pop3_ret pop3_cmd_lang(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	struct slice tag;

	if (cmd->arg_count > 1)
		return pop3_client_error(pc, "Syntax: LANG [language]");
	if (cmd->arg_count == 0) {
		(void)conn_send_str(pc->conn, "+OK Language list follows\r\nen English\r\n"
					      "i-default Default language\r\n.\r\n");
		return POP3_DONE;
	}
	tag = cmd->args[0];
	/* RFC 6856 §3: "*" asks for the server's choice */
	if (slice_eq_ci(tag, "en") || slice_eq_ci(tag, "*"))
		pop3_ok(pc, "Language set to en");
	else if (slice_eq_ci(tag, "i-default"))
		pop3_ok(pc, "Language set to i-default");
	else
		pop3_err(pc, "Unsupported language");
	return POP3_DONE;
}

ssize_t pop3_msg_arg(struct pop3_client *pc, struct pop3_cmd *cmd, size_t i)
{
	uint32_t n;

	if (str_to_u32(cmd->args[i], &n) < 0 || n == 0) {
		(void)pop3_client_error(pc, "Invalid message number");
		return -1;
	}
	/* not client errors: numbers a client knew may be gone (DELE) */
	if (n > pc->msg_count) {
		pop3_err(pc, "No such message");
		return -1;
	}
	if (pc->msgs[n - 1].deleted) {
		pop3_err(pc, "Message is deleted");
		return -1;
	}
	return (ssize_t)n - 1;
}

enum pop3_ret pop3_cmd_stat(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	if (cmd->arg_count != 0)
		return pop3_client_error(pc, "Syntax: STAT");
	(void)conn_sendf(pc->conn, "+OK %zu %llu\r\n", pc->live_count,
			 (unsigned long long)pc->live_size);
	return POP3_DONE;
}

static enum pop3_ret pop3_listing(struct pop3_client *pc, struct pop3_cmd *cmd,
				  enum pop3_stream_kind kind)
{
	ssize_t idx;

	if (cmd->arg_count > 1)
		return pop3_client_error(pc, kind == POP3_STREAM_LIST ? "Syntax: LIST [msg]"
								      : "Syntax: UIDL [msg]");
	if (cmd->arg_count == 1) {
		idx = pop3_msg_arg(pc, cmd, 0);
		if (idx < 0)
			return POP3_DONE;
		if (kind == POP3_STREAM_LIST)
			(void)conn_sendf(pc->conn, "+OK %zd %llu\r\n", idx + 1,
					 (unsigned long long)pc->msgs[idx].size);
		else
			(void)conn_sendf(pc->conn, "+OK %zd %u\r\n", idx + 1, pc->msgs[idx].uid);
		return POP3_DONE;
	}
	(void)conn_sendf(pc->conn, "+OK %zu messages (%llu octets)\r\n", pc->live_count,
			 (unsigned long long)pc->live_size);
	pc->stream = (struct pop3_stream){ .kind = kind };
	return pop3_stream_start(pc);
}

enum pop3_ret pop3_cmd_list(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	return pop3_listing(pc, cmd, POP3_STREAM_LIST);
}

/* RFC 1939 §7: the unique-id is the IMAP UID, as in Sora: stable across
   sessions while UIDVALIDITY stays */
enum pop3_ret pop3_cmd_uidl(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	return pop3_listing(pc, cmd, POP3_STREAM_UIDL);
}

enum pop3_ret pop3_cmd_dele(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	ssize_t idx;

	if (cmd->arg_count != 1)
		return pop3_client_error(pc, "Syntax: DELE <msg>");
	idx = pop3_msg_arg(pc, cmd, 0);
	if (idx < 0)
		return POP3_DONE;
	/* only a mark: QUIT applies it (RFC 1939 §6) */
	pc->msgs[idx].deleted = true;
	pc->live_count--;
	pc->live_size -= pc->msgs[idx].size;
	pc->deleted++;
	pop3_ok(pc, "Message deleted");
	return POP3_DONE;
}

enum pop3_ret pop3_cmd_rset(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	if (cmd->arg_count != 0)
		return pop3_client_error(pc, "Syntax: RSET");
	pc->live_size = 0;
	for (size_t i = 0; i < pc->msg_count; i++) {
		pc->msgs[i].deleted = false;
		pc->live_size += pc->msgs[i].size;
	}
	pc->live_count = pc->msg_count;
	pc->deleted = 0;
	pop3_ok(pc, "Maildrop has been reset");
	return POP3_DONE;
}

enum pop3_ret pop3_cmd_noop(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	if (cmd->arg_count != 0)
		return pop3_client_error(pc, "Syntax: NOOP");
	pop3_ok(pc, NULL);
	return POP3_DONE;
}

enum pop3_ret pop3_cmd_last(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	(void)cmd;
	/* RFC 1725 dropped it; old clients probe: not counted */
	pop3_err(pc, "LAST is obsolete (RFC 1939)");
	return POP3_DONE;
}

/* ---- QUIT and the UPDATE state ---------------------------------------- */

struct pop3_expunge_job {
	struct conn *conn;
	struct store *store;
	int64_t mailbox_id;
	struct store_uid_range *ranges;
	size_t range_count;
	size_t expunged;
	bool failed;
	char error[STORE_ERROR_MSG_MAX + 32];
};

static void expunge_job_run(void *arg)
{
	struct pop3_expunge_job *job = arg;
	struct arena *a = arena_new(4096);
	struct store_error err = { 0 };
	uint32_t *uids = NULL;
	uint64_t modseq = 0;

	/* one call, one transaction, one MODSEQ: IMAP sessions see one
	   expunge. Messages IMAP expunged meanwhile are simply not counted. */
	if (store_expunge(job->store, job->mailbox_id, job->ranges, job->range_count, false, a,
			  &uids, &job->expunged, &modseq, &err) < 0) {
		job->failed = true;
		snprintf(job->error, sizeof(job->error), "%s: %s", store_err_name(err.code),
			 err.msg);
	}
	arena_free(&a);
}

static void expunge_job_done(void *arg)
{
	struct pop3_expunge_job *job = arg;
	struct conn *c = job->conn;
	struct pop3_client *pc = conn_session(c);

	if (job->failed)
		log_error(conn_log(c), "store.fail", "op=expunge err=%s", log_str(job->error));
	if (pc != NULL && !conn_is_closing(c)) {
		char msg[128];

		log_info(conn_log(c), "logout", "retrieved=%u deleted=%u expunged=%zu",
			 pc->retrieved, pc->deleted, job->expunged);
		if (job->failed) {
			/* RFC 1939 §6: the connection closes either way */
			snprintf(msg, sizeof(msg), "[SYS/TEMP] Messages could not be deleted, "
				 "session %s", conn_log(c)->sid);
			pop3_err(pc, msg);
		} else if (job->expunged > 0) {
			snprintf(msg, sizeof(msg), "%zu messages expunged", job->expunged);
			pop3_ok(pc, msg);
		} else {
			pop3_ok(pc, "Goodbye");
		}
		pc->busy = false;
		conn_close(c, "quit");
	}
	conn_job_end(c);
	free(job->ranges);
	free(job);
}

/* The marked UIDs as ranges. Only neighbours in the snapshot with
   consecutive UIDs are merged, so a range never covers a message this
   session did not mark. */
static size_t quit_ranges(const struct pop3_client *pc, struct store_uid_range **ranges_r)
{
	struct store_uid_range *r = xcalloc(pc->deleted, sizeof(*r));
	size_t n = 0;

	for (size_t i = 0; i < pc->msg_count; i++) {
		uint32_t uid = pc->msgs[i].uid;

		if (!pc->msgs[i].deleted)
			continue;
		if (n > 0 && r[n - 1].last + 1 == uid)
			r[n - 1].last = uid;
		else
			r[n++] = (struct store_uid_range){ .first = uid, .last = uid };
	}
	*ranges_r = r;
	return n;
}

enum pop3_ret pop3_cmd_quit(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	struct pop3_expunge_job *job;

	(void)cmd;
	if (pc->state == POP3_ST_AUTHORIZATION || pc->deleted == 0) {
		if (pc->state != POP3_ST_AUTHORIZATION)
			log_info(conn_log(pc->conn), "logout", "retrieved=%u deleted=0 expunged=0",
				 pc->retrieved);
		pop3_ok(pc, "Goodbye");
		conn_close(pc->conn, "quit");
		return POP3_DONE;
	}
	pc->state = POP3_ST_UPDATE;
	job = xcalloc(1, sizeof(*job));
	job->conn = pc->conn;
	job->store = pc->srv->ms.store;
	job->mailbox_id = pc->mailbox_id;
	job->range_count = quit_ranges(pc, &job->ranges);
	pop3_busy(pc);
	conn_job_begin(pc->conn);
	worker_submit(pc->srv->ms.workers, conn_loop(pc->conn), expunge_job_run,
		      expunge_job_done, job);
	return POP3_ASYNC;
}
