/* SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE and the selected-state NOOP /
   CHECK (RFC 9051 §6.3.2, §6.3.3, §6.4).

   The session keeps the UIDs of the messages it has announced (ic->uids,
   from store_mailbox_uids at SELECT): sequence number n is uids[n - 1].
   The map changes only on the loop, in a job's completion, so the numbers
   a client sees move only where RFC 9051 §7.5.1 allows it: EXPUNGE
   responses are sent by EXPUNGE, CLOSE (none), MOVE and NOOP/CHECK, never
   while answering FETCH, STORE or SEARCH. */
#include <stdlib.h>
#include <string.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"

struct select_ctx {
	const char *name;
	bool examine;
	bool was_selected;
	/* results, handed to the session by the completion */
	struct store_mailbox mbox;
	uint32_t *uids; /* malloc, owned by the job until the session takes it */
	size_t count;
	struct store_mailbox_status st;
	bool ok;
};

static void select_run(struct imap_job *job)
{
	struct select_ctx *sc = job->ctx;
	struct store_error err = { 0 };
	const char **keywords;
	size_t kw_count;
	struct buf kw;
	uint32_t unseen_seq = 0;

	if (sc->was_selected && job->rev2)
		(void)buf_append_str(&job->out, "* OK [CLOSED] Previous mailbox closed\r\n");
	if (store_mailbox_get(job->ms->store, job->account_id, sc->name, job->arena, &sc->mbox,
			      &err) < 0) {
		if (err.code == STORE_NOT_FOUND || err.code == STORE_INVALID)
			imap_job_tagged(job, "NO", "[NONEXISTENT] Mailbox does not exist");
		else
			imap_job_fail(job, "select", &err);
		return;
	}
	if (sc->mbox.is_noselect) {
		imap_job_tagged(job, "NO", "[CANNOT] Mailbox cannot be selected");
		return;
	}
	if (store_mailbox_uids(job->ms->store, sc->mbox.id, &sc->uids, &sc->count, &sc->st,
			       &err) < 0) {
		imap_job_fail(job, "select", &err);
		return;
	}
	job->owned = sc->uids; /* freed with the job unless the session takes it */
	if (store_mailbox_keywords(job->ms->store, sc->mbox.id, job->arena, &keywords, &kw_count,
				   &err) < 0) {
		imap_job_fail(job, "select", &err);
		return;
	}
	buf_init(&kw, 0);
	for (size_t i = 0; i < kw_count; i++)
		(void)buf_printf(&kw, " %s", keywords[i]);
	(void)buf_printf(&job->out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)\r\n",
			 kw.data != NULL ? kw.data : "");
	(void)buf_printf(&job->out,
			 "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s "
			 "\\*)] Flags permitted\r\n", kw.data != NULL ? kw.data : "");
	buf_free(&kw);
	(void)buf_printf(&job->out, "* %zu EXISTS\r\n", sc->count);
	if (!job->rev2) {
		(void)buf_append_str(&job->out, "* 0 RECENT\r\n");
		if (sc->st.first_unseen_uid != 0)
			unseen_seq = imap_uid_seq(sc->uids, sc->count, sc->st.first_unseen_uid);
		if (unseen_seq != 0)
			(void)buf_printf(&job->out, "* OK [UNSEEN %u] First unseen\r\n",
					 unseen_seq);
	}
	(void)buf_printf(&job->out, "* OK [UIDVALIDITY %u] UIDs valid\r\n", sc->st.uidvalidity);
	(void)buf_printf(&job->out, "* OK [UIDNEXT %u] Predicted next UID\r\n", sc->st.uidnext);
	(void)buf_printf(&job->out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
			 (unsigned long long)sc->st.highest_modseq);
	if (job->rev2) {
		(void)buf_append_str(&job->out, "* LIST () \"/\" ");
		imap_append_string(&job->out, sc->mbox.name);
		(void)buf_append_str(&job->out, "\r\n");
	}
	sc->ok = true;
	imap_job_tagged(job, "OK", "[%s] %s completed", sc->examine ? "READ-ONLY" : "READ-WRITE",
			sc->examine ? "EXAMINE" : "SELECT");
}

