/* SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE and the selected-state NOOP /
   CHECK (RFC 9051 §6.3.2, §6.3.3, §6.4).

   The session keeps the UIDs of the messages it has announced (ic->uids,
   from store_mailbox_uids at SELECT): sequence number n is uids[n - 1].
   The map changes only on the loop, in a job's completion, so the numbers
   a client sees move only where RFC 9051 §7.5.1 allows it: EXPUNGE
   responses are sent by EXPUNGE, CLOSE (none), MOVE, NOOP/CHECK, IDLE and
   before other commands, never while answering FETCH, STORE or SEARCH.
   With QRESYNC (RFC 7162 §3.2) they are VANISHED responses, and SELECT /
   EXAMINE (QRESYNC (...)) resynchronises a client's cache in one go. */
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
	/* RFC 7162 §3.2.5 QRESYNC parameters */
	bool qresync;
	uint32_t known_uidvalidity;
	uint64_t known_modseq;
	struct store_uid_range *known_uids; /* NULL: all */
	size_t known_count;
	/* results, handed to the session by the completion */
	struct store_mailbox mbox;
	uint32_t *uids; /* malloc, owned by the job until the session takes it */
	size_t count;
	struct store_mailbox_status st;
	bool ok;
};

static bool uid_known(const struct select_ctx *sc, uint32_t uid)
{
	if (sc->known_uids == NULL)
		return true;
	for (size_t i = 0; i < sc->known_count; i++) {
		if (uid >= sc->known_uids[i].first && uid <= sc->known_uids[i].last)
			return true;
	}
	return false;
}

/* RFC 7162 §3.2.5.2: what changed since the client's cache, as
   VANISHED (EARLIER) and FETCH responses. A different UIDVALIDITY means
   the cache is useless: nothing is sent, the client starts over. The
   sequence match data only narrows what may be reported; without it we
   report every expunge since the known MODSEQ among the known UIDs,
   which RFC 7162 allows. */
static int select_qresync(struct imap_job *job, struct select_ctx *sc)
{
	struct store_error err = { 0 };
	struct store_flags_result *changed;
	uint32_t *vanished, *report;
	size_t changed_count, vanished_count, n = 0;

	if (sc->known_uidvalidity != sc->st.uidvalidity ||
	    sc->known_modseq >= sc->st.highest_modseq)
		return 0;
	if (store_changes_since(job->ms->store, sc->mbox.id, sc->known_modseq, job->arena,
				&changed, &changed_count, &vanished, &vanished_count, &err) < 0) {
		imap_job_fail(job, "select", &err);
		return -1;
	}
	report = arena_alloc(job->arena, (vanished_count + 1) * sizeof(*report));
	for (size_t i = 0; i < vanished_count; i++) {
		/* one the snapshot still holds keeps its number: the push sync
		   reports it, as a sequence-changing VANISHED */
		if (uid_known(sc, vanished[i]) &&
		    imap_uid_seq(sc->uids, sc->count, vanished[i]) == 0)
			report[n++] = vanished[i];
	}
	if (n > 0) {
		(void)buf_append_str(&job->out, "* VANISHED (EARLIER) ");
		imap_append_uidset(&job->out, report, n);
		(void)buf_append_str(&job->out, "\r\n");
	}
	for (size_t i = 0; i < changed_count; i++) {
		const struct store_flags_result *r = &changed[i];
		uint32_t seq = imap_uid_seq(sc->uids, sc->count, r->uid);

		if (seq == 0 || r->modseq > sc->st.highest_modseq)
			continue; /* after the snapshot: the next sync reports it */
		(void)buf_printf(&job->out, "* %u FETCH (UID %u FLAGS ", seq, r->uid);
		imap_append_flags(&job->out, r->flags, r->keywords);
		(void)buf_printf(&job->out, " MODSEQ (%llu))\r\n", (unsigned long long)r->modseq);
	}
	return 0;
}

