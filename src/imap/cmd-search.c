/* SEARCH and UID SEARCH (RFC 9051 §6.4.4).

   The criteria are parsed on the loop into a tree in the job's arena. The
   worker reads flags, keywords, dates and sizes of the whole mailbox with
   one store_fetch(), resolves each text criterion (SUBJECT, FROM, TO, CC,
   BCC, BODY, TEXT, HEADER Message-ID) with one store_search() (index
   lookups in the store), and evaluates the tree per message. Only messages
   already announced to the session are candidates. IMAP4rev2 clients get
   an ESEARCH response, IMAP4rev1 clients "* SEARCH". */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"

#define SEARCH_MAX_DEPTH 32

enum node_type {
	N_ALL,
	N_NONE,
	N_SET,      /* sequence or UID set, as UID ranges */
	N_FLAG,     /* has flag bit */
	N_KEYWORD,
	N_TEXT,     /* store_search() */
	N_LARGER,
	N_SMALLER,
	N_BEFORE,   /* INTERNALDATE day < */
	N_ON,
	N_SINCE,
	N_SENTBEFORE,
	N_SENTON,
	N_SENTSINCE,
	N_MODSEQ,   /* RFC 7162: MODSEQ >= */
	N_NOT,
	N_OR,
	N_AND,
};

struct node {
	enum node_type type;
	uint32_t flag;
	const char *str;
	enum store_search_key key;
	uint64_t num;
	struct store_uid_range *set;
	size_t set_count;
	struct node **kids;
	size_t kid_count;
	/* N_TEXT results */
	uint32_t *uids;
	size_t uid_count;
};

/* RFC 5256 SORT keys (and RFC 5957 DISPLAYFROM/DISPLAYTO) */
enum sort_key {
	SK_ARRIVAL,
	SK_CC,
	SK_DATE,
	SK_FROM,
	SK_SIZE,
	SK_SUBJECT,
	SK_TO,
	SK_DISPLAYFROM,
	SK_DISPLAYTO,
	SK_COUNT
};

static const char *const sort_key_names[] = { "ARRIVAL", "CC",      "DATE",        "FROM",
					      "SIZE",    "SUBJECT", "TO",          "DISPLAYFROM",
					      "DISPLAYTO" };
static_assert(ARRAY_SIZE(sort_key_names) == SK_COUNT, "sort_key_names out of sync");

#define SORT_MAX_KEYS 16

struct sort_crit {
	enum sort_key key;
	bool reverse;
};

struct search_msg {
	uint32_t uid, seq, flags;
	uint64_t modseq;
	const char *sort_str[SK_COUNT]; /* SORT only: the string keys */
	const char *keywords;
	int64_t internal_date, sent_date;
	uint64_t size;
};

enum search_return { SR_MIN = 1 << 0, SR_MAX = 1 << 1, SR_ALL = 1 << 2, SR_COUNT = 1 << 3 };

struct search_req {
	struct node *root;
	unsigned int ret; /* RETURN options; 0 = none given */
	bool need_sent;
	bool has_modseq; /* answer with the highest MODSEQ of the hits */
	struct search_msg *msgs;
	size_t count, cap;
	struct imap_job *job;
	bool is_uid;
	struct sort_crit sort[SORT_MAX_KEYS]; /* SORT: the criteria */
	size_t sort_count;
	bool thread; /* THREAD=ORDEREDSUBJECT: sorted by (SUBJECT DATE), then grouped */
};

struct parse_ctx {
	struct imap_client *ic;
	struct arena *a;
	struct search_req *req;
};

/* ---- parsing (on the loop) -------------------------------------------------- */

