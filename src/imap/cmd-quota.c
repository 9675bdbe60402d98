/* QUOTA (RFC 9208): GETQUOTAROOT, GETQUOTA, SETQUOTA, and the check that
   makes APPEND and COPY answer NO [OVERQUOTA].

   One quota root per account, named "" (as Dovecot's default "User
   quota" root is per user): every mailbox of the account belongs to it.
   Usage is the store's per-account counters (store_account_get:
   message_count and total_bytes of live messages, kept exact in the
   transactions that change messages), so no command counts rows. The
   limits are the account's own (`sora-admin accounts update
   --quota-storage/--quota-messages`, stored with the account) and, where
   it has none, the IMAP server's `quota_storage` and `quota_messages`
   settings; with neither there is no quota root at all (RFC 9208 §3.4:
   QUOTAROOT lists no roots). Users may not change limits: SETQUOTA
   answers NO [NOPERM]. */
#include <string.h>

#include "../deliver/deliver.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"

struct quota_req {
	const char *mailbox; /* GETQUOTAROOT */
	uint64_t limit_bytes, limit_messages;
};

static bool quota_enabled(uint64_t limit_bytes, uint64_t limit_messages)
{
	return limit_bytes != 0 || limit_messages != 0;
}

/* The account's own limits first, then the server's. */
static uint64_t limit_storage(const struct imap_job *job, const struct store_account *acc)
{
	return acc->quota_storage != 0 ? acc->quota_storage : job->quota_storage;
}

static uint64_t limit_messages(const struct imap_job *job, const struct store_account *acc)
{
	return acc->quota_messages != 0 ? acc->quota_messages : job->quota_messages;
}

bool imap_quota_exceeded(const struct imap_job *job, const struct store_account *acc,
			 uint64_t add_bytes, uint64_t add_messages)
{
	uint64_t bytes = limit_storage(job, acc), messages = limit_messages(job, acc);

	if (bytes != 0 && acc->total_bytes + add_bytes > bytes)
		return true;
	return messages != 0 && acc->message_count + add_messages > messages;
}

/* "* QUOTA "" (STORAGE used limit MESSAGE used limit)": STORAGE in units
   of 1024 octets, rounded up (RFC 9208 §5.1) */
static void quota_line(struct imap_job *job, const struct quota_req *req,
		       const struct store_account *acc)
{
	bool first = true;

	(void)buf_append_str(&job->out, "* QUOTA \"\" (");
	if (req->limit_bytes != 0) {
		(void)buf_printf(&job->out, "STORAGE %llu %llu",
				 (unsigned long long)((acc->total_bytes + 1023) / 1024),
				 (unsigned long long)(req->limit_bytes / 1024));
		first = false;
	}
	if (req->limit_messages != 0)
		(void)buf_printf(&job->out, "%sMESSAGE %llu %llu", first ? "" : " ",
				 (unsigned long long)acc->message_count,
				 (unsigned long long)req->limit_messages);
	(void)buf_append_str(&job->out, ")\r\n");
}

static void quota_run(struct imap_job *job)
{
	struct quota_req *req = job->ctx;
	struct store_error err = {0};
	struct store_account acc;

	if (store_account_get(job->ms->store, job->account_id, job->arena, &acc, &err) < 0) {
		imap_job_fail(job, "getquota", &err);
		return;
	}
	req->limit_bytes = limit_storage(job, &acc);
	req->limit_messages = limit_messages(job, &acc);
	if (req->mailbox == NULL && !quota_enabled(req->limit_bytes, req->limit_messages)) {
		imap_job_tagged(job, "NO", "[NONEXISTENT] No such quota root");
		return;
	}
	if (req->mailbox != NULL) {
		struct store_mailbox mbox;

		if (store_mailbox_get(job->ms->store, job->account_id, req->mailbox, job->arena,
				      &mbox, &err) < 0) {
			if (err.code == STORE_NOT_FOUND || err.code == STORE_INVALID)
				imap_job_tagged(job, "NO", "[NONEXISTENT] No such mailbox");
			else
				imap_job_fail(job, "getquotaroot", &err);
			return;
		}
		(void)buf_append_str(&job->out, "* QUOTAROOT ");
		imap_append_mailbox(&job->out, mbox.name, job->utf8);
		if (quota_enabled(req->limit_bytes, req->limit_messages))
			(void)buf_append_str(&job->out, " \"\"");
		(void)buf_append_str(&job->out, "\r\n");
	}
	if (quota_enabled(req->limit_bytes, req->limit_messages))
		quota_line(job, req, &acc);
	imap_job_tagged(job, "OK",
			req->mailbox != NULL ? "GETQUOTAROOT completed" : "GETQUOTA completed");
}