static void select_run(struct imap_job *job)
{
	struct select_ctx *sc = job->ctx;
	struct store_error err = { 0 };
	const char **keywords;
	size_t kw_count;
	struct buf kw;
	uint32_t unseen_seq = 0;

	if (sc->was_selected && (job->rev2 || job->qresync))
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
	/* RFC 8474 */
	(void)buf_printf(&job->out, "* OK [MAILBOXID (M%lld)] Ok\r\n", (long long)sc->mbox.id);
	if (job->rev2) {
		(void)buf_append_str(&job->out, "* LIST () \"/\" ");
		imap_append_mailbox(&job->out, sc->mbox.name, job->utf8);
		(void)buf_append_str(&job->out, "\r\n");
	}
	if (sc->qresync && select_qresync(job, sc) < 0)
		return;
	sc->ok = true;
	imap_job_tagged(job, "OK", "[%s] %s completed", sc->examine ? "READ-ONLY" : "READ-WRITE",
			sc->examine ? "EXAMINE" : "SELECT");
}

static void mailbox_changed(void *ctx);

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
	imap_notify_watch(ic->srv->notify, conn_loop(ic->conn), &ic->watch, ic->mailbox_id,
			  mailbox_changed, ic);
	/* a change committed between the snapshot and the watch above sent
	   no event: one cheap check (HIGHESTMODSEQ) before the next command
	   or IDLE catches it */
	ic->sync_pending = true;
}

/* A UID set of the QRESYNC parameters; '*' stands for the largest UID. */
static int uidset_parse(struct slice set, struct arena *a, struct store_uid_range **ranges_r,
			size_t *count_r)
{
	size_t n = 1, count = 0;
	struct store_uid_range *ranges;
	const char *p = set.ptr, *end = set.ptr + set.len;

	if (set.len == 0)
		return -1;
	for (size_t i = 0; i < set.len; i++)
		n += set.ptr[i] == ',';
	ranges = arena_alloc(a, n * sizeof(*ranges));
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma != NULL ? comma : end;
		const char *colon = memchr(p, ':', (size_t)(item_end - p));
		const char *lo_end = colon != NULL ? colon : item_end;
		struct slice lo = slice_from(p, (size_t)(lo_end - p)), hi = lo;
		uint32_t l, h;

		if (colon != NULL)
			hi = slice_from(colon + 1, (size_t)(item_end - colon - 1));
		if ((slice_eq_ci(lo, "*") ? (l = UINT32_MAX, 0) : str_to_u32(lo, &l)) < 0 ||
		    (slice_eq_ci(hi, "*") ? (h = UINT32_MAX, 0) : str_to_u32(hi, &h)) < 0 ||
		    l == 0 || h == 0)
			return -1;
		ranges[count++] = (struct store_uid_range){ MIN(l, h), MAX(l, h) };
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*ranges_r = ranges;
	*count_r = count;
	return 0;
}

/* (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])) */
static int qresync_params(struct select_ctx *sc, const struct imap_arg *l, struct arena *a)
{
	const struct imap_arg *v = l->list;
	size_t n = l->list_count;

	if (l->type != IMAP_ARG_LIST || n < 2 || n > 4 || v[0].type != IMAP_ARG_ATOM ||
	    v[1].type != IMAP_ARG_ATOM || str_to_u32(v[0].str, &sc->known_uidvalidity) < 0 ||
	    sc->known_uidvalidity == 0 || str_to_u64(v[1].str, &sc->known_modseq) < 0 ||
	    sc->known_modseq == 0)
		return -1;
	if (n >= 3 && (v[2].type != IMAP_ARG_ATOM ||
		       uidset_parse(v[2].str, a, &sc->known_uids, &sc->known_count) < 0))
		return -1;
	/* the sequence match data is checked for syntax, then not needed */
	if (n == 4 && (v[3].type != IMAP_ARG_LIST || v[3].list_count != 2 ||
		       v[3].list[0].type != IMAP_ARG_ATOM || v[3].list[1].type != IMAP_ARG_ATOM))
		return -1;
	sc->qresync = true;
	return 0;
}