static int64_t parse_day(struct slice s)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char buf[24], mon[4];
	int day, year, month = -1;
	struct tm tm;

	if (s.len == 0 || s.len >= sizeof(buf))
		return -1;
	memcpy(buf, s.ptr, s.len);
	buf[s.len] = '\0';
	if (sscanf(buf, "%2d-%3s-%4d", &day, mon, &year) != 3)
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strcasecmp(mon, months[i]) == 0)
			month = i;
	}
	if (month < 0 || day < 1 || day > 31 || year < 1900)
		return -1;
	tm = (struct tm){ .tm_mday = day, .tm_mon = month, .tm_year = year - 1900 };
	return (int64_t)timegm(&tm) / 86400;
}

static bool is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED ||
	       a->type == IMAP_ARG_LITERAL;
}

static struct node *node_new(struct parse_ctx *pc, enum node_type type)
{
	struct node *n = arena_alloc(pc->a, sizeof(*n));

	*n = (struct node){ .type = type };
	return n;
}

static struct node *parse_key(struct parse_ctx *pc, const struct imap_arg *args, size_t count,
			      size_t *i, unsigned int depth);

static struct node *parse_list(struct parse_ctx *pc, const struct imap_arg *args, size_t count,
			       unsigned int depth)
{
	struct node *n = node_new(pc, N_AND);
	size_t i = 0;

	n->kids = arena_alloc(pc->a, (count + 1) * sizeof(*n->kids));
	while (i < count) {
		struct node *k = parse_key(pc, args, count, &i, depth + 1);

		if (k == NULL)
			return NULL;
		n->kids[n->kid_count++] = k;
	}
	return n->kid_count > 0 ? n : NULL;
}

static const struct {
	const char *name;
	uint32_t flag;
	bool negate;
} flag_keys[] = {
	{ "SEEN", STORE_FLAG_SEEN, false },         { "UNSEEN", STORE_FLAG_SEEN, true },
	{ "FLAGGED", STORE_FLAG_FLAGGED, false },   { "UNFLAGGED", STORE_FLAG_FLAGGED, true },
	{ "DELETED", STORE_FLAG_DELETED, false },   { "UNDELETED", STORE_FLAG_DELETED, true },
	{ "ANSWERED", STORE_FLAG_ANSWERED, false }, { "UNANSWERED", STORE_FLAG_ANSWERED, true },
	{ "DRAFT", STORE_FLAG_DRAFT, false },       { "UNDRAFT", STORE_FLAG_DRAFT, true },
};

static const struct {
	const char *name;
	enum store_search_key key;
} text_keys[] = {
	{ "SUBJECT", STORE_SEARCH_SUBJECT }, { "FROM", STORE_SEARCH_FROM },
	{ "TO", STORE_SEARCH_TO },           { "CC", STORE_SEARCH_CC },
	{ "BCC", STORE_SEARCH_BCC },         { "BODY", STORE_SEARCH_BODY },
	{ "TEXT", STORE_SEARCH_TEXT },
};

static const struct {
	const char *name;
	enum node_type type;
} date_keys[] = {
	{ "BEFORE", N_BEFORE },         { "ON", N_ON },         { "SINCE", N_SINCE },
	{ "SENTBEFORE", N_SENTBEFORE }, { "SENTON", N_SENTON }, { "SENTSINCE", N_SENTSINCE },
};

static struct node *negate(struct parse_ctx *pc, struct node *k)
{
	struct node *n = node_new(pc, N_NOT);

	n->kids = arena_alloc(pc->a, sizeof(*n->kids));
	n->kids[0] = k;
	n->kid_count = 1;
	return n;
}

/* HEADER field string: the fields the store indexes */
static struct node *parse_header(struct parse_ctx *pc, struct slice field, struct slice value)
{
	static const struct {
		const char *name;
		enum store_search_key key;
	} fields[] = {
		{ "Subject", STORE_SEARCH_SUBJECT }, { "From", STORE_SEARCH_FROM },
		{ "To", STORE_SEARCH_TO },           { "Cc", STORE_SEARCH_CC },
		{ "Bcc", STORE_SEARCH_BCC },         { "Message-ID", STORE_SEARCH_MESSAGE_ID },
	};

