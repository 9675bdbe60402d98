/* APPEND (RFC 9051 §6.3.12, RFC 4315 APPENDUID, RFC 7889 APPENDLIMIT,
   RFC 3502 MULTIAPPEND, RFC 6855 UTF8 data, RFC 3516 literal8).

   Every message of one APPEND is parsed once (src/mime), its body put in
   the blob store, then all metadata rows go in with one
   store_append_batch(): all or none, as MULTIAPPEND requires. Bodies of a
   failed batch are left unreferenced for cleanup, as after a crash in
   deliver_message(). The parser's literal limit is APPENDLIMIT after
   login, so [TOOBIG] is answered when a literal is announced, before its
   octets are read (a non-synchronising one is drained, imap-client.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>


#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"

#define APPEND_MAX_MESSAGES 1000

struct append_msg {
	char *data; /* malloc */
	size_t len;
	uint32_t flags;
	const char **keywords;
	size_t keyword_count;
	int64_t internal_date;
};

struct append_req {
	const char *mailbox;
	struct append_msg *msgs; /* in the job's arena */
	size_t count;
	/* results */
	struct imap_sync *sync; /* appended to the selected mailbox */
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

/* Parses one message and puts its body in the blob store. 0, or -1 with
   the job answered (NO for a refused message, failure for the world). */
static int append_prepare(struct imap_job *job, const char *address, struct append_msg *am,
			  struct store_message_new *msg)
{
	char err[300];
	int ret = deliver_prepare(job->ms, address, am->data, am->len, job->arena, msg, err,
				  sizeof(err));

	if (ret == DELIVER_PREPARE_REFUSED) {
		imap_job_tagged(job, "NO", "[CANNOT] Message refused");
		return -1;
	}
	if (ret < 0) {
		job->failed = true;
		snprintf(job->error, sizeof(job->error), "op=append %.250s", err);
		return -1;
	}
	msg->flags = am->flags;
	msg->keywords = am->keywords;
	msg->keyword_count = am->keyword_count;
	msg->internal_date = am->internal_date != 0 ? am->internal_date : (int64_t)time(NULL);
	return 0;
}

static void append_store(struct imap_job *job)
{
	struct append_req *req = job->ctx;
	struct store_error err = { 0 };
	struct store_account account;
	struct store_mailbox mbox = { 0 };
	struct store_append *items;
	struct store_message_new *msgs;
	uint32_t *uids;

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
	{
		/* RFC 9208 §4.1.1: the whole batch must fit (cmd-quota.c) */
		uint64_t bytes = 0;

		for (size_t i = 0; i < req->count; i++)
			bytes += req->msgs[i].len;
		if (imap_quota_exceeded(job, &account, bytes, req->count)) {
			imap_job_tagged(job, "NO", "[OVERQUOTA] Quota exceeded");
			return;
		}
	}
	items = arena_alloc(job->arena, req->count * sizeof(*items));
	msgs = arena_alloc(job->arena, req->count * sizeof(*msgs));
	uids = arena_alloc(job->arena, req->count * sizeof(*uids));
	for (size_t i = 0; i < req->count; i++) {
		msgs[i] = (struct store_message_new){ 0 };
		if (append_prepare(job, account.primary_address, &req->msgs[i], &msgs[i]) < 0)
			return;
		items[i] = (struct store_append){ .mailbox_id = mbox.id, .msg = &msgs[i] };
	}
	if (store_append_batch(job->ms->store, items, req->count, &err) < 0) {
		if (err.code == STORE_INVALID)
			imap_job_tagged(job, "NO", "[CANNOT] %s", err.msg);
		else
			imap_job_fail(job, "append", &err);
		return;
	}
	for (size_t i = 0; i < req->count; i++)
		uids[i] = items[i].uid_r;
	/* RFC 9051 §6.3.12: the selected mailbox announces the new messages */
	if (mbox.id == job->mailbox_id)
		req->sync = imap_sync_collect(job, &err);
	buf_clear(&job->tagged);
	(void)buf_printf(&job->tagged, "%s OK [APPENDUID %u ", job->tag, items[0].uidvalidity_r);
	imap_append_uidset(&job->tagged, uids, req->count);
	(void)buf_append_str(&job->tagged, "] APPEND completed\r\n");
}

static void append_run(struct imap_job *job)
{
	struct append_req *req = job->ctx;

	append_store(job);
	for (size_t i = 0; i < req->count; i++) {
		free(req->msgs[i].data);
		req->msgs[i].data = NULL;
	}
}

static void append_done(struct imap_client *ic, struct imap_job *job)
{
	struct append_req *req = job->ctx;

	if (req->sync != NULL)
		imap_sync_apply(ic, req->sync);
}

/* One message: [flags] [date-time] (literal | UTF8 (literal8)), from
   args[*next]. NULL on success, else the BAD text. */
static const char *append_parse_one(struct imap_cmd *cmd, struct imap_job *job, size_t *next,
				    struct append_msg *am, const struct imap_arg **lit_r)
{
	struct imap_client *ic = cmd->client;
	const struct imap_cmd_args *args = cmd->args;
	size_t i = *next;
	const struct imap_arg *lit = NULL;

