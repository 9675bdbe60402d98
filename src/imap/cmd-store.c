/* STORE, COPY and MOVE with their UID forms (RFC 9051 §6.4.6-6.4.8, RFC
   4315 COPYUID, RFC 6851 MOVE). Set conversion happens on the loop against
   the session's UID map; the store call runs in a worker. MOVE's EXPUNGE
   responses are sent by the completion, which owns the map. */
#include <stdlib.h>
#include <string.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"

int imap_flags_parse(const struct imap_arg *args, size_t count, struct arena *a,
		     uint32_t *flags_r, const char ***keywords_r, size_t *keyword_count_r)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = {
		{ "\\Seen", STORE_FLAG_SEEN },       { "\\Answered", STORE_FLAG_ANSWERED },
		{ "\\Flagged", STORE_FLAG_FLAGGED }, { "\\Deleted", STORE_FLAG_DELETED },
		{ "\\Draft", STORE_FLAG_DRAFT },     { "\\Recent", 0 },
	};
	const char **kw = arena_alloc(a, (count + 1) * sizeof(*kw));
	uint32_t flags = 0;
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *f = &args[i];
		bool known = false;

		if (f->type != IMAP_ARG_ATOM || f->str.len == 0)
			return -1;
		if (f->str.ptr[0] != '\\') {
			if (f->str.len > STORE_KEYWORD_MAX)
				return -1;
			kw[n++] = arena_strndup(a, f->str.ptr, f->str.len);
			continue;
		}
		for (size_t j = 0; j < ARRAY_SIZE(names); j++) {
			if (slice_eq_ci(f->str, names[j].name)) {
				flags |= names[j].bit;
				known = true;
			}
		}
		if (!known)
			return -1;
	}
	*flags_r = flags;
	*keywords_r = kw;
	*keyword_count_r = n;
	return 0;
}

/* ---- STORE ------------------------------------------------------------------ */

struct store_req {
	struct store_uid_range *set;
	size_t set_count;
	struct store_flags_update upd;
	bool silent;
	bool is_uid;
	bool condstore;
	uint64_t modseq; /* of this change, 0 when nothing changed */
};

/* RFC 7162 §3.1.3: the messages UNCHANGEDSINCE refused, as sequence
   numbers (STORE) or UIDs (UID STORE). */
static void store_modified(struct imap_job *job, const struct store_req *req,
			   const uint32_t *failed, size_t count)
{
	uint32_t *nums = arena_alloc(job->arena, count * sizeof(*nums));
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		uint32_t num = req->is_uid ? failed[i]
					   : imap_uid_seq(job->uids, job->uid_count, failed[i]);

		if (num != 0)
			nums[n++] = num;
	}
	buf_clear(&job->tagged);
	(void)buf_printf(&job->tagged, "%s OK [MODIFIED ", job->tag);
	imap_append_uidset(&job->tagged, nums, n);
	(void)buf_append_str(&job->tagged, "] Conditional STORE failed for some messages\r\n");
}

static void store_run(struct imap_job *job)
{
	struct store_req *req = job->ctx;
	struct store_error err = { 0 };
	struct store_flags_result *res = NULL;
	uint32_t *failed = NULL;
	size_t count = 0, failed_count = 0;

	if (req->set_count > 0 &&
	    store_flags_update(job->ms->store, job->mailbox_id, req->set, req->set_count,
			       &req->upd, job->arena, &res, &count, &failed, &failed_count,
			       &err) < 0) {
		if (err.code == STORE_INVALID) {
			imap_job_tagged(job, "NO", "[CANNOT] %s", err.msg);
			return;
		}
		imap_job_fail(job, "store", &err);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		uint32_t seq = imap_uid_seq(job->uids, job->uid_count, res[i].uid);

		if (res[i].changed)
			req->modseq = MAX(req->modseq, res[i].modseq);
		/* RFC 9051 §6.4.6: .SILENT still reports changes it did not ask
		   for; we have none of those to report */
		if (seq == 0 || req->silent)
			continue;
		(void)buf_printf(&job->out, "* %u FETCH (", seq);
		/* RFC 7162 §3.2.4: with QRESYNC every FETCH carries the UID */
		if (req->is_uid || job->qresync)
			(void)buf_printf(&job->out, "UID %u ", res[i].uid);
		(void)buf_append_str(&job->out, "FLAGS ");
		imap_append_flags(&job->out, res[i].flags, res[i].keywords);
		if (req->condstore)
			(void)buf_printf(&job->out, " MODSEQ (%llu)",
					 (unsigned long long)res[i].modseq);
		(void)buf_append_str(&job->out, ")\r\n");
	}
	if (failed_count > 0) {
		store_modified(job, req, failed, failed_count);
		return;
	}
	imap_job_tagged(job, "OK", "STORE completed");
}