	for (size_t j = 0; j < ARRAY_SIZE(fields); j++) {
		if (slice_eq_ci(field, fields[j].name)) {
			struct node *n = node_new(pc, N_TEXT);

			n->key = fields[j].key;
			n->str = arena_strndup(pc->a, value.ptr, value.len);
			return n;
		}
	}
	return NULL;
}

static struct node *parse_key(struct parse_ctx *pc, const struct imap_arg *args, size_t count,
			      size_t *i, unsigned int depth)
{
	const struct imap_arg *a = &args[(*i)++];
	const struct imap_arg *v = *i < count ? &args[*i] : NULL;
	struct node *n;

	if (depth > SEARCH_MAX_DEPTH)
		return NULL;
	if (a->type == IMAP_ARG_LIST)
		return parse_list(pc, a->list, a->list_count, depth);
	if (a->type != IMAP_ARG_ATOM)
		return NULL;
	if (slice_eq_ci(a->str, "ALL") || slice_eq_ci(a->str, "OLD"))
		return node_new(pc, N_ALL);
	if (slice_eq_ci(a->str, "NEW") || slice_eq_ci(a->str, "RECENT"))
		return node_new(pc, N_NONE); /* no \Recent */
	for (size_t j = 0; j < ARRAY_SIZE(flag_keys); j++) {
		if (slice_eq_ci(a->str, flag_keys[j].name)) {
			n = node_new(pc, N_FLAG);
			n->flag = flag_keys[j].flag;
			return flag_keys[j].negate ? negate(pc, n) : n;
		}
	}
	if (slice_eq_ci(a->str, "NOT")) {
		n = *i < count ? parse_key(pc, args, count, i, depth + 1) : NULL;
		return n != NULL ? negate(pc, n) : NULL;
	}
	if (slice_eq_ci(a->str, "OR")) {
		struct node *x, *y;

		x = *i < count ? parse_key(pc, args, count, i, depth + 1) : NULL;
		y = x != NULL && *i < count ? parse_key(pc, args, count, i, depth + 1) : NULL;
		if (y == NULL)
			return NULL;
		n = node_new(pc, N_OR);
		n->kids = arena_alloc(pc->a, 2 * sizeof(*n->kids));
		n->kids[0] = x;
		n->kids[1] = y;
		n->kid_count = 2;
		return n;
	}
	if (v == NULL) {
		/* the remaining keys all take an argument; a bare set does not */
		goto as_set;
	}
	if (slice_eq_ci(a->str, "KEYWORD") || slice_eq_ci(a->str, "UNKEYWORD")) {
		if (v->type != IMAP_ARG_ATOM)
			return NULL;
		(*i)++;
		n = node_new(pc, N_KEYWORD);
		n->str = arena_strndup(pc->a, v->str.ptr, v->str.len);
		return slice_eq_ci(a->str, "UNKEYWORD") ? negate(pc, n) : n;
	}
	for (size_t j = 0; j < ARRAY_SIZE(text_keys); j++) {
		if (slice_eq_ci(a->str, text_keys[j].name)) {
			if (!is_string(v))
				return NULL;
			(*i)++;
			n = node_new(pc, N_TEXT);
			n->key = text_keys[j].key;
			n->str = arena_strndup(pc->a, v->str.ptr, v->str.len);
			return n;
		}
	}
	if (slice_eq_ci(a->str, "HEADER")) {
		if (*i + 1 >= count || !is_string(v) || !is_string(&args[*i + 1]))
			return NULL;
		*i += 2;
		return parse_header(pc, v->str, args[*i - 1].str);
	}
	if (slice_eq_ci(a->str, "LARGER") || slice_eq_ci(a->str, "SMALLER")) {
		n = node_new(pc, slice_eq_ci(a->str, "LARGER") ? N_LARGER : N_SMALLER);
		if (v->type != IMAP_ARG_ATOM || str_to_u64(v->str, &n->num) < 0)
			return NULL;
		(*i)++;
		return n;
	}
	for (size_t j = 0; j < ARRAY_SIZE(date_keys); j++) {
		if (slice_eq_ci(a->str, date_keys[j].name)) {
			int64_t day = is_string(v) ? parse_day(v->str) : -1;

			if (day < 0)
				return NULL;
			(*i)++;
			n = node_new(pc, date_keys[j].type);
			n->num = (uint64_t)day;
			if (date_keys[j].type >= N_SENTBEFORE)
				pc->req->need_sent = true;
			return n;
		}
	}
	if (slice_eq_ci(a->str, "MODSEQ")) {
		/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer */
		if (v->type == IMAP_ARG_QUOTED && *i + 2 < count)
			*i += 2; /* per-flag MODSEQs are not kept: the message's counts */
		v = &args[*i];
		n = node_new(pc, N_MODSEQ);
		if (v->type != IMAP_ARG_ATOM || str_to_u64(v->str, &n->num) < 0)
			return NULL;
		(*i)++;
		pc->req->has_modseq = true;
		return n;
	}
	if (slice_eq_ci(a->str, "UID")) {
		if (v->type != IMAP_ARG_ATOM)
			return NULL;
		(*i)++;
		n = node_new(pc, N_SET);
		if (imap_seqset_parse(pc->ic, v->str, true, pc->a, &n->set, &n->set_count) < 0)
			return NULL;
		return n;
	}
as_set:
	n = node_new(pc, N_SET);
	if (imap_seqset_parse(pc->ic, a->str, false, pc->a, &n->set, &n->set_count) < 0)
		return NULL;
	return n;
}

