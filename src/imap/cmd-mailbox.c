/* Mailbox commands of the authenticated state (RFC 9051 §6.3): ENABLE,
   CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, NAMESPACE,
   STATUS; LIST attributes from RFC 3348 (CHILDREN) and RFC 6154
   (SPECIAL-USE).

   Every store call runs in a worker job (imap_job_*); inputs are copied
   into the job's arena on the loop, before the command arena is reused.
   Names are UTF-8 in the store; IMAP4rev1 clients see and send modified
   UTF-7 (RFC 3501 §5.1.3), IMAP4rev2 clients UTF-8 (RFC 9051 §5.1). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/utf8.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"
#include "imap-utf7.h"


struct mailbox_req {
	const char *name;
	const char *name2;    /* RENAME target; LIST pattern */
	unsigned int items;   /* STATUS */
	bool lsub;
};

/* ---- mailbox names: UTF-8 or modified UTF-7 (imap-utf7.c) ---------------- */

const char *imap_arg_mailbox_dup(const struct imap_client *ic, const struct imap_arg *a,
				 struct arena *arena)
{
	const char *raw = imap_arg_astring_dup(a, arena);
	const char *name = NULL;
	struct buf out;

	if (raw == NULL)
		return NULL;
	if (ic->rev2_enabled || ic->utf8_enabled)
		return store_utf8_is_valid(raw, strlen(raw)) ? raw : NULL;
	/* RFC 6855 §3: without UTF8=ACCEPT names are modified UTF-7, 7-bit */
	buf_init(&out, STORE_MAILBOX_NAME_MAX * 4);
	if (imap_utf7_to_utf8(raw, &out) == 0)
		name = arena_strndup(arena, out.data != NULL ? out.data : "", out.len);
	buf_free(&out);
	return name;
}

void imap_append_mailbox(struct buf *out, const char *name, bool utf8)
{
	struct buf enc;

	if (utf8) {
		imap_append_string(out, name);
		return;
	}
	buf_init(&enc, 0);
	imap_utf8_to_utf7(name, &enc);
	imap_append_string(out, enc.data != NULL ? enc.data : "");
	buf_free(&enc);
}

/* ---- ENABLE (RFC 5161) ------------------------------------------------- */

enum cmd_ret imap_cmd_enable(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	struct buf enabled;

	if (cmd->args->count == 0)
		return imap_cmd_bad(cmd, "ENABLE expects capability names");
	buf_init(&enabled, 4096);
	for (size_t i = 0; i < cmd->args->count; i++) {
		const struct imap_arg *a = &cmd->args->args[i];

		if (a->type != IMAP_ARG_ATOM) {
			buf_free(&enabled);
			return imap_cmd_bad(cmd, "ENABLE expects capability names");
		}
		if (slice_eq_ci(a->str, "IMAP4rev2") && !ic->rev2_enabled) {
			ic->rev2_enabled = true;
			(void)buf_append_str(&enabled, " IMAP4rev2");
		} else if (slice_eq_ci(a->str, "CONDSTORE") && !ic->condstore_enabled) {
			ic->condstore_enabled = true;
			(void)buf_append_str(&enabled, " CONDSTORE");
		} else if (slice_eq_ci(a->str, "QRESYNC") && !ic->qresync_enabled) {
			/* RFC 7162 §3.2.3: implies CONDSTORE */
			ic->qresync_enabled = ic->condstore_enabled = true;
			(void)buf_append_str(&enabled, " QRESYNC");
		} else if (slice_eq_ci(a->str, "UTF8=ACCEPT") && !ic->utf8_enabled &&
			   ic->state == IMAP_ST_AUTH) {
			/* RFC 6855 §3: in the authenticated state only, since
			   the selected mailbox's name would change form */
			ic->utf8_enabled = true;
			(void)buf_append_str(&enabled, " UTF8=ACCEPT");
		}
		/* anything else (unknown names, already enabled) is ignored */
	}
	(void)conn_sendf(ic->conn, "* ENABLED%s\r\n", enabled.data != NULL ? enabled.data : "");
	buf_free(&enabled);
	return imap_cmd_ok(cmd, "ENABLE completed");
}

/* ---- NAMESPACE (RFC 2342) ---------------------------------------------- */