static void store_done(struct imap_client *ic, struct imap_job *job)
{
	const struct store_req *req = job->ctx;

	if (!job->failed && req->modseq != 0)
		imap_own_change(ic, req->modseq);
}

enum cmd_ret imap_cmd_store(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	struct store_req *req;
	struct slice item;
	const struct imap_arg *flag_args;
	size_t flag_count;
	const char **kw;
	struct imap_cmd_args shifted;
	uint64_t unchanged_since = 0;
	bool conditional = false;

	/* RFC 7162 §3.1.3: STORE set (UNCHANGEDSINCE modseq) item flags */
	if (args->count >= 4 && args->args[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *l = &args->args[1];

		if (l->list_count != 2 || l->list[0].type != IMAP_ARG_ATOM ||
		    !slice_eq_ci(l->list[0].str, "UNCHANGEDSINCE") ||
		    l->list[1].type != IMAP_ARG_ATOM ||
		    str_to_u64(l->list[1].str, &unchanged_since) < 0)
			return imap_cmd_bad(cmd, "Invalid STORE modifiers");
		conditional = true;
		shifted = *args;
		shifted.args = arena_alloc(ic->cmd_arena,
					   (args->count - 1) * sizeof(*shifted.args));
		shifted.args[0] = args->args[0];
		memcpy(&shifted.args[1], &args->args[2], (args->count - 2) * sizeof(*shifted.args));
		shifted.count = args->count - 1;
		args = &shifted;
	}
	if (args->count < 3 || args->args[0].type != IMAP_ARG_ATOM ||
	    args->args[1].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "STORE expects a sequence set, an item and flags");
	if (ic->readonly)
		return imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
	job = imap_job_new(cmd, store_run, store_done, true);
	req = arena_alloc(job->arena, sizeof(*req));
	if (conditional)
		ic->condstore_enabled = true;
	*req = (struct store_req){ .is_uid = cmd->is_uid, .condstore = ic->condstore_enabled };
	/* UNCHANGEDSINCE 0 refuses every message (RFC 7162 §3.1.3); the store
	   treats 0 as unconditional, and no message has MODSEQ 0 */
	req->upd.unchanged_since = conditional ? MAX(unchanged_since, 1u) : 0;
	job->ctx = req;
	item = args->args[1].str;
	if (item.len > 0 && item.ptr[0] == '+') {
		req->upd.op = STORE_FLAGS_ADD;
		item.ptr++, item.len--;
	} else if (item.len > 0 && item.ptr[0] == '-') {
		req->upd.op = STORE_FLAGS_REMOVE;
		item.ptr++, item.len--;
	} else {
		req->upd.op = STORE_FLAGS_REPLACE;
	}
	if (slice_eq_ci(item, "FLAGS.SILENT"))
		req->silent = true;
	else if (!slice_eq_ci(item, "FLAGS")) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid STORE item");
	}
	if (args->args[2].type == IMAP_ARG_LIST && args->count == 3) {
		flag_args = args->args[2].list;
		flag_count = args->args[2].list_count;
	} else {
		flag_args = &args->args[2];
		flag_count = args->count - 2;
	}
	if (imap_flags_parse(flag_args, flag_count, job->arena, &req->upd.flags, &kw,
			     &req->upd.keyword_count) < 0) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid flags");
	}
	req->upd.keywords = kw;
	if (imap_seqset_parse(ic, args->args[0].str, cmd->is_uid, job->arena, &req->set,
			      &req->set_count) < 0) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid sequence set");
	}
	return imap_job_submit(job);
}

/* ---- COPY / MOVE ------------------------------------------------------------- */

struct copy_req {
	struct store_uid_range *set;
	size_t set_count;
	const char *dst;
	bool move;
	struct store_copy_result res;
	bool ok;
	struct imap_sync *sync; /* copied into the selected mailbox */
};