/* ---- evaluation (worker) ---------------------------------------------------- */

static bool uid_listed(const uint32_t *uids, size_t count, uint32_t uid)
{
	return imap_uid_seq(uids, count, uid) != 0;
}

static bool keyword_has(const char *list, const char *kw)
{
	size_t len = strlen(kw);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *sp = strchr(p, ' ');
		size_t n = sp != NULL ? (size_t)(sp - p) : strlen(p);

		if (n == len && strncasecmp(p, kw, len) == 0)
			return true;
		p = sp != NULL ? sp + 1 : NULL;
	}
	return false;
}

static bool eval(const struct node *n, const struct search_msg *m)
{
	int64_t iday = m->internal_date / 86400, sday = m->sent_date / 86400;

	switch (n->type) {
	case N_ALL:
		return true;
	case N_NONE:
		return false;
	case N_SET:
		for (size_t i = 0; i < n->set_count; i++) {
			if (m->uid >= n->set[i].first && m->uid <= n->set[i].last)
				return true;
		}
		return false;
	case N_FLAG:
		return (m->flags & n->flag) != 0;
	case N_KEYWORD:
		return keyword_has(m->keywords, n->str);
	case N_TEXT:
		return uid_listed(n->uids, n->uid_count, m->uid);
	case N_LARGER:
		return m->size > n->num;
	case N_SMALLER:
		return m->size < n->num;
	case N_BEFORE:
		return iday < (int64_t)n->num;
	case N_ON:
		return iday == (int64_t)n->num;
	case N_SINCE:
		return iday >= (int64_t)n->num;
	case N_SENTBEFORE:
		return m->sent_date != 0 && sday < (int64_t)n->num;
	case N_SENTON:
		return m->sent_date != 0 && sday == (int64_t)n->num;
	case N_SENTSINCE:
		return m->sent_date != 0 && sday >= (int64_t)n->num;
	case N_MODSEQ:
		return m->modseq >= n->num;
	case N_NOT:
		return !eval(n->kids[0], m);
	case N_OR:
		return eval(n->kids[0], m) || eval(n->kids[1], m);
	case N_AND:
		for (size_t i = 0; i < n->kid_count; i++) {
			if (!eval(n->kids[i], m))
				return false;
		}
		return true;
	}
	return false;
}