/* SELECT name [(CONDSTORE | QRESYNC (...))] (RFC 7162 §3.1.8, §3.2.5) */
static const char *select_params(struct imap_cmd *cmd, struct select_ctx *sc, struct arena *a)
{
	struct imap_client *ic = cmd->client;
	const struct imap_arg *l = &cmd->args->args[1];

	if (l->type != IMAP_ARG_LIST || l->list_count == 0)
		return "Invalid SELECT parameters";
	for (size_t i = 0; i < l->list_count; i++) {
		const struct imap_arg *p = &l->list[i];

		if (p->type == IMAP_ARG_ATOM && slice_eq_ci(p->str, "CONDSTORE")) {
			ic->condstore_enabled = true;
			continue;
		}
		if (p->type == IMAP_ARG_ATOM && slice_eq_ci(p->str, "QRESYNC") &&
		    i + 1 < l->list_count) {
			/* RFC 7162 §3.2.5: only after ENABLE QRESYNC */
			if (!ic->qresync_enabled)
				return "QRESYNC is not enabled";
			if (qresync_params(sc, &l->list[++i], a) < 0)
				return "Invalid QRESYNC parameters";
			continue;
		}
		return "Unsupported SELECT parameter";
	}
	return NULL;
}

static enum cmd_ret select_start(struct imap_cmd *cmd, bool examine)
{
	struct imap_client *ic = cmd->client;
	struct imap_job *job;
	struct select_ctx *sc;
	const char *name, *error;

	if (cmd->args->count < 1 || cmd->args->count > 2)
		return imap_cmd_bad(cmd, "%s expects a mailbox name",
				    examine ? "EXAMINE" : "SELECT");
	job = imap_job_new(cmd, select_run, select_done, false);
	sc = arena_alloc(job->arena, sizeof(*sc));
	*sc = (struct select_ctx){ .examine = examine,
				   .was_selected = ic->state == IMAP_ST_SELECTED };
	job->ctx = sc;
	if (cmd->args->count == 2 && (error = select_params(cmd, sc, job->arena)) != NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "%s", error);
	}
	job->condstore = ic->condstore_enabled;
	name = imap_arg_mailbox_dup(ic, &cmd->args->args[0], job->arena);
	if (name == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid mailbox name");
	}
	sc->name = name;
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
	uint64_t modseq;
	bool close; /* CLOSE: expunge silently, then deselect */
};