static void copy_run(struct imap_job *job)
{
	struct copy_req *req = job->ctx;
	struct store_error err = { 0 };
	struct store_mailbox dst = { 0 };
	const char *verb = req->move ? "MOVE" : "COPY";

	if (store_mailbox_get(job->ms->store, job->account_id, req->dst, job->arena, &dst,
			      &err) < 0 || dst.is_noselect) {
		if (dst.is_noselect || err.code == STORE_NOT_FOUND || err.code == STORE_INVALID)
			imap_job_tagged(job, "NO", "[TRYCREATE] No such mailbox");
		else
			imap_job_fail(job, verb, &err);
		return;
	}
	if (req->set_count == 0) {
		imap_job_tagged(job, "OK", "%s completed", verb);
		return;
	}
	if (req->move && dst.id == job->mailbox_id) {
		imap_job_tagged(job, "NO", "[CANNOT] Cannot move into the same mailbox");
		return;
	}
	if (!req->move) {
		/* RFC 9208 §4.1.1 (cmd-quota.c); a MOVE adds nothing */
		int over = imap_quota_check_copy(job, req->set, req->set_count, &err);

		if (over != 0) {
			if (over > 0)
				imap_job_tagged(job, "NO", "[OVERQUOTA] Quota exceeded");
			else
				imap_job_fail(job, verb, &err);
			return;
		}
	}
	if (store_copy(job->ms->store, job->mailbox_id, req->set, req->set_count, dst.id,
		       req->move, job->arena, &req->res, &err) < 0) {
		if (err.code == STORE_INVALID)
			imap_job_tagged(job, "NO", "[CANNOT] %s", err.msg);
		else
			imap_job_fail(job, verb, &err);
		return;
	}
	req->ok = true;
	if (!req->move && dst.id == job->mailbox_id)
		req->sync = imap_sync_collect(job, &err);
	if (req->res.count == 0) {
		imap_job_tagged(job, "OK", "%s completed", verb);
		return;
	}
	if (req->move) {
		/* RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs */
		(void)buf_printf(&job->out, "* OK [COPYUID %u ", req->res.dst_uidvalidity);
		imap_append_uidset(&job->out, req->res.src_uids, req->res.count);
		(void)buf_append_str(&job->out, " ");
		imap_append_uidset(&job->out, req->res.dst_uids, req->res.count);
		(void)buf_append_str(&job->out, "] Moved\r\n");
		imap_job_tagged(job, "OK", "MOVE completed");
		return;
	}
	buf_clear(&job->tagged);
	(void)buf_printf(&job->tagged, "%s OK [COPYUID %u ", job->tag, req->res.dst_uidvalidity);
	imap_append_uidset(&job->tagged, req->res.src_uids, req->res.count);
	(void)buf_append_str(&job->tagged, " ");
	imap_append_uidset(&job->tagged, req->res.dst_uids, req->res.count);
	(void)buf_append_str(&job->tagged, "] COPY completed\r\n");
}

static void copy_done(struct imap_client *ic, struct imap_job *job)
{
	struct copy_req *req = job->ctx;

	if (req->sync != NULL)
		imap_sync_apply(ic, req->sync);
	if (!req->ok || !req->move)
		return;
	imap_expunge_report(ic, req->res.src_uids, req->res.count);
	imap_own_change(ic, req->res.src_modseq);
}

static enum cmd_ret copy_start(struct imap_cmd *cmd, bool move)
{
	struct imap_client *ic = cmd->client;
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	struct copy_req *req;

	if (args->count != 2 || args->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "%s expects a sequence set and a mailbox",
				    move ? "MOVE" : "COPY");
	if (move && ic->readonly)
		return imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
	job = imap_job_new(cmd, copy_run, copy_done, false);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct copy_req){ .move = move };
	job->ctx = req;
	req->dst = imap_arg_mailbox_dup(ic, &args->args[1], job->arena);
	if (req->dst == NULL || imap_seqset_parse(ic, args->args[0].str, cmd->is_uid, job->arena,
						  &req->set, &req->set_count) < 0) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid sequence set or mailbox");
	}
	return imap_job_submit(job);
}

enum cmd_ret imap_cmd_copy(struct imap_cmd *cmd)
{
	return copy_start(cmd, false);
}

enum cmd_ret imap_cmd_move(struct imap_cmd *cmd)
{
	return copy_start(cmd, true);
}