static int resolve_text(struct imap_job *job, struct node *n, struct store_error *err)
{
	if (n->type == N_TEXT)
		return store_search(job->ms->store, job->mailbox_id, n->key, n->str, job->arena,
				    &n->uids, &n->uid_count, err);
	for (size_t i = 0; i < n->kid_count; i++) {
		if (resolve_text(job, n->kids[i], err) < 0)
			return -1;
	}
	return 0;
}

static int search_cb(const struct store_message *msg, void *ctx)
{
	struct search_req *req = ctx;
	struct arena *a = req->job->arena;
	uint32_t seq = imap_uid_seq(req->job->uids, req->job->uid_count, msg->uid);
	struct search_msg *m;

	if (seq == 0)
		return 0;
	if (req->count == req->cap) {
		size_t cap = req->cap == 0 ? 256 : req->cap * 2;
		struct search_msg *n = arena_alloc(a, cap * sizeof(*n));

		if (req->count > 0)
			memcpy(n, req->msgs, req->count * sizeof(*n));
		req->msgs = n;
		req->cap = cap;
	}
	m = &req->msgs[req->count++];
	*m = (struct search_msg){
		.uid = msg->uid,
		.seq = seq,
		.flags = msg->flags,
		.modseq = msg->modseq,
		.keywords = arena_strdup(a, msg->keywords != NULL ? msg->keywords : ""),
		.internal_date = msg->internal_date,
		.sent_date = msg->headers.sent_date,
		.size = msg->size,
	};
	if (req->sort_count > 0) {
		const struct store_headers *h = &msg->headers;
		const char *v[SK_COUNT] = {
			[SK_CC] = h->sort_cc,
			[SK_FROM] = h->sort_from,
			[SK_SUBJECT] = h->base_subject,
			[SK_TO] = h->sort_to,
			[SK_DISPLAYFROM] = h->display_from,
			[SK_DISPLAYTO] = h->display_to,
		};

		for (size_t k = 0; k < SK_COUNT; k++)
			m->sort_str[k] = arena_strdup(a, v[k] != NULL ? v[k] : "");
	}
	return 0;
}

/* RFC 9051 §7.3.4 / RFC 4731 ESEARCH for IMAP4rev2 clients and RETURN
   options, else the IMAP4rev1 "* SEARCH". nums ascending. */
static void search_reply(struct imap_job *job, const struct search_req *req,
			 const uint32_t *nums, size_t count, uint64_t max_modseq)
{
	struct buf *out = &job->out;
	unsigned int ret = req->ret != 0 ? req->ret : SR_ALL;

	if (!job->rev2 && req->ret == 0) {
		(void)buf_append_str(out, "* SEARCH");
		for (size_t i = 0; i < count; i++)
			(void)buf_printf(out, " %u", nums[i]);
		/* RFC 7162 §3.1.5 */
		if (max_modseq != 0)
			(void)buf_printf(out, " (MODSEQ %llu)", (unsigned long long)max_modseq);
		return;
	}
	(void)buf_append_str(out, "* ESEARCH (TAG ");
	imap_append_string(out, job->tag);
	(void)buf_append_str(out, ")");
	if (req->is_uid)
		(void)buf_append_str(out, " UID");
	if ((ret & SR_MIN) != 0 && count > 0)
		(void)buf_printf(out, " MIN %u", nums[0]);
	if ((ret & SR_MAX) != 0 && count > 0)
		(void)buf_printf(out, " MAX %u", nums[count - 1]);
	if ((ret & SR_ALL) != 0 && count > 0) {
		(void)buf_append_str(out, " ALL ");
		imap_append_uidset(out, nums, count);
	}
	if ((ret & SR_COUNT) != 0)
		(void)buf_printf(out, " COUNT %zu", count);
	if (max_modseq != 0)
		(void)buf_printf(out, " MODSEQ %llu", (unsigned long long)max_modseq);
}