static enum cmd_ret quota_start(struct imap_cmd *cmd, const char *mailbox, struct imap_job *job)
{
	struct quota_req *req = arena_alloc(job->arena, sizeof(*req));

	(void)cmd;
	*req = (struct quota_req){.mailbox = mailbox};
	job->ctx = req;
	return imap_job_submit(job);
}

/* GETQUOTAROOT mailbox */
enum cmd_ret imap_cmd_getquotaroot(struct imap_cmd *cmd)
{
	struct imap_job *job;
	const char *name;

	if (cmd->args->count != 1)
		return imap_cmd_bad(cmd, "GETQUOTAROOT expects a mailbox name");
	job = imap_job_new(cmd, quota_run, NULL, false);
	name = imap_arg_mailbox_dup(cmd->client, &cmd->args->args[0], job->arena);
	if (name == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "GETQUOTAROOT expects a mailbox name");
	}
	return quota_start(cmd, name, job);
}

/* GETQUOTA root */
enum cmd_ret imap_cmd_getquota(struct imap_cmd *cmd)
{
	const struct imap_arg *a = cmd->args->count == 1 ? &cmd->args->args[0] : NULL;

	if (a == NULL ||
	    (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL))
		return imap_cmd_bad(cmd, "GETQUOTA expects a quota root");
	/* whether "" exists depends on the account's limits: see quota_run */
	if (a->str.len != 0)
		return imap_cmd_no(cmd, "[NONEXISTENT] No such quota root");
	return quota_start(cmd, NULL, imap_job_new(cmd, quota_run, NULL, false));
}

/* SETQUOTA root (resource limit ...): limits are the administrator's */
enum cmd_ret imap_cmd_setquota(struct imap_cmd *cmd)
{
	if (cmd->args->count != 2 || cmd->args->args[1].type != IMAP_ARG_LIST)
		return imap_cmd_bad(cmd, "SETQUOTA expects a quota root and a list of limits");
	return imap_cmd_no(cmd, "[NOPERM] Quota limits are set by the administrator");
}

struct copy_usage {
	uint64_t bytes, messages;
};

static int copy_usage_cb(const struct store_message *msg, void *ctx)
{
	struct copy_usage *u = ctx;

	u->bytes += msg->size;
	u->messages++;
	return 0;
}

int imap_quota_check_copy(struct imap_job *job, const struct store_uid_range *set, size_t set_count,
			  struct store_error *err)
{
	struct copy_usage u = {0};
	struct store_account acc;

	if (store_account_get(job->ms->store, job->account_id, job->arena, &acc, err) < 0)
		return -1;
	if (limit_storage(job, &acc) == 0 && limit_messages(job, &acc) == 0)
		return 0;
	if (store_fetch(job->ms->store, job->mailbox_id, set, set_count, STORE_FETCH_SIZE, 0,
			copy_usage_cb, &u, err) < 0)
		return -1;
	return imap_quota_exceeded(job, &acc, u.bytes, u.messages) ? 1 : 0;
}

static int deleted_size_cb(const struct store_message *msg, void *ctx)
{
	uint64_t *bytes = ctx;

	if ((msg->flags & STORE_FLAG_DELETED) != 0)
		*bytes += msg->size;
	return 0;
}

int imap_quota_deleted_storage(struct imap_job *job, int64_t mailbox_id, uint64_t *kib_r)
{
	struct store_error err = {0};
	uint64_t bytes = 0;

	/* one pass over the mailbox: only for clients that ask */
	if (store_fetch(job->ms->store, mailbox_id, NULL, 0, STORE_FETCH_SIZE, 0, deleted_size_cb,
			&bytes, &err) < 0) {
		imap_job_fail(job, "status", &err);
		return -1;
	}
	*kib_r = (bytes + 1023) / 1024;
	return 0;
}