enum cmd_ret imap_cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "NAMESPACE takes no arguments");
	(void)conn_send_str(cmd->client->conn, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	return imap_cmd_ok(cmd, "NAMESPACE completed");
}

/* ---- helpers ------------------------------------------------------------ */

static bool store_said(struct imap_job *job, const char *op, const struct store_error *err)
{
	switch (err->code) {
	case STORE_NOT_FOUND:
		imap_job_tagged(job, "NO", "[NONEXISTENT] Mailbox does not exist");
		return true;
	case STORE_EXISTS:
		imap_job_tagged(job, "NO", "[ALREADYEXISTS] Mailbox already exists");
		return true;
	case STORE_INVALID:
		imap_job_tagged(job, "NO", "[CANNOT] %s", err->msg);
		return true;
	default:
		imap_job_fail(job, op, err);
		return false;
	}
}

static struct mailbox_req *mailbox_req_new(struct imap_cmd *cmd, struct imap_job *job,
					   size_t nargs)
{
	struct mailbox_req *req = arena_alloc(job->arena, sizeof(*req));

	*req = (struct mailbox_req){ 0 };
	if (cmd->args->count < nargs)
		return NULL;
	req->name = imap_arg_mailbox_dup(cmd->client, &cmd->args->args[0], job->arena);
	if (nargs > 1)
		req->name2 = imap_arg_mailbox_dup(cmd->client, &cmd->args->args[1], job->arena);
	if (req->name == NULL || (nargs > 1 && req->name2 == NULL))
		return NULL;
	job->ctx = req;
	return req;
}

static enum cmd_ret mailbox_job_start(struct imap_cmd *cmd, imap_job_fn *run, size_t nargs,
				      imap_job_done_fn *done, const char *usage)
{
	struct imap_job *job;

	if (cmd->args->count != nargs)
		return imap_cmd_bad(cmd, "%s", usage);
	job = imap_job_new(cmd, run, done, false);
	if (mailbox_req_new(cmd, job, nargs) == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "%s", usage);
	}
	return imap_job_submit(job);
}

/* ---- CREATE / DELETE / RENAME / SUBSCRIBE ------------------------------- */

static unsigned int special_use_parse(struct slice s)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} uses[] = {
		{ "\\All", STORE_SPECIAL_ALL },         { "\\Archive", STORE_SPECIAL_ARCHIVE },
		{ "\\Drafts", STORE_SPECIAL_DRAFTS },   { "\\Flagged", STORE_SPECIAL_FLAGGED },
		{ "\\Junk", STORE_SPECIAL_JUNK },       { "\\Sent", STORE_SPECIAL_SENT },
		{ "\\Trash", STORE_SPECIAL_TRASH },     { "\\Important", STORE_SPECIAL_IMPORTANT },
	};

	for (size_t i = 0; i < ARRAY_SIZE(uses); i++) {
		if (slice_eq_ci(s, uses[i].name))
			return uses[i].bit;
	}
	return 0;
}

static void create_run(struct imap_job *job)
{
	struct mailbox_req *req = job->ctx;
	struct store_error err = { 0 };
	char name[STORE_MAILBOX_NAME_MAX + 1];
	size_t len = strlen(req->name);
	int64_t id;

	/* RFC 9051 §6.3.4: a trailing delimiter says a parent is meant */
	if (len > 1 && req->name[len - 1] == STORE_MAILBOX_DELIMITER)
		((char *)req->name)[len - 1] = '\0';
	if (store_mailbox_name_normalize(req->name, name, &err) < 0) {
		imap_job_tagged(job, "NO", "[CANNOT] Invalid mailbox name");
		return;
	}
	if (store_mailbox_name_is_inbox(name)) {
		imap_job_tagged(job, "NO", "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (store_mailbox_create(job->ms->store, job->account_id, name, req->items, &id,
				 &err) < 0) {
		if (err.code == STORE_INVALID && req->items != 0)
			imap_job_tagged(job, "NO", "[USEATTR] %s", err.msg);
		else
			(void)store_said(job, "create", &err);
		return;
	}
	imap_job_tagged(job, "OK", "CREATE completed");
}