/* ---- SORT (RFC 5256, RFC 5957) ---------------------------------------------- */

static int64_t sort_cmp_num(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int sort_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct search_req *req = ctx;
	const struct search_msg *a = *(const struct search_msg *const *)pa;
	const struct search_msg *b = *(const struct search_msg *const *)pb;

	for (size_t i = 0; i < req->sort_count; i++) {
		enum sort_key k = req->sort[i].key;
		int64_t c;

		if (k == SK_ARRIVAL)
			c = sort_cmp_num(a->internal_date, b->internal_date);
		else if (k == SK_DATE)
			/* RFC 5256 §3: no usable Date: sorts by INTERNALDATE */
			c = sort_cmp_num(a->sent_date != 0 ? a->sent_date : a->internal_date,
					 b->sent_date != 0 ? b->sent_date : b->internal_date);
		else if (k == SK_SIZE)
			c = sort_cmp_num((int64_t)a->size, (int64_t)b->size);
		else
			c = strcasecmp(a->sort_str[k], b->sort_str[k]);
		if (c != 0)
			return (int)(req->sort[i].reverse ? -c : c) < 0 ? -1 : 1;
	}
	/* the final tie-breaker is the sequence number */
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int64_t msg_date(const struct search_msg *m)
{
	return m->sent_date != 0 ? m->sent_date : m->internal_date;
}

/* threads by the date of their first message, then its number */
static int thread_cmp(const void *pa, const void *pb)
{
	const struct search_msg *a = **(const struct search_msg *const *const *)pa;
	const struct search_msg *b = **(const struct search_msg *const *const *)pb;
	int64_t c = sort_cmp_num(msg_date(a), msg_date(b));

	if (c != 0)
		return c < 0 ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* RFC 5256 §4 ORDEREDSUBJECT: messages sorted by base subject and date;
   each run of one base subject is a thread whose first message is the
   parent of all the others. */
static void thread_reply(struct imap_job *job, struct search_req *req,
			 const struct search_msg **hits, size_t n)
{
	const struct search_msg ***starts = arena_alloc(job->arena, (n + 1) * sizeof(*starts));
	size_t threads = 0;

	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcasecmp(hits[i]->sort_str[SK_SUBJECT],
					 hits[i - 1]->sort_str[SK_SUBJECT]) != 0)
			starts[threads++] = &hits[i];
	}
	qsort(starts, threads, sizeof(*starts), thread_cmp);
	(void)buf_append_str(&job->out, threads > 0 ? "* THREAD " : "* THREAD");
	for (size_t t = 0; t < threads; t++) {
		const struct search_msg **m = starts[t], **end = m + 1;
		size_t kids;

		while (end < hits + n && strcasecmp((*end)->sort_str[SK_SUBJECT],
						    (*m)->sort_str[SK_SUBJECT]) == 0)
			end++;
		kids = (size_t)(end - m) - 1;
		(void)buf_printf(&job->out, "(%u", req->is_uid ? m[0]->uid : m[0]->seq);
		for (size_t k = 1; k <= kids; k++) {
			uint32_t num = req->is_uid ? m[k]->uid : m[k]->seq;

			if (kids == 1)
				(void)buf_printf(&job->out, " %u", num);
			else
				(void)buf_printf(&job->out, "%s(%u)", k == 1 ? " " : "", num);
		}
		(void)buf_append_str(&job->out, ")");
	}
	(void)buf_append_str(&job->out, "\r\n");
	imap_job_tagged(job, "OK", "THREAD completed");
}