static void select_done(struct imap_client *ic, struct imap_job *job)
{
	struct select_ctx *sc = job->ctx;

	/* RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected */
	imap_unselect(ic);
	if (!sc->ok || job->failed)
		return;
	ic->state = IMAP_ST_SELECTED;
	ic->mailbox_id = sc->mbox.id;
	ic->mailbox_name = xstrdup(sc->mbox.name);
	ic->readonly = sc->examine;
	ic->uidvalidity = sc->st.uidvalidity;
	ic->highest_modseq = sc->st.highest_modseq;
	ic->uids = sc->uids;
	ic->uid_count = sc->count;
	job->owned = NULL;
}

static enum cmd_ret select_start(struct imap_cmd *cmd, bool examine)
{
	struct imap_client *ic = cmd->client;
	struct imap_job *job;
	struct select_ctx *sc;
	const char *name;

	/* SELECT name [(CONDSTORE)] (RFC 7162 §3.1.8) */
	if (cmd->args->count < 1 || cmd->args->count > 2 ||
	    (cmd->args->count == 2 && cmd->args->args[1].type != IMAP_ARG_LIST))
		return imap_cmd_bad(cmd, "%s expects a mailbox name",
				    examine ? "EXAMINE" : "SELECT");
	if (cmd->args->count == 2) {
		const struct imap_arg *l = &cmd->args->args[1];

		if (l->list_count != 1 || l->list[0].type != IMAP_ARG_ATOM ||
		    !slice_eq_ci(l->list[0].str, "CONDSTORE"))
			return imap_cmd_bad(cmd, "Unsupported %s parameters",
					    examine ? "EXAMINE" : "SELECT");
		ic->condstore_enabled = true;
	}
	job = imap_job_new(cmd, select_run, select_done, false);
	name = imap_arg_mailbox_dup(ic, &cmd->args->args[0], job->arena);
	if (name == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid mailbox name");
	}
	sc = arena_alloc(job->arena, sizeof(*sc));
	*sc = (struct select_ctx){ .name = name, .examine = examine,
				   .was_selected = ic->state == IMAP_ST_SELECTED };
	job->ctx = sc;
	return imap_job_submit(job);
}

enum cmd_ret imap_cmd_select(struct imap_cmd *cmd)
{
	return select_start(cmd, false);
}

enum cmd_ret imap_cmd_examine(struct imap_cmd *cmd)
{
	return select_start(cmd, true);
}

enum cmd_ret imap_cmd_unselect(struct imap_cmd *cmd)
{
	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "UNSELECT takes no arguments");
	imap_unselect(cmd->client);
	return imap_cmd_ok(cmd, "UNSELECT completed");
}

/* ---- EXPUNGE, UID EXPUNGE, CLOSE ---------------------------------------- */

struct expunge_ctx {
	struct store_uid_range *set; /* NULL: every \Deleted message */
	size_t set_count;
	uint32_t *uids;
	size_t count;
	bool close; /* CLOSE: expunge silently, then deselect */
};

static void expunge_run(struct imap_job *job)
{
	struct expunge_ctx *ec = job->ctx;
	struct store_error err = { 0 };
	uint64_t modseq;

	if (!job->readonly && (ec->set == NULL || ec->set_count > 0) &&
	    store_expunge(job->ms->store, job->mailbox_id, ec->set, ec->set_count, true,
			  job->arena, &ec->uids, &ec->count, &modseq, &err) < 0) {
		imap_job_fail(job, "expunge", &err);
		return;
	}
	imap_job_tagged(job, "OK", "%s completed", ec->close ? "CLOSE" : "EXPUNGE");
}

static void expunge_done(struct imap_client *ic, struct imap_job *job)
{
	struct expunge_ctx *ec = job->ctx;

	if (ec->close) {
		imap_unselect(ic);
		return;
	}
	/* descending: each number stays valid for the client as it reads them */
	for (size_t i = ec->count; i > 0; i--)
		imap_expunged(ic, ec->uids[i - 1]);
}

enum cmd_ret imap_cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	struct imap_job *job;
	struct expunge_ctx *ec;

	if (cmd->args->count != (cmd->is_uid ? 1u : 0u) ||
	    (cmd->is_uid && cmd->args->args[0].type != IMAP_ARG_ATOM))
		return imap_cmd_bad(cmd, cmd->is_uid ? "UID EXPUNGE expects a UID set"
						     : "EXPUNGE takes no arguments");
	if (ic->readonly)
		return imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
	job = imap_job_new(cmd, expunge_run, expunge_done, false);
	ec = arena_alloc(job->arena, sizeof(*ec));
	*ec = (struct expunge_ctx){ 0 };
	job->ctx = ec;
	if (cmd->is_uid && imap_seqset_parse(ic, cmd->args->args[0].str, true, job->arena, &ec->set,
					     &ec->set_count) < 0) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid UID set");
	}
	return imap_job_submit(job);
}