/* CREATE name [(USE (\Sent ...))] (RFC 6154 CREATE-SPECIAL-USE syntax) */
enum cmd_ret imap_cmd_create(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	unsigned int use = 0;
	struct imap_job *job;

	if (args->count < 1 || args->count > 2)
		return imap_cmd_bad(cmd, "CREATE expects a mailbox name");
	if (args->count == 2) {
		const struct imap_arg *l = &args->args[1];

		if (l->type != IMAP_ARG_LIST || l->list_count != 2 ||
		    l->list[0].type != IMAP_ARG_ATOM || !slice_eq_ci(l->list[0].str, "USE") ||
		    l->list[1].type != IMAP_ARG_LIST)
			return imap_cmd_bad(cmd, "Invalid CREATE parameters");
		for (size_t i = 0; i < l->list[1].list_count; i++) {
			unsigned int bit = special_use_parse(l->list[1].list[i].str);

			if (bit == 0)
				return imap_cmd_no(cmd, "[USEATTR] Unsupported special-use "
							"attribute");
			use |= bit;
		}
	}
	job = imap_job_new(cmd, create_run, NULL, false);
	if (mailbox_req_new(cmd, job, 1) == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid mailbox name");
	}
	((struct mailbox_req *)job->ctx)->items = use;
	return imap_job_submit(job);
}

static void delete_run(struct imap_job *job)
{
	struct mailbox_req *req = job->ctx;
	struct store_error err = { 0 };

	if (store_mailbox_delete(job->ms->store, job->account_id, req->name, &err) < 0) {
		if (err.code == STORE_INVALID && store_mailbox_name_is_inbox(req->name))
			imap_job_tagged(job, "NO", "[CANNOT] INBOX cannot be deleted");
		else if (err.code == STORE_INVALID)
			imap_job_tagged(job, "NO", "[HASCHILDREN] %s", err.msg);
		else
			(void)store_said(job, "delete", &err);
		return;
	}
	imap_job_tagged(job, "OK", "DELETE completed");
}

static void delete_done(struct imap_client *ic, struct imap_job *job)
{
	struct mailbox_req *req = job->ctx;

	/* RFC 9051 §6.3.5: deleting the selected mailbox leaves the client
	   in a mailbox that is gone: deselect it */
	if (!job->failed && job->tagged.len > 0 && strstr(job->tagged.data, " OK ") != NULL &&
	    ic->state == IMAP_ST_SELECTED && ic->mailbox_name != NULL &&
	    strcmp(ic->mailbox_name, req->name) == 0) {
		imap_unselect(ic);
		(void)conn_send_str(ic->conn, "* OK [CLOSED] Mailbox deleted\r\n");
	}
}

enum cmd_ret imap_cmd_delete(struct imap_cmd *cmd)
{
	return mailbox_job_start(cmd, delete_run, 1, delete_done,
				 "DELETE expects a mailbox name");
}

static void rename_run(struct imap_job *job)
{
	struct mailbox_req *req = job->ctx;
	struct store_error err = { 0 };

	if (store_mailbox_rename(job->ms->store, job->account_id, req->name, req->name2,
				 &err) < 0) {
		(void)store_said(job, "rename", &err);
		return;
	}
	imap_job_tagged(job, "OK", "RENAME completed");
}

enum cmd_ret imap_cmd_rename(struct imap_cmd *cmd)
{
	return mailbox_job_start(cmd, rename_run, 2, NULL,
				 "RENAME expects two mailbox names");
}