static void sort_reply(struct imap_job *job, struct search_req *req)
{
	const struct search_msg **hits = arena_alloc(job->arena, (req->count + 1) * sizeof(*hits));
	size_t n = 0;

	for (size_t i = 0; i < req->count; i++) {
		if (eval(req->root, &req->msgs[i]))
			hits[n++] = &req->msgs[i];
	}
	qsort_r(hits, n, sizeof(*hits), sort_cmp, req);
	if (req->thread) {
		thread_reply(job, req, hits, n);
		return;
	}
	(void)buf_append_str(&job->out, "* SORT");
	for (size_t i = 0; i < n; i++)
		(void)buf_printf(&job->out, " %u", req->is_uid ? hits[i]->uid : hits[i]->seq);
	(void)buf_append_str(&job->out, "\r\n");
	imap_job_tagged(job, "OK", "SORT completed");
}

static void search_run(struct imap_job *job)
{
	struct search_req *req = job->ctx;
	struct store_error err = { 0 };
	unsigned int fields = STORE_FETCH_KEYWORDS | STORE_FETCH_DATES | STORE_FETCH_SIZE;
	uint32_t *hits;
	size_t hit_count = 0;
	uint64_t max_modseq = 0;

	req->job = job;
	if (req->need_sent || req->sort_count > 0)
		fields |= STORE_FETCH_HEADERS;
	if (resolve_text(job, req->root, &err) < 0 ||
	    (job->uid_count > 0 && store_fetch(job->ms->store, job->mailbox_id, NULL, 0, fields,
					       0, search_cb, req, &err) < 0)) {
		imap_job_fail(job, "search", &err);
		return;
	}
	hits = arena_alloc(job->arena, (req->count + 1) * sizeof(*hits));
	for (size_t i = 0; i < req->count; i++) {
		if (!eval(req->root, &req->msgs[i]))
			continue;
		hits[hit_count++] = req->is_uid ? req->msgs[i].uid : req->msgs[i].seq;
		max_modseq = MAX(max_modseq, req->msgs[i].modseq);
	}
	if (!req->has_modseq)
		max_modseq = 0;
	if (req->sort_count > 0) {
		sort_reply(job, req);
		return;
	}
	search_reply(job, req, hits, hit_count, max_modseq);
	(void)buf_append_str(&job->out, "\r\n");
	imap_job_tagged(job, "OK", "SEARCH completed");
}

/* RETURN (MIN MAX ALL COUNT); () means ALL. SAVE (SEARCHRES) is not served. */
static int search_return_parse(const struct imap_arg *l, unsigned int *ret_r)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} opts[] = { { "MIN", SR_MIN }, { "MAX", SR_MAX },
		     { "ALL", SR_ALL }, { "COUNT", SR_COUNT } };
	unsigned int ret = 0;

	if (l->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < l->list_count; i++) {
		unsigned int bit = 0;

		for (size_t j = 0; j < ARRAY_SIZE(opts); j++) {
			if (l->list[i].type == IMAP_ARG_ATOM &&
			    slice_eq_ci(l->list[i].str, opts[j].name))
				bit = opts[j].bit;
		}
		if (bit == 0)
			return -1;
		ret |= bit;
	}
	*ret_r = ret != 0 ? ret : SR_ALL;
	return 0;
}

enum cmd_ret imap_cmd_search(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	struct search_req *req;
	struct parse_ctx pc;
	size_t first = 0;
	unsigned int ret = 0;

	if (args->count == 0)
		return imap_cmd_bad(cmd, "SEARCH expects search criteria");
	if (args->args[0].type == IMAP_ARG_ATOM && slice_eq_ci(args->args[0].str, "RETURN")) {
		if (args->count < 3 || search_return_parse(&args->args[1], &ret) < 0)
			return imap_cmd_bad(cmd, "Invalid or unsupported SEARCH RETURN options");
		first = 2;
	}
	if (args->args[first].type == IMAP_ARG_ATOM &&
	    slice_eq_ci(args->args[first].str, "CHARSET")) {
		if (args->count < first + 3 || !is_string(&args->args[first + 1]))
			return imap_cmd_bad(cmd, "CHARSET expects a charset name");
		if (!slice_eq_ci(args->args[first + 1].str, "UTF-8") &&
		    !slice_eq_ci(args->args[first + 1].str, "US-ASCII"))
			return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported "
						"charset");
		first += 2;
	}
	job = imap_job_new(cmd, search_run, NULL, true);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct search_req){ .is_uid = cmd->is_uid, .ret = ret };
	job->ctx = req;
	pc = (struct parse_ctx){ .ic = cmd->client, .a = job->arena, .req = req };
	req->root = parse_list(&pc, args->args + first, args->count - first, 0);
	if (req->root == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid or unsupported search criteria");
	}
	if (req->has_modseq)
		cmd->client->condstore_enabled = job->condstore = true;
	return imap_job_submit(job);
}