static void expunge_run(struct imap_job *job)
{
	struct expunge_ctx *ec = job->ctx;
	struct store_error err = { 0 };

	if (!job->readonly && (ec->set == NULL || ec->set_count > 0) &&
	    store_expunge(job->ms->store, job->mailbox_id, ec->set, ec->set_count, true,
			  job->arena, &ec->uids, &ec->count, &ec->modseq, &err) < 0) {
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
	imap_expunge_report(ic, ec->uids, ec->count);
	imap_own_change(ic, ec->modseq);
	/* RFC 7162 §3.2.10: with QRESYNC the tagged OK tells the client how
	   far its cache is now current (everything up to it was reported) */
	if (ic->qresync_enabled && !job->failed && ic->state == IMAP_ST_SELECTED) {
		buf_clear(&job->tagged);
		(void)buf_printf(&job->tagged, "%s OK [HIGHESTMODSEQ %llu] EXPUNGE completed\r\n",
				 job->tag, (unsigned long long)ic->highest_modseq);
	}
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

/* ---- what other sessions changed: push, NOOP / CHECK, IDLE ----------------

   Store change events (imap-notify.c) mark the session sync_pending. The
   news is read by a job: at once while idling, else before the next
   command runs (imap_sync_prepare), or by NOOP/CHECK. A sync reads only
   what changed since the session's HIGHESTMODSEQ (store_changes_since,
   index lookups), never the whole UID list.

   Invariant: every change with MODSEQ <= ic->highest_modseq has been
   reported (or waits in deferred_expunges); later ones may be reported
   twice, which clients tolerate, but never not at all. */

struct imap_sync {
	uint64_t highest; /* HIGHESTMODSEQ read before the changes */
	struct store_flags_result *changed; /* new or changed, by UID */
	size_t changed_count;
	uint32_t *vanished; /* expunged since, ascending */
	size_t vanished_count;
	bool unchanged;
};

struct imap_sync *imap_sync_collect(struct imap_job *job, struct store_error *err)
{
	struct imap_sync *sy = arena_alloc(job->arena, sizeof(*sy));
	struct store_mailbox_status st;

	*sy = (struct imap_sync){ 0 };
	if (job->mailbox_id == 0)
		return NULL;
	/* HIGHESTMODSEQ first: the changes read next include everything up
	   to it (and maybe more, reported again later) */
	if (store_mailbox_status(job->ms->store, job->mailbox_id, &st, err) < 0)
		return NULL;
	sy->highest = st.highest_modseq;
	if (job->since_modseq != 0 && st.highest_modseq <= job->since_modseq) {
		sy->unchanged = true;
		return sy;
	}
	if (store_changes_since(job->ms->store, job->mailbox_id, job->since_modseq, job->arena,
				&sy->changed, &sy->changed_count, &sy->vanished,
				&sy->vanished_count, err) < 0)
		return NULL;
	return sy;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Keeps the vanished UIDs the client still sees for a later command. */
static void defer_expunges(struct imap_client *ic, const uint32_t *uids, size_t count)
{
	size_t n = ic->deferred_count, out = 0;

	for (size_t i = 0; i < count; i++)
		n += imap_uid_seq(ic->uids, ic->uid_count, uids[i]) != 0;
	if (n == ic->deferred_count)
		return;
	ic->deferred_expunges = xrealloc(ic->deferred_expunges, n * sizeof(uint32_t));
	for (size_t i = 0; i < count; i++) {
		if (imap_uid_seq(ic->uids, ic->uid_count, uids[i]) != 0)
			ic->deferred_expunges[ic->deferred_count++] = uids[i];
	}
	qsort(ic->deferred_expunges, ic->deferred_count, sizeof(uint32_t), cmp_u32);
	for (size_t i = 0; i < ic->deferred_count; i++) {
		if (out == 0 || ic->deferred_expunges[out - 1] != ic->deferred_expunges[i])
			ic->deferred_expunges[out++] = ic->deferred_expunges[i];
	}
	ic->deferred_count = out;
}

void imap_expunge_report(struct imap_client *ic, const uint32_t *uids, size_t count)
{
	uint32_t *gone = count > 0 ? xmalloc(count * sizeof(*gone)) : NULL;
	size_t n = 0, w = 0;

	for (size_t i = 0; i < count; i++) {
		if (imap_uid_seq(ic->uids, ic->uid_count, uids[i]) != 0)
			gone[n++] = uids[i];
	}
	if (n > 0 && ic->qresync_enabled) {
		struct buf line;

		/* RFC 7162 §3.2.10: one VANISHED instead of n EXPUNGEs */
		buf_init(&line, 0);
		(void)buf_append_str(&line, "* VANISHED ");
		imap_append_uidset(&line, gone, n);
		(void)buf_append_str(&line, "\r\n");
		(void)conn_send(ic->conn, line.data, line.len);
		buf_free(&line);
	} else if (n > 0) {
		struct buf lines;

		/* descending: each number stays valid as the client reads them */
		buf_init(&lines, 0);
		for (size_t i = n; i > 0; i--)
			(void)buf_printf(&lines, "* %u EXPUNGE\r\n",
					 imap_uid_seq(ic->uids, ic->uid_count, gone[i - 1]));
		(void)conn_send(ic->conn, lines.data, lines.len);
		buf_free(&lines);
	}
	/* one pass over the map: both lists are ascending */
	for (size_t r = 0, g = 0; r < ic->uid_count && n > 0; r++) {
		while (g < n && gone[g] < ic->uids[r])
			g++;
		if (g < n && gone[g] == ic->uids[r])
			continue;
		ic->uids[w++] = ic->uids[r];
	}
	if (n > 0)
		ic->uid_count = w;
	free(gone);
}

void imap_own_change(struct imap_client *ic, uint64_t modseq)
{
	if (ic->state == IMAP_ST_SELECTED && modseq == ic->highest_modseq + 1)
		ic->highest_modseq = modseq;
}

static void sync_fetch_line(struct imap_client *ic, uint32_t seq,
			    const struct store_flags_result *r)
{
	struct buf line;

	buf_init(&line, 0);
	(void)buf_printf(&line, "* %u FETCH (UID %u FLAGS ", seq, r->uid);
	imap_append_flags(&line, r->flags, r->keywords);
	if (ic->condstore_enabled)
		(void)buf_printf(&line, " MODSEQ (%llu)", (unsigned long long)r->modseq);
	(void)buf_append_str(&line, ")\r\n");
	(void)conn_send(ic->conn, line.data, line.len);
	buf_free(&line);
}

void imap_sync_apply_ex(struct imap_client *ic, const struct imap_sync *sy, bool allow_expunge)
{
	uint32_t old_max;
	size_t added = 0;

	if (ic->state != IMAP_ST_SELECTED || sy == NULL)
		return;
	if (!sy->unchanged)
		defer_expunges(ic, sy->vanished, sy->vanished_count);
	if (allow_expunge && ic->deferred_count > 0) {
		uint32_t *uids = ic->deferred_expunges;
		size_t count = ic->deferred_count;

		ic->deferred_expunges = NULL;
		ic->deferred_count = 0;
		imap_expunge_report(ic, uids, count);
		free(uids);
	}
	if (sy->unchanged)
		return;
	old_max = ic->uid_count > 0 ? ic->uids[ic->uid_count - 1] : 0;
	for (size_t i = 0; i < sy->changed_count; i++)
		added += sy->changed[i].uid > old_max;
	if (added > 0) {
		ic->uids = xrealloc(ic->uids, (ic->uid_count + added) * sizeof(*ic->uids));
		for (size_t i = 0; i < sy->changed_count; i++) {
			if (sy->changed[i].uid > old_max)
				ic->uids[ic->uid_count++] = sy->changed[i].uid;
		}
		(void)conn_sendf(ic->conn, "* %zu EXISTS\r\n", ic->uid_count);
	}
	for (size_t i = 0; i < sy->changed_count; i++) {
		const struct store_flags_result *r = &sy->changed[i];
		uint32_t seq;

		/* reported already (a sync before, or our own STORE) */
		if (r->uid > old_max || r->modseq <= ic->highest_modseq)
			continue;
		seq = imap_uid_seq(ic->uids, ic->uid_count, r->uid);
		if (seq != 0)
			sync_fetch_line(ic, seq, r);
	}
	if (sy->highest > ic->highest_modseq)
		ic->highest_modseq = sy->highest;
}

void imap_sync_apply(struct imap_client *ic, const struct imap_sync *sy)
{
	imap_sync_apply_ex(ic, sy, true);
}

void imap_sync_prepare(struct imap_client *ic, struct imap_cmd *cmd, struct imap_job *job)
{
	static const char *const own_sync[] = { "SELECT", "EXAMINE", "NOOP", "CHECK",
						"CLOSE", "UNSELECT", "IDLE", "APPEND" };
	static const char *const no_expunge[] = { "FETCH", "STORE", "SEARCH", "SORT",
						  "THREAD" };
	struct slice name;
	bool expunge_ok = true;

	if (ic->state != IMAP_ST_SELECTED || cmd->args == NULL ||
	    (!ic->sync_pending && ic->deferred_count == 0))
		return;
	name = cmd->args->name;
	for (size_t i = 0; i < ARRAY_SIZE(own_sync); i++) {
		if (slice_eq_ci(name, own_sync[i]))
			return;
	}
	/* RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE or
	   SEARCH (nor their UID forms), or sequence numbers drift */
	for (size_t i = 0; i < ARRAY_SIZE(no_expunge); i++)
		expunge_ok = expunge_ok && !slice_eq_ci(name, no_expunge[i]);
	if (!ic->sync_pending && !expunge_ok)
		return;
	job->presync = true;
	job->presync_expunge = expunge_ok;
}

struct sync_req {
	const char *verb; /* NULL: a push sync while idling, no tagged reply */
	struct imap_sync *sync;
};

#define IMAP_IDLE_LINE_MAX 1024

static void sync_run(struct imap_job *job)
{
	struct sync_req *req = job->ctx;
	struct store_error err = { 0 };

	req->sync = imap_sync_collect(job, &err);
	if (req->sync == NULL && job->mailbox_id != 0 && err.code != STORE_NOT_FOUND) {
		imap_job_fail(job, "sync", &err);
		return;
	}
	/* a mailbox deleted under us reports nothing; the next command fails */
	if (req->verb != NULL)
		imap_job_tagged(job, "OK", "%s completed", req->verb);
}

static void idle_kick(struct imap_client *ic);

static void sync_done(struct imap_client *ic, struct imap_job *job)
{
	struct sync_req *req = job->ctx;

	if (!job->failed && req->sync != NULL)
		imap_sync_apply(ic, req->sync);
	if (req->verb == NULL) {
		ic->sync_busy = false;
		if (ic->sync_pending)
			idle_kick(ic); /* more news arrived while this one ran */
	}
}

enum cmd_ret imap_cmd_sync(struct imap_cmd *cmd)
{
	struct imap_job *job = imap_job_new(cmd, sync_run, sync_done, false);
	struct sync_req *req = arena_alloc(job->arena, sizeof(*req));

	*req = (struct sync_req){ .verb = slice_eq_ci(cmd->args->name, "CHECK") ? "CHECK"
										 : "NOOP" };
	job->ctx = req;
	cmd->client->sync_pending = false;
	return imap_job_submit(job);
}

/* ---- IDLE (RFC 2177, RFC 9051 §6.3.13) ---------------------------------------

   Nothing runs while a client idles: no timer, no thread, no database
   connection. A store change event for the selected mailbox starts one
   sync job, whose completion sends the untagged responses. */

static void idle_kick(struct imap_client *ic)
{
	struct imap_cmd cmd = { .client = ic, .tag = ic->idle_tag };
	struct imap_job *job;
	struct sync_req *req;

	if (!ic->idling || ic->sync_busy || ic->state != IMAP_ST_SELECTED ||
	    conn_is_closing(ic->conn) || (!ic->sync_pending && ic->deferred_count == 0))
		return;
	job = imap_job_new(&cmd, sync_run, sync_done, false);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct sync_req){ .verb = NULL };
	job->ctx = req;
	job->no_reply = true;
	ic->sync_pending = false;
	ic->sync_busy = true;
	(void)imap_job_submit(job);
}

/* imap-notify: the selected mailbox changed (on the session's loop). */
static void mailbox_changed(void *ctx)
{
	struct imap_client *ic = ctx;

	ic->sync_pending = true;
	idle_kick(ic);
}

enum cmd_ret imap_cmd_idle(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "IDLE takes no arguments");
	snprintf(ic->idle_tag, sizeof(ic->idle_tag), "%s", cmd->tag);
	ic->idling = true;
	(void)conn_send_str(ic->conn, "+ idling\r\n");
	idle_kick(ic); /* news that arrived before IDLE */
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
