/* APPEND (RFC 9051 §6.3.12, RFC 4315 APPENDUID, RFC 7889 APPENDLIMIT).

   The message goes through deliver_message(), the one write path shared
   with LMTP: parsed once, body into the blob store, metadata row. The
   literal is read whole by the parser (its limit is the post-login
   max_literal), so [TOOBIG] is checked after reading it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"

struct append_req {
	const char *mailbox;
	char *data; /* malloc */
	size_t len;
	uint32_t flags;
	const char **keywords;
	size_t keyword_count;
	int64_t internal_date;
	/* results */
	bool ok;
	struct imap_sync *sync; /* appended to the selected mailbox */
	char warning[300];      /* logged by the completion */
};

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
static int parse_date_time(struct slice s, int64_t *t_r)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char buf[40];
	int day, year, hh, mm, ss, zone, month = -1;
	char mon[4], sign;
	struct tm tm;
	time_t t;

	if (s.len >= sizeof(buf))
		return -1;
	memcpy(buf, s.ptr, s.len);
	buf[s.len] = '\0';
	if (sscanf(buf, "%2d-%3s-%4d %2d:%2d:%2d %c%4d", &day, mon, &year, &hh, &mm, &ss, &sign,
		   &zone) != 8 || (sign != '+' && sign != '-'))
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strcasecmp(mon, months[i]) == 0)
			month = i;
	}
	if (month < 0 || day < 1 || day > 31 || year < 1900 || hh > 23 || mm > 59 || ss > 60 ||
	    zone % 100 > 59)
		return -1;
	tm = (struct tm){ .tm_mday = day, .tm_mon = month, .tm_year = year - 1900,
			  .tm_hour = hh, .tm_min = mm, .tm_sec = ss };
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	zone = (zone / 100) * 3600 + (zone % 100) * 60;
	*t_r = (int64_t)t - (sign == '+' ? zone : -zone);
	return 0;
}

static void append_store(struct imap_job *job)
{
	struct append_req *req = job->ctx;
	struct store_error err = { 0 };
	struct store_account account;
	struct store_mailbox mbox = { 0 };
	struct deliver_result res;

	if (store_mailbox_get(job->ms->store, job->account_id, req->mailbox, job->arena, &mbox,
			      &err) < 0 || mbox.is_noselect) {
		if (mbox.is_noselect || err.code == STORE_NOT_FOUND || err.code == STORE_INVALID)
			imap_job_tagged(job, "NO", "[TRYCREATE] No such mailbox");
		else
			imap_job_fail(job, "append", &err);
		return;
	}
	if (store_account_get(job->ms->store, job->account_id, job->arena, &account, &err) < 0) {
		imap_job_fail(job, "append", &err);
		return;
	}
	deliver_message(job->ms, account.primary_address, mbox.name, req->data, req->len,
			req->flags, req->internal_date, &res);
	if (res.status == DELIVER_TEMPFAIL) {
		job->failed = true;
		snprintf(job->error, sizeof(job->error), "op=append %.280s", res.reason);
		return;
	}
	if (res.status != DELIVER_OK) {
		imap_job_tagged(job, "NO", "[CANNOT] Message refused");
		return;
	}
	if (req->keyword_count > 0) {
		struct store_uid_range one = { res.uid, res.uid };
		struct store_flags_update upd = { .op = STORE_FLAGS_ADD,
						  .keywords = req->keywords,
						  .keyword_count = req->keyword_count };
		struct store_flags_result *fr;
		uint32_t *failed;
		size_t fr_count, failed_count;

		if (store_flags_update(job->ms->store, mbox.id, &one, 1, &upd, job->arena, &fr,
				       &fr_count, &failed, &failed_count, &err) < 0)
			snprintf(req->warning, sizeof(req->warning),
				 "uid=%u keywords not set: %s %s", res.uid,
				 store_err_name(err.code), err.msg);
	}
	req->ok = true;
	/* RFC 9051 §6.3.12: the selected mailbox announces the new message */
	if (mbox.id == job->mailbox_id)
		req->sync = imap_sync_collect(job, &err);
	imap_job_tagged(job, "OK", "[APPENDUID %u %u] APPEND completed", res.uidvalidity,
			res.uid);
}

static void append_run(struct imap_job *job)
{
	struct append_req *req = job->ctx;

	append_store(job);
	free(req->data);
	req->data = NULL;
}

static void append_done(struct imap_client *ic, struct imap_job *job)
{
	struct append_req *req = job->ctx;

	if (req->sync != NULL)
		imap_sync_apply(ic, req->sync);
	if (req->warning[0] != '\0')
		log_warn(conn_log(ic->conn), "imap.append", "%s", log_str(req->warning));
}

enum cmd_ret imap_cmd_append(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	const struct imap_cmd_args *args = cmd->args;
	const struct imap_arg *msg;
	struct imap_job *job;
	struct append_req *req;
	size_t next = 1;

	if (args->count < 2 || args->count > 4)
		return imap_cmd_bad(cmd, "APPEND expects a mailbox, optional flags and date, and "
					 "a message literal");
	msg = &args->args[args->count - 1];
	if (msg->type != IMAP_ARG_LITERAL)
		return imap_cmd_bad(cmd, "APPEND expects the message as a literal");
	if (ic->srv->cfg->append_limit != 0 && msg->str.len > ic->srv->cfg->append_limit)
		return imap_cmd_no(cmd, "[TOOBIG] Message exceeds APPENDLIMIT");
	if (msg->str.len == 0)
		return imap_cmd_no(cmd, "[CANNOT] Empty message");
	job = imap_job_new(cmd, append_run, append_done, false);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct append_req){ 0 };
	job->ctx = req;
	req->mailbox = imap_arg_mailbox_dup(ic, &args->args[0], job->arena);
	if (req->mailbox == NULL)
		goto bad;
	if (next < args->count - 1 && args->args[next].type == IMAP_ARG_LIST) {
		if (imap_flags_parse(args->args[next].list, args->args[next].list_count,
				     job->arena, &req->flags, &req->keywords,
				     &req->keyword_count) < 0)
			goto bad;
		next++;
	}
	if (next < args->count - 1) {
		if (args->args[next].type != IMAP_ARG_QUOTED ||
		    parse_date_time(args->args[next].str, &req->internal_date) < 0)
			goto bad;
		next++;
	}
	if (next != args->count - 1)
		goto bad;
	req->data = xmalloc(msg->str.len);
	memcpy(req->data, msg->str.ptr, msg->str.len);
	req->len = msg->str.len;
	return imap_job_submit(job);
bad:
	imap_job_discard(&job);
	return imap_cmd_bad(cmd, "Invalid APPEND arguments");
}