/* SORT (criteria) charset search-keys */
static int sort_criteria_parse(struct search_req *req, const struct imap_arg *l)
{
	bool reverse = false;

	if (l->type != IMAP_ARG_LIST || l->list_count == 0)
		return -1;
	for (size_t i = 0; i < l->list_count; i++) {
		const struct imap_arg *a = &l->list[i];
		size_t k;

		if (a->type != IMAP_ARG_ATOM)
			return -1;
		if (slice_eq_ci(a->str, "REVERSE") && !reverse) {
			reverse = true;
			continue;
		}
		for (k = 0; k < SK_COUNT; k++) {
			if (slice_eq_ci(a->str, sort_key_names[k]))
				break;
		}
		if (k == SK_COUNT || req->sort_count == SORT_MAX_KEYS)
			return -1;
		req->sort[req->sort_count++] = (struct sort_crit){ .key = (enum sort_key)k,
								   .reverse = reverse };
		reverse = false;
	}
	return reverse ? -1 : 0;
}

enum cmd_ret imap_cmd_sort(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	struct search_req *req;
	struct parse_ctx pc;

	if (args->count < 3 || !is_string(&args->args[1]))
		return imap_cmd_bad(cmd, "SORT expects criteria, a charset and search keys");
	if (!slice_eq_ci(args->args[1].str, "UTF-8") && !slice_eq_ci(args->args[1].str, "US-ASCII"))
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
	job = imap_job_new(cmd, search_run, NULL, true);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct search_req){ .is_uid = cmd->is_uid };
	job->ctx = req;
	pc = (struct parse_ctx){ .ic = cmd->client, .a = job->arena, .req = req };
	if (sort_criteria_parse(req, &args->args[0]) < 0 ||
	    (req->root = parse_list(&pc, args->args + 2, args->count - 2, 0)) == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid or unsupported SORT criteria");
	}
	return imap_job_submit(job);
}

/* THREAD ORDEREDSUBJECT charset search-keys (RFC 5256); REFERENCES is not
   served. */
enum cmd_ret imap_cmd_thread(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	struct search_req *req;
	struct parse_ctx pc;

	if (args->count < 3 || args->args[0].type != IMAP_ARG_ATOM || !is_string(&args->args[1]))
		return imap_cmd_bad(cmd, "THREAD expects an algorithm, a charset and search keys");
	if (!slice_eq_ci(args->args[0].str, "ORDEREDSUBJECT"))
		return imap_cmd_bad(cmd, "Unsupported THREAD algorithm");
	if (!slice_eq_ci(args->args[1].str, "UTF-8") && !slice_eq_ci(args->args[1].str, "US-ASCII"))
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
	job = imap_job_new(cmd, search_run, NULL, true);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct search_req){ .is_uid = cmd->is_uid, .thread = true, .sort_count = 2 };
	req->sort[0] = (struct sort_crit){ .key = SK_SUBJECT };
	req->sort[1] = (struct sort_crit){ .key = SK_DATE };
	job->ctx = req;
	pc = (struct parse_ctx){ .ic = cmd->client, .a = job->arena, .req = req };
	req->root = parse_list(&pc, args->args + 2, args->count - 2, 0);
	if (req->root == NULL) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid or unsupported search criteria");
	}
	return imap_job_submit(job);
}