static void subscribe_run(struct imap_job *job)
{
	struct mailbox_req *req = job->ctx;
	struct store_error err = { 0 };
	bool on = !req->lsub; /* lsub doubles as "unsubscribe" here */

	if (store_subscription_set(job->ms->store, job->account_id, req->name, on, &err) < 0) {
		(void)store_said(job, on ? "subscribe" : "unsubscribe", &err);
		return;
	}
	imap_job_tagged(job, "OK", "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

static void unsubscribe_run(struct imap_job *job)
{
	((struct mailbox_req *)job->ctx)->lsub = true;
	subscribe_run(job);
}

enum cmd_ret imap_cmd_subscribe(struct imap_cmd *cmd)
{
	return mailbox_job_start(cmd, subscribe_run, 1, NULL, "SUBSCRIBE expects a mailbox name");
}

enum cmd_ret imap_cmd_unsubscribe(struct imap_cmd *cmd)
{
	return mailbox_job_start(cmd, unsubscribe_run, 1, NULL,
				 "UNSUBSCRIBE expects a mailbox name");
}

/* ---- LIST / LSUB --------------------------------------------------------- */

/* RFC 9051 §6.3.9: '*' matches anything, '%' anything but the delimiter.
   Run as an NFA over the pattern positions (O(pattern x name), no
   backtracking: a pattern of many wildcards cannot burn a worker). */
static bool list_match(const char *pat, const char *name)
{
	size_t plen = strlen(pat);
	unsigned char small[2 * 256];
	unsigned char *cur = plen < 256 ? small : xmalloc(2 * (plen + 1));
	unsigned char *next = cur + plen + 1;
	bool match;

	memset(cur, 0, plen + 1);
	cur[0] = 1;
	for (const char *n = name;; n++) {
		/* a wildcard may match nothing */
		for (size_t j = 0; j < plen; j++) {
			if (cur[j] && (pat[j] == '*' || pat[j] == '%'))
				cur[j + 1] = 1;
		}
		if (*n == '\0')
			break;
		memset(next, 0, plen + 1);
		for (size_t j = 0; j < plen; j++) {
			if (!cur[j])
				continue;
			if (pat[j] == '*' || (pat[j] == '%' && *n != STORE_MAILBOX_DELIMITER))
				next[j] = 1;
			else if (pat[j] == *n)
				next[j + 1] = 1;
		}
		memcpy(cur, next, plen + 1);
	}
	match = cur[plen] != 0;
	if (cur != small)
		free(cur);
	return match;
}

/* INBOX is case-insensitive: spell the pattern's first level as stored. */
static void list_pattern_inbox(char *pat)
{
	if (strncasecmp(pat, "INBOX", 5) == 0 &&
	    (pat[5] == '\0' || pat[5] == STORE_MAILBOX_DELIMITER))
		memcpy(pat, "INBOX", 5);
}

static void list_append_special(struct buf *out, unsigned int use)
{
	static const char *const names[] = { "\\All",  "\\Archive", "\\Drafts", "\\Flagged",
					     "\\Junk", "\\Sent",    "\\Trash",  "\\Important" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if ((use & (1u << i)) != 0)
			(void)buf_printf(out, " %s", names[i]);
	}
}

static void list_line(struct imap_job *job, const char *verb, const char *attrs,
		      const char *name)
{
	(void)buf_printf(&job->out, "* %s (%s) \"/\" ", verb, attrs);
	imap_append_mailbox(&job->out, name, job->utf8);
	(void)buf_append_str(&job->out, "\r\n");
}

static void lsub_run(struct imap_job *job)
{
	struct mailbox_req *req = job->ctx;
	struct store_error err = { 0 };
	const char **names;
	size_t count;
	char *pat = arena_printf(job->arena, "%s%s", req->name, req->name2);

	list_pattern_inbox(pat);
	if (store_subscription_list(job->ms->store, job->account_id, job->arena, &names, &count,
				    &err) < 0) {
		imap_job_fail(job, "lsub", &err);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		if (list_match(pat, names[i]))
			list_line(job, "LSUB", "", names[i]);
	}
	imap_job_tagged(job, "OK", "LSUB completed");
}

enum cmd_ret imap_cmd_lsub(struct imap_cmd *cmd)
{
	return mailbox_job_start(cmd, lsub_run, 2, NULL,
				 "LSUB expects a reference and a mailbox pattern");
}

/* ---- STATUS -------------------------------------------------------------- */

enum status_item {
	ST_MESSAGES = 1 << 0,
	ST_UIDNEXT = 1 << 1,
	ST_UIDVALIDITY = 1 << 2,
	ST_UNSEEN = 1 << 3,
	ST_SIZE = 1 << 4,
	ST_HIGHESTMODSEQ = 1 << 5,
	ST_DELETED = 1 << 6,
	ST_RECENT = 1 << 7,
	ST_MAILBOXID = 1 << 8, /* RFC 8474 */
	ST_DELETED_STORAGE = 1 << 9, /* RFC 9208 §4.2 (cmd-quota.c) */
};

static const char *const status_names[] = { "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
					    "SIZE", "HIGHESTMODSEQ", "DELETED", "RECENT",
					    "MAILBOXID", "DELETED-STORAGE" };

/* "* STATUS name (items)" */
static void status_line(struct imap_job *job, const struct store_mailbox *mbox,
			unsigned int items, const struct store_mailbox_status *st)
{
	const char *name = mbox->name;
	uint64_t values[ARRAY_SIZE(status_names)] = {
		st->messages, st->uidnext, st->uidvalidity,   st->unseen,
		st->size,     st->highest_modseq, st->deleted, 0, (uint64_t)mbox->id, 0,
	};
	bool first = true;

	if ((items & ST_DELETED_STORAGE) != 0 &&
	    imap_quota_deleted_storage(job, mbox->id, &values[9]) < 0)
		return; /* the job failed: answered NO */
	(void)buf_append_str(&job->out, "* STATUS ");
	imap_append_mailbox(&job->out, name, job->utf8);
	(void)buf_append_str(&job->out, " (");
	for (size_t i = 0; i < ARRAY_SIZE(status_names); i++) {
		if ((items & (1u << i)) == 0)
			continue;
		(void)buf_printf(&job->out,
				 (1u << i) == ST_MAILBOXID ? "%s%s (M%llu)" : "%s%s %llu",
				 first ? "" : " ", status_names[i], (unsigned long long)values[i]);
		first = false;
	}
	(void)buf_append_str(&job->out, ")\r\n");
}

static void status_run(struct imap_job *job)
{
	struct mailbox_req *req = job->ctx;
	struct store_error err = { 0 };
	struct store_mailbox mbox;
	struct store_mailbox_status st;

	if (store_mailbox_get(job->ms->store, job->account_id, req->name, job->arena, &mbox,
			      &err) < 0) {
		(void)store_said(job, "status", &err);
		return;
	}
	if (mbox.is_noselect) {
		imap_job_tagged(job, "NO", "[NONEXISTENT] Mailbox cannot be selected");
		return;
	}
	if (store_mailbox_status(job->ms->store, mbox.id, &st, &err) < 0) {
		imap_job_fail(job, "status", &err);
		return;
	}
	status_line(job, &mbox, req->items, &st);
	imap_job_tagged(job, "OK", "STATUS completed");
}

/* (MESSAGES UIDNEXT ...) */
static int status_items_parse(const struct imap_arg *l, unsigned int *items_r)
{
	unsigned int items = 0;

	if (l->type != IMAP_ARG_LIST || l->list_count == 0)
		return -1;
	for (size_t i = 0; i < l->list_count; i++) {
		unsigned int bit = 0;

		for (size_t j = 0; j < ARRAY_SIZE(status_names); j++) {
			if (l->list[i].type == IMAP_ARG_ATOM &&
			    slice_eq_ci(l->list[i].str, status_names[j]))
				bit = 1u << j;
		}
		if (bit == 0)
			return -1;
		items |= bit;
	}
	*items_r = items;
	return 0;
}

enum cmd_ret imap_cmd_status(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	unsigned int items = 0;

	if (args->count != 2 || status_items_parse(&args->args[1], &items) < 0)
		return imap_cmd_bad(cmd, "STATUS expects a mailbox name and a list of known items");
	job = imap_job_new(cmd, status_run, NULL, false);
	if (mailbox_req_new(cmd, job, 1) == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "STATUS expects a mailbox name");
	}
	((struct mailbox_req *)job->ctx)->items = items;
	return imap_job_submit(job);
}

/* ---- LIST (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
   RFC 6154 SPECIAL-USE) ----------------------------------------------------- */

struct list_req {
	const char *ref;
	const char **patterns; /* reference + pattern, INBOX spelled as stored */
	size_t pattern_count;
	bool sel_subscribed, sel_special, recursive;
	bool ret_subscribed;
	unsigned int status_items;
};

static bool list_matches(const struct list_req *req, const char *name)
{
	for (size_t i = 0; i < req->pattern_count; i++) {
		if (list_match(req->patterns[i], name))
			return true;
	}
	return false;
}

/* A subscribed mailbox below boxes[i] (tree order: descendants follow). */
static bool list_subscribed_below(const struct store_mailbox *boxes, size_t count, size_t i)
{
	size_t len = strlen(boxes[i].name);

	for (size_t j = i + 1; j < count; j++) {
		if (strncmp(boxes[j].name, boxes[i].name, len) != 0 ||
		    boxes[j].name[len] != STORE_MAILBOX_DELIMITER)
			break;
		if (boxes[j].is_subscribed)
			return true;
	}
	return false;
}

static int list_one(struct imap_job *job, const struct list_req *req,
		    const struct store_mailbox *boxes, size_t count, size_t i, struct buf *attrs)
{
	const struct store_mailbox *b = &boxes[i];
	size_t len = strlen(b->name);
	bool children = i + 1 < count && strncmp(boxes[i + 1].name, b->name, len) == 0 &&
			boxes[i + 1].name[len] == STORE_MAILBOX_DELIMITER;
	bool childinfo = false;
	struct store_mailbox_status st;
	struct store_error err = { 0 };

	if (req->sel_special && b->special_use == 0)
		return 0;
	if (req->sel_subscribed && !b->is_subscribed) {
		if (!req->recursive || !list_subscribed_below(boxes, count, i))
			return 0;
		childinfo = true;
	}
	buf_clear(attrs);
	(void)buf_append_str(attrs, children ? "\\HasChildren" : "\\HasNoChildren");
	if (b->is_noselect)
		(void)buf_append_str(attrs, " \\Noselect");
	if (b->is_subscribed && (req->ret_subscribed || req->sel_subscribed))
		(void)buf_append_str(attrs, " \\Subscribed");
	list_append_special(attrs, b->special_use);
	(void)buf_printf(&job->out, "* LIST (%s) \"/\" ", attrs->data);
	imap_append_mailbox(&job->out, b->name, job->utf8);
	if (childinfo)
		(void)buf_append_str(&job->out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	(void)buf_append_str(&job->out, "\r\n");
	if (req->status_items == 0 || b->is_noselect)
		return 0;
	if (store_mailbox_status(job->ms->store, b->id, &st, &err) < 0) {
		if (err.code == STORE_NOT_FOUND)
			return 0; /* deleted meanwhile */
		imap_job_fail(job, "list-status", &err);
		return -1;
	}
	status_line(job, b, req->status_items, &st);
	return 0;
}

/* RFC 5258 §3: subscribed names without a mailbox are \NonExistent. */
static int list_subscribed_missing(struct imap_job *job, const struct list_req *req,
				   const struct store_mailbox *boxes, size_t count)
{
	struct store_error err = { 0 };
	const char **names;
	size_t n;

	if (store_subscription_list(job->ms->store, job->account_id, job->arena, &names, &n,
				    &err) < 0) {
		imap_job_fail(job, "list", &err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		bool exists = false;

		for (size_t j = 0; j < count && !exists; j++)
			exists = strcmp(boxes[j].name, names[i]) == 0;
		if (exists || !list_matches(req, names[i]))
			continue;
		(void)buf_append_str(&job->out, "* LIST (\\Subscribed \\NonExistent) \"/\" ");
		imap_append_mailbox(&job->out, names[i], job->utf8);
		(void)buf_append_str(&job->out, "\r\n");
	}
	return 0;
}

static void list_run(struct imap_job *job)
{
	struct list_req *req = job->ctx;
	struct store_error err = { 0 };
	struct store_mailbox *boxes;
	size_t count;
	struct buf attrs;
	int ret = 0;

	if (store_mailbox_list(job->ms->store, job->account_id, job->arena, &boxes, &count,
			       &err) < 0) {
		imap_job_fail(job, "list", &err);
		return;
	}
	buf_init(&attrs, 0);
	for (size_t i = 0; i < count && ret == 0; i++) {
		if (list_matches(req, boxes[i].name))
			ret = list_one(job, req, boxes, count, i, &attrs);
	}
	buf_free(&attrs);
	if (ret == 0 && req->sel_subscribed)
		ret = list_subscribed_missing(job, req, boxes, count);
	if (ret == 0)
		imap_job_tagged(job, "OK", "LIST completed");
}

static int list_select_opts(struct list_req *req, const struct imap_arg *l)
{
	for (size_t i = 0; i < l->list_count; i++) {
		struct slice o = l->list[i].str;

		if (l->list[i].type != IMAP_ARG_ATOM)
			return -1;
		if (slice_eq_ci(o, "SUBSCRIBED"))
			req->sel_subscribed = true;
		else if (slice_eq_ci(o, "SPECIAL-USE"))
			req->sel_special = true;
		else if (slice_eq_ci(o, "RECURSIVEMATCH"))
			req->recursive = true;
		else if (!slice_eq_ci(o, "REMOTE"))
			return -1;
	}
	/* RFC 5258 §3: RECURSIVEMATCH needs another selection option */
	return req->recursive && !req->sel_subscribed ? -1 : 0;
}

static int list_return_opts(struct list_req *req, const struct imap_arg *l)
{
	if (l->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < l->list_count; i++) {
		struct slice o = l->list[i].str;

		if (l->list[i].type != IMAP_ARG_ATOM)
			return -1;
		if (slice_eq_ci(o, "SUBSCRIBED"))
			req->ret_subscribed = true;
		else if (slice_eq_ci(o, "STATUS") && i + 1 < l->list_count) {
			if (status_items_parse(&l->list[++i], &req->status_items) < 0)
				return -1;
		} else if (!slice_eq_ci(o, "CHILDREN") && !slice_eq_ci(o, "SPECIAL-USE")) {
			return -1;
		}
	}
	return 0;
}

static int list_add_pattern(struct imap_cmd *cmd, struct list_req *req,
			    const struct imap_arg *a, struct arena *arena)
{
	const char *pat = imap_arg_mailbox_dup(cmd->client, a, arena);
	char *full;

	if (pat == NULL)
		return -1;
	full = arena_printf(arena, "%s%s", req->ref, pat);
	list_pattern_inbox(full);
	req->patterns[req->pattern_count++] = full;
	return 0;
}

/* LIST [(select-opts)] reference patterns [RETURN (return-opts)] */
static int list_parse(struct imap_cmd *cmd, struct list_req *req, struct arena *arena)
{
	const struct imap_cmd_args *args = cmd->args;
	const struct imap_arg *pats;
	size_t i = 0;

	if (args->count >= 1 && args->args[0].type == IMAP_ARG_LIST) {
		if (list_select_opts(req, &args->args[0]) < 0)
			return -1;
		i = 1;
	}
	if (i + 2 > args->count)
		return -1;
	req->ref = imap_arg_mailbox_dup(cmd->client, &args->args[i++], arena);
	pats = &args->args[i++];
	if (req->ref == NULL)
		return -1;
	if (i < args->count) {
		if (i + 2 != args->count || args->args[i].type != IMAP_ARG_ATOM ||
		    !slice_eq_ci(args->args[i].str, "RETURN") ||
		    list_return_opts(req, &args->args[i + 1]) < 0)
			return -1;
	}
	if (pats->type != IMAP_ARG_LIST) {
		req->patterns = arena_alloc(arena, sizeof(*req->patterns));
		return list_add_pattern(cmd, req, pats, arena);
	}
	if (pats->list_count == 0)
		return -1;
	req->patterns = arena_alloc(arena, pats->list_count * sizeof(*req->patterns));
	for (size_t j = 0; j < pats->list_count; j++) {
		if (list_add_pattern(cmd, req, &pats->list[j], arena) < 0)
			return -1;
	}
	return 0;
}

enum cmd_ret imap_cmd_list(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	struct list_req *req;

	/* LIST "" "": the hierarchy delimiter and root */
	if (args->count == 2 && args->args[0].type != IMAP_ARG_LIST &&
	    args->args[1].type != IMAP_ARG_LIST && args->args[1].str.len == 0) {
		(void)conn_send_str(cmd->client->conn, "* LIST (\\Noselect) \"/\" \"\"\r\n");
		return imap_cmd_ok(cmd, "LIST completed");
	}
	job = imap_job_new(cmd, list_run, NULL, false);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct list_req){ 0 };
	job->ctx = req;
	if (list_parse(cmd, req, job->arena) < 0) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid LIST arguments");
	}
	return imap_job_submit(job);
}