enum cmd_ret imap_cmd_close(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	struct imap_job *job;
	struct expunge_ctx *ec;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "CLOSE takes no arguments");
	if (ic->readonly) {
		imap_unselect(ic);
		return imap_cmd_ok(cmd, "CLOSE completed");
	}
	job = imap_job_new(cmd, expunge_run, expunge_done, false);
	ec = arena_alloc(job->arena, sizeof(*ec));
	*ec = (struct expunge_ctx){ .close = true };
	job->ctx = ec;
	return imap_job_submit(job);
}

/* ---- NOOP / CHECK: what other sessions changed ---------------------------- */

struct imap_sync {
	uint32_t *uids; /* the mailbox now, in the job's arena */
	size_t count;
	struct store_mailbox_status st;
	struct store_flags_result *changed;
	size_t changed_count;
	bool unchanged; /* HIGHESTMODSEQ as the session knows it: nothing to do */
};

struct imap_sync *imap_sync_collect(struct imap_job *job, struct store_error *err)
{
	struct imap_sync *sy = arena_alloc(job->arena, sizeof(*sy));
	uint32_t *uids, *vanished;
	size_t vanished_count;

	*sy = (struct imap_sync){ 0 };
	/* every append, flag change and expunge raises HIGHESTMODSEQ: the
	   counters answer an idle poll without reading the UID list */
	if (store_mailbox_status(job->ms->store, job->mailbox_id, &sy->st, err) < 0)
		return NULL;
	if (job->since_modseq != 0 && sy->st.highest_modseq == job->since_modseq) {
		sy->unchanged = true;
		return sy;
	}
	if (store_mailbox_uids(job->ms->store, job->mailbox_id, &uids, &sy->count, &sy->st,
			       err) < 0)
		return NULL;
	if (sy->count > 0) {
		sy->uids = arena_alloc(job->arena, sy->count * sizeof(*sy->uids));
		memcpy(sy->uids, uids, sy->count * sizeof(*sy->uids));
	}
	free(uids);
	if (sy->st.highest_modseq > job->since_modseq &&
	    store_changes_since(job->ms->store, job->mailbox_id, job->since_modseq, job->arena,
				&sy->changed, &sy->changed_count, &vanished, &vanished_count,
				err) < 0)
		return NULL;
	return sy;
}

static bool uid_in(const uint32_t *uids, size_t count, uint32_t uid)
{
	return imap_uid_seq(uids, count, uid) != 0;
}

void imap_sync_apply(struct imap_client *ic, const struct imap_sync *sy)
{
	uint32_t old_max;
	size_t added = 0;

	if (ic->state != IMAP_ST_SELECTED || sy->unchanged)
		return;
	for (size_t i = ic->uid_count; i > 0; i--) {
		if (!uid_in(sy->uids, sy->count, ic->uids[i - 1]))
			imap_expunged(ic, ic->uids[i - 1]);
	}
	old_max = ic->uid_count > 0 ? ic->uids[ic->uid_count - 1] : 0;
	for (size_t i = 0; i < sy->count; i++)
		added += sy->uids[i] > old_max;
	if (added > 0) {
		ic->uids = xrealloc(ic->uids, (ic->uid_count + added) * sizeof(*ic->uids));
		for (size_t i = 0; i < sy->count; i++) {
			if (sy->uids[i] > old_max)
				ic->uids[ic->uid_count++] = sy->uids[i];
		}
		(void)conn_sendf(ic->conn, "* %zu EXISTS\r\n", ic->uid_count);
	}
	for (size_t i = 0; i < sy->changed_count; i++) {
		const struct store_flags_result *r = &sy->changed[i];
		uint32_t seq = imap_uid_seq(ic->uids, ic->uid_count, r->uid);
		struct buf line;

		if (seq == 0 || r->uid > old_max)
			continue;
		buf_init(&line, 0);
		(void)buf_printf(&line, "* %u FETCH (UID %u FLAGS ", seq, r->uid);
		imap_append_flags(&line, r->flags, r->keywords);
		if (ic->condstore_enabled)
			(void)buf_printf(&line, " MODSEQ (%llu)", (unsigned long long)r->modseq);
		(void)buf_append_str(&line, ")\r\n");
		(void)conn_send(ic->conn, line.data, line.len);
		buf_free(&line);
	}
	if (sy->st.highest_modseq > ic->highest_modseq)
		ic->highest_modseq = sy->st.highest_modseq;
}