	*am = (struct append_msg){ 0 };
	if (i < args->count && args->args[i].type == IMAP_ARG_LIST) {
		if (imap_flags_parse(args->args[i].list, args->args[i].list_count, job->arena,
				     &am->flags, &am->keywords, &am->keyword_count) < 0)
			return "Invalid APPEND flags";
		i++;
	}
	if (i < args->count && args->args[i].type == IMAP_ARG_QUOTED) {
		if (parse_date_time(args->args[i].str, &am->internal_date) < 0)
			return "Invalid APPEND date-time";
		i++;
	}
	if (i < args->count && args->args[i].type == IMAP_ARG_LITERAL) {
		lit = &args->args[i++];
	} else if (i + 1 < args->count && args->args[i].type == IMAP_ARG_ATOM &&
		   slice_eq_ci(args->args[i].str, "UTF8")) {
		const struct imap_arg *l = &args->args[i + 1];

		/* RFC 6855 §4: UTF8 (~{n}...) once UTF8=ACCEPT is enabled */
		if (!ic->utf8_enabled)
			return "APPEND UTF8 needs ENABLE UTF8=ACCEPT";
		if (l->type != IMAP_ARG_LIST || l->list_count != 1 ||
		    l->list[0].type != IMAP_ARG_LITERAL || !l->list[0].literal8)
			return "APPEND UTF8 expects (~{n} literal8)";
		lit = &l->list[0];
		i += 2;
	} else {
		return "APPEND expects the message as a literal";
	}
	*next = i;
	*lit_r = lit;
	return NULL;
}

enum cmd_ret imap_cmd_append(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	const struct imap_cmd_args *args = cmd->args;
	uint64_t limit = ic->srv->cfg->append_limit;
	struct imap_job *job;
	struct append_req *req;
	size_t next = 1, cap;

	if (args->count < 2)
		return imap_cmd_bad(cmd, "APPEND expects a mailbox, optional flags and date, and "
					 "a message literal");
	job = imap_job_new(cmd, append_run, append_done, false);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct append_req){ 0 };
	job->ctx = req;
	cap = MIN(args->count - 1, (size_t)APPEND_MAX_MESSAGES);
	req->msgs = arena_alloc(job->arena, cap * sizeof(*req->msgs));
	req->mailbox = imap_arg_mailbox_dup(ic, &args->args[0], job->arena);
	if (req->mailbox == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid mailbox name");
	}
	/* RFC 3502: one or more messages, each with its own flags and date */
	while (next < args->count) {
		const struct imap_arg *lit = NULL;
		struct append_msg am;
		const char *error;

		if (req->count == cap) {
			error = "Too many messages in one APPEND";
		} else {
			error = append_parse_one(cmd, job, &next, &am, &lit);
		}
		if (error == NULL && limit != 0 && lit->str.len > limit)
			error = "";
		if (error == NULL && lit->str.len == 0)
			error = "-";
		if (error != NULL) {
			for (size_t i = 0; i < req->count; i++)
				free(req->msgs[i].data);
			imap_job_discard(&job);
			if (error[0] == '\0')
				return imap_cmd_no(cmd, "[TOOBIG] Message exceeds APPENDLIMIT");
			if (strcmp(error, "-") == 0)
				return imap_cmd_no(cmd, "[CANNOT] Empty message");
			return imap_cmd_bad(cmd, "%s", error);
		}
		am.data = xmalloc(lit->str.len);
		memcpy(am.data, lit->str.ptr, lit->str.len);
		am.len = lit->str.len;
		req->msgs[req->count++] = am;
	}
	return imap_job_submit(job);
}