struct sync_req {
	const char *verb; /* NULL: an IDLE poll, no tagged reply */
	struct imap_sync *sync;
};

#define IMAP_IDLE_POLL_MS 1000
#define IMAP_IDLE_LINE_MAX 1024

static void sync_run(struct imap_job *job)
{
	struct sync_req *req = job->ctx;
	struct store_error err = { 0 };

	req->sync = imap_sync_collect(job, &err);
	if (req->sync == NULL && err.code != STORE_NOT_FOUND) {
		imap_job_fail(job, "sync", &err);
		return;
	}
	/* a mailbox deleted under us reports nothing; the next command fails */
	if (req->verb != NULL)
		imap_job_tagged(job, "OK", "%s completed", req->verb);
}

static void sync_done(struct imap_client *ic, struct imap_job *job)
{
	struct sync_req *req = job->ctx;

	if (!job->failed && req->sync != NULL)
		imap_sync_apply(ic, req->sync);
	if (req->verb == NULL && ic->idling && ic->state == IMAP_ST_SELECTED)
		loop_timer_start(conn_loop(ic->conn), &ic->idle_timer, IMAP_IDLE_POLL_MS);
}

enum cmd_ret imap_cmd_sync(struct imap_cmd *cmd)
{
	struct imap_job *job = imap_job_new(cmd, sync_run, sync_done, false);
	struct sync_req *req = arena_alloc(job->arena, sizeof(*req));

	*req = (struct sync_req){ .verb = slice_eq_ci(cmd->args->name, "CHECK") ? "CHECK"
										 : "NOOP" };
	job->ctx = req;
	return imap_job_submit(job);
}

/* ---- IDLE (RFC 2177, RFC 9051 §6.3.13) ---------------------------------------

   Changes are found by polling the store from a worker job once a second
   while the client idles in the selected state: in-process and cross-node
   push (issue 6) will replace the timer. */

static void idle_poll(struct timer *t)
{
	struct imap_client *ic = t->ctx;
	struct imap_cmd cmd = { .client = ic, .tag = ic->idle_tag };
	struct imap_job *job;
	struct sync_req *req;

	if (!ic->idling || ic->state != IMAP_ST_SELECTED || conn_is_closing(ic->conn))
		return;
	job = imap_job_new(&cmd, sync_run, sync_done, false);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct sync_req){ .verb = NULL };
	job->ctx = req;
	job->no_reply = true;
	(void)imap_job_submit(job);
}

enum cmd_ret imap_cmd_idle(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "IDLE takes no arguments");
	snprintf(ic->idle_tag, sizeof(ic->idle_tag), "%s", cmd->tag);
	ic->idling = true;
	(void)conn_send_str(ic->conn, "+ idling\r\n");
	timer_init(&ic->idle_timer, idle_poll, ic);
	if (ic->state == IMAP_ST_SELECTED)
		loop_timer_start(conn_loop(ic->conn), &ic->idle_timer, IMAP_IDLE_POLL_MS);
	return CMD_DONE;
}

bool imap_idle_input(struct imap_client *ic)
{
	struct conn *c = ic->conn;
	struct slice in = conn_input(c), line;
	ssize_t lf = slice_find(in, '\n');

	if (lf < 0) {
		if (in.len > IMAP_IDLE_LINE_MAX) {
			(void)conn_sendf(c, "%s BAD Expected DONE\r\n", ic->idle_tag);
			imap_idle_stop(ic);
			conn_close(c, "idle line too long");
		}
		return false;
	}
	line = slice_from(in.ptr, (size_t)lf);
	if (line.len > 0 && line.ptr[line.len - 1] == '\r')
		line.len--;
	imap_idle_stop(ic);
	if (slice_eq_ci(line, "DONE"))
		(void)conn_sendf(c, "%s OK IDLE terminated\r\n", ic->idle_tag);
	else
		(void)conn_sendf(c, "%s BAD Expected DONE\r\n", ic->idle_tag);
	conn_consume(c, (size_t)lf + 1);
	return true;
}

void imap_idle_stop(struct imap_client *ic)
{
	ic->idling = false;
	if (timer_is_armed(&ic->idle_timer))
		loop_timer_stop(conn_loop(ic->conn), &ic->idle_timer);
}
