/* SEARCH and UID SEARCH (RFC 9051 §6.4.4), ESEARCH RETURN options (RFC
   4731), SEARCHRES (RFC 5182), MULTISEARCH (RFC 7377), WITHIN (RFC 5032),
   SAVEDATE keys (RFC 8514); the engine under SORT (cmd-sort.c) and THREAD
   (cmd-thread.c) too.

   The criteria are parsed on the loop into a tree in the job's arena. The
   worker reads flags, keywords, dates and sizes of the whole mailbox with
   one store_fetch(), resolves each text criterion (SUBJECT, FROM, TO, CC,
   BCC, BODY, TEXT, HEADER of an indexed field) with one store_search()
   (index lookups in the store), and evaluates the tree per message. HEADER
   of any other field reads each candidate's header block from the blob
   store (slow on big mailboxes, but rare). Only messages already announced
   to the session are candidates. IMAP4rev2 clients and RETURN options get
   an ESEARCH response, IMAP4rev1 clients "* SEARCH".

   "$" (SEARCHRES) is the session's saved UID list: search_done() moves a
   SAVE result into it on the loop, imap_searchres_ranges() turns it into
   UID ranges for any sequence-set argument (imap_seqset_parse). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/blob.h"
#include "../store/store.h"
#include "imap-search.h"

#define SEARCH_MAX_DEPTH 32

struct multi_ctx;

enum node_type {
	N_ALL,
	N_NONE,
	N_SET,	/* sequence or UID set, as UID ranges */
	N_FLAG, /* has flag bit */
	N_KEYWORD,
	N_TEXT,	  /* store_search() */
	N_HEADER, /* HEADER of a field the store does not index: read from the body */
	N_LARGER,
	N_SMALLER,
	N_BEFORE, /* INTERNALDATE day < */
	N_ON,
	N_SINCE,
	N_SENTBEFORE,
	N_SENTON,
	N_SENTSINCE,
	N_MODSEQ, /* RFC 7162: MODSEQ >= */
	N_OLDER,  /* RFC 5032 WITHIN: INTERNALDATE more than num seconds ago */
	N_YOUNGER,
	N_SAVEDBEFORE, /* RFC 8514 SAVEDATE, by day */
	N_SAVEDON,
	N_SAVEDSINCE,
	N_EMAILID, /* RFC 8474 */
	N_NOT,
	N_OR,
	N_AND,
};

struct node {
	enum node_type type;
	uint32_t flag;
	const char *str;
	const char *field; /* N_HEADER */
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

struct search_req {
	struct node *root;
	struct search_spec spec;
	bool need_sent;
	bool need_headers;     /* SORT/THREAD columns */
	bool has_modseq;       /* answer with the highest MODSEQ of the hits */
	bool has_seqset;       /* message numbers or $ in the criteria */
	bool multi;	       /* ESEARCH over mailboxes (RFC 7377): every live message */
	bool need_header_blob; /* N_HEADER: each candidate's header from the blob store */
	const char *address;   /* the account's, for blob keys */
	int64_t now;	       /* WITHIN (RFC 5032) */
	struct search_msg *msgs;
	size_t count, cap;
	struct imap_job *job;
	bool is_uid;
	/* MULTISEARCH sources */
	unsigned int sources;
	struct multi_ctx *multi_ctx;
	/* SEARCHRES result, moved into the session by the completion */
	uint32_t *saved;
	size_t saved_count;
};

struct parse_ctx {
	struct imap_client *ic;
	struct arena *a;
	struct search_req *req;
};

/* ---- parsing (on the loop) -------------------------------------------------- */

static int64_t parse_day(struct slice s)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
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
	tm = (struct tm){.tm_mday = day, .tm_mon = month, .tm_year = year - 1900};
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

	*n = (struct node){.type = type};
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
    {"SEEN", STORE_FLAG_SEEN, false},	      {"UNSEEN", STORE_FLAG_SEEN, true},
    {"FLAGGED", STORE_FLAG_FLAGGED, false},   {"UNFLAGGED", STORE_FLAG_FLAGGED, true},
    {"DELETED", STORE_FLAG_DELETED, false},   {"UNDELETED", STORE_FLAG_DELETED, true},
    {"ANSWERED", STORE_FLAG_ANSWERED, false}, {"UNANSWERED", STORE_FLAG_ANSWERED, true},
    {"DRAFT", STORE_FLAG_DRAFT, false},	      {"UNDRAFT", STORE_FLAG_DRAFT, true},
};

static const struct {
	const char *name;
	enum store_search_key key;
} text_keys[] = {
    {"SUBJECT", STORE_SEARCH_SUBJECT}, {"FROM", STORE_SEARCH_FROM}, {"TO", STORE_SEARCH_TO},
    {"CC", STORE_SEARCH_CC},	       {"BCC", STORE_SEARCH_BCC},   {"BODY", STORE_SEARCH_BODY},
    {"TEXT", STORE_SEARCH_TEXT},
};

static const struct {
	const char *name;
	enum node_type type;
	bool sent;
} date_keys[] = {
    {"BEFORE", N_BEFORE, false},
    {"ON", N_ON, false},
    {"SINCE", N_SINCE, false},
    {"SENTBEFORE", N_SENTBEFORE, true},
    {"SENTON", N_SENTON, true},
    {"SENTSINCE", N_SENTSINCE, true},
    {"SAVEDBEFORE", N_SAVEDBEFORE, false},
    {"SAVEDON", N_SAVEDON, false},
    {"SAVEDSINCE", N_SAVEDSINCE, false},
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
	    {"Subject", STORE_SEARCH_SUBJECT}, {"From", STORE_SEARCH_FROM},
	    {"To", STORE_SEARCH_TO},	       {"Cc", STORE_SEARCH_CC},
	    {"Bcc", STORE_SEARCH_BCC},	       {"Message-ID", STORE_SEARCH_MESSAGE_ID},
	};

	/* HEADER field "" asks whether the field is there at all: the
	   indexes cannot say, the header itself can */
	for (size_t j = 0; j < ARRAY_SIZE(fields) && value.len > 0; j++) {
		if (slice_eq_ci(field, fields[j].name)) {
			struct node *n = node_new(pc, N_TEXT);

			n->key = fields[j].key;
			n->str = arena_strndup(pc->a, value.ptr, value.len);
			return n;
		}
	}
	/* any other field (RFC 9051 §6.4.4): matched against the stored
	   message's header, read from the blob store at SEARCH time */
	if (field.len == 0 || field.len > 128)
		return NULL;
	for (size_t j = 0; j < field.len; j++) {
		if (field.ptr[j] <= ' ' || field.ptr[j] >= 127 || field.ptr[j] == ':')
			return NULL;
	}
	{
		struct node *n = node_new(pc, N_HEADER);

		n->field = arena_strndup(pc->a, field.ptr, field.len);
		n->str = arena_strndup(pc->a, value.ptr, value.len);
		pc->req->need_header_blob = true;
		return n;
	}
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
	/* RFC 8514: every message has a save date here */
	if (slice_eq_ci(a->str, "SAVEDATESUPPORTED"))
		return node_new(pc, N_ALL);
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
	/* RFC 8474: EMAILID is "E<id>" as FETCH EMAILID sends it; THREADID is
	   NIL on every message, so no thread id matches */
	if (slice_eq_ci(a->str, "EMAILID") || slice_eq_ci(a->str, "THREADID")) {
		bool email = slice_eq_ci(a->str, "EMAILID");
		struct slice id = v->str;

		if (v->type != IMAP_ARG_ATOM || id.len < 1 || id.len > 255)
			return NULL;
		(*i)++;
		if (email && id.len > 1 && id.ptr[0] == 'E') {
			struct slice digits = { id.ptr + 1, id.len - 1 };

			n = node_new(pc, N_EMAILID);
			if (str_to_u64(digits, &n->num) == 0 && n->num > 0 && n->num <= INT64_MAX)
				return n;
		}
		return node_new(pc, N_NONE);
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
			if (date_keys[j].sent)
				pc->req->need_sent = true;
			return n;
		}
	}
	if (slice_eq_ci(a->str, "OLDER") || slice_eq_ci(a->str, "YOUNGER")) {
		n = node_new(pc, slice_eq_ci(a->str, "OLDER") ? N_OLDER : N_YOUNGER);
		if (v->type != IMAP_ARG_ATOM || str_to_u64(v->str, &n->num) < 0 || n->num == 0 ||
		    n->num > (uint64_t)INT32_MAX * 4)
			return NULL;
		(*i)++;
		return n;
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
		if (slice_eq_ci(v->str, "$"))
			pc->req->has_seqset = true;
		return n;
	}
as_set:
	pc->req->has_seqset = true;
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

/* Does the header block have field (case-insensitive) with value as a
   case-insensitive substring of its unfolded contents? "" matches any
   message that has the field. */
static bool header_match(const char *hdr, const char *field, const char *value)
{
	size_t flen = strlen(field);

	for (const char *p = hdr; p != NULL && *p != '\0';) {
		const char *eol = strchr(p, '\n');

		if (strncasecmp(p, field, flen) == 0 && p[flen] == ':') {
			struct buf v;
			const char *q = p + flen + 1;
			bool found;

			buf_init(&v, 0);
			for (;;) {
				const char *e = strchr(q, '\n');
				size_t len = e != NULL ? (size_t)(e - q) : strlen(q);

				if (len > 0 && q[len - 1] == '\r')
					len--;
				(void)buf_append(&v, q, len);
				if (e == NULL || (e[1] != ' ' && e[1] != '\t'))
					break;
				q = e + 1; /* a folded continuation line */
			}
			found = strcasestr(v.data != NULL ? v.data : "", value) != NULL;
			buf_free(&v);
			if (found)
				return true;
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
	return false;
}

static bool eval_at(const struct node *n, const struct search_msg *m, int64_t now)
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
	case N_HEADER:
		return header_match(m->header, n->field, n->str);
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
	case N_OLDER:
		return m->internal_date <= now - (int64_t)n->num;
	case N_YOUNGER:
		return m->internal_date >= now - (int64_t)n->num;
	case N_SAVEDBEFORE:
		return m->save_date / 86400 < (int64_t)n->num;
	case N_SAVEDON:
		return m->save_date / 86400 == (int64_t)n->num;
	case N_SAVEDSINCE:
		return m->save_date / 86400 >= (int64_t)n->num;
	case N_EMAILID:
		return m->email_id == (int64_t)n->num;
	case N_NOT:
		return !eval_at(n->kids[0], m, now);
	case N_OR:
		return eval_at(n->kids[0], m, now) || eval_at(n->kids[1], m, now);
	case N_AND:
		for (size_t i = 0; i < n->kid_count; i++) {
			if (!eval_at(n->kids[i], m, now))
				return false;
		}
		return true;
	}
	return false;
}

static int resolve_text(struct imap_job *job, int64_t mailbox_id, struct node *n,
			struct store_error *err)
{
	if (n->type == N_TEXT)
		return store_search(job->ms->store, mailbox_id, n->key, n->str, job->arena,
				    &n->uids, &n->uid_count, err);
	for (size_t i = 0; i < n->kid_count; i++) {
		if (resolve_text(job, mailbox_id, n->kids[i], err) < 0)
			return -1;
	}
	return 0;
}

/* RFC 5256 §2.1: the Subject had a reply or forward marker the base
   subject lost ("Re:", "Fwd:", "[Fwd: …]", "… (fwd)"), list tags aside */
static bool subject_is_reply(const char *s)
{
	size_t len;

	if (s == NULL)
		return false;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '[' || strchr(s, ']') == NULL || strncasecmp(s, "[fwd:", 5) == 0)
			break;
		s = strchr(s, ']') + 1;
	}
	if (strncasecmp(s, "[fwd:", 5) == 0)
		return true;
	for (const char *p = s; *p != '\0' && p - s < 4; p++) {
		if (*p == ':' || *p == '[')
			return (p - s == 2 && strncasecmp(s, "re", 2) == 0) ||
			       (p - s == 2 && strncasecmp(s, "fw", 2) == 0) ||
			       (p - s == 3 && strncasecmp(s, "fwd", 3) == 0);
	}
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return len >= 5 && strncasecmp(s + len - 5, "(fwd)", 5) == 0;
}

static int search_cb(const struct store_message *msg, void *ctx)
{
	struct search_req *req = ctx;
	struct arena *a = req->job->arena;
	uint32_t seq = 0;
	struct search_msg *m;

	if (!req->multi) {
		/* only messages announced to the session are candidates */
		seq = imap_uid_seq(req->job->uids, req->job->uid_count, msg->uid);
		if (seq == 0)
			return 0;
	}
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
	    .save_date = msg->save_date,
	    .email_id = msg->email_id,
	    .sent_date = msg->headers.sent_date,
	    .size = msg->size,
	};
	if (req->need_header_blob && msg->content_hash != NULL)
		m->content_hash = arena_strdup(a, msg->content_hash);
	if (req->need_headers) {
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
		if (req->spec.mode == SEARCH_MODE_THREAD) {
			m->message_id =
			    h->message_id != NULL ? arena_strdup(a, h->message_id) : NULL;
			m->in_reply_to =
			    h->in_reply_to != NULL ? arena_strdup(a, h->in_reply_to) : NULL;
			m->references =
			    h->references != NULL ? arena_strdup(a, h->references) : NULL;
			m->subject_is_reply = subject_is_reply(h->subject);
		}
	}
	return 0;
}

/* The hits of one mailbox, in mailbox order. */
static const struct search_msg **search_hits(struct search_req *req, size_t *count_r,
					     uint64_t *max_modseq_r)
{
	const struct search_msg **hits =
	    arena_alloc(req->job->arena, (req->count + 1) * sizeof(*hits));
	size_t n = 0;
	uint64_t max_modseq = 0;

	for (size_t i = 0; i < req->count; i++) {
		if (!eval_at(req->root, &req->msgs[i], req->now))
			continue;
		hits[n++] = &req->msgs[i];
		max_modseq = MAX(max_modseq, req->msgs[i].modseq);
	}
	*count_r = n;
	*max_modseq_r = req->has_modseq ? max_modseq : 0;
	return hits;
}

static uint32_t hit_num(const struct search_req *req, const struct search_msg *m)
{
	return req->is_uid || req->multi ? m->uid : m->seq;
}

/* RFC 4731 / RFC 5267 / RFC 7377 ESEARCH. hits in answer order. */
static void esearch_reply(struct imap_job *job, const struct search_req *req,
			  const struct search_msg **hits, size_t n, uint64_t max_modseq,
			  const char *mailbox, uint32_t uidvalidity)
{
	struct buf *out = &job->out;
	unsigned int ret = req->spec.ret != 0 ? req->spec.ret : SR_ALL;
	uint32_t *nums = arena_alloc(job->arena, (n + 1) * sizeof(*nums));
	uint32_t lo = UINT32_MAX, hi = 0;

	for (size_t i = 0; i < n; i++) {
		nums[i] = hit_num(req, hits[i]);
		lo = MIN(lo, nums[i]);
		hi = MAX(hi, nums[i]);
	}
	if (req->spec.mode == SEARCH_MODE_SORT && n > 0) {
		/* RFC 5267 §3.1: MIN and MAX are the first and last in sort order */
		lo = nums[0];
		hi = nums[n - 1];
	}
	(void)buf_append_str(out, "* ESEARCH (TAG ");
	imap_append_string(out, job->tag);
	if (mailbox != NULL) {
		(void)buf_append_str(out, " MAILBOX ");
		imap_append_mailbox(out, mailbox, job->utf8);
		(void)buf_printf(out, " UIDVALIDITY %u", uidvalidity);
	}
	(void)buf_append_str(out, ")");
	if (req->is_uid || req->multi)
		(void)buf_append_str(out, " UID");
	if ((ret & SR_MIN) != 0 && n > 0)
		(void)buf_printf(out, " MIN %u", lo);
	if ((ret & SR_MAX) != 0 && n > 0)
		(void)buf_printf(out, " MAX %u", hi);
	if ((ret & SR_ALL) != 0 && n > 0) {
		(void)buf_append_str(out, " ALL ");
		/* in answer order; runs of +1 become ranges, which RFC 5267
		   §3.1 allows in an ESORT ALL */
		imap_append_uidset(out, nums, n);
	}
	if ((ret & SR_COUNT) != 0)
		(void)buf_printf(out, " COUNT %zu", n);
	if (max_modseq != 0)
		(void)buf_printf(out, " MODSEQ %llu", (unsigned long long)max_modseq);
	(void)buf_append_str(out, "\r\n");
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* RFC 5182 §2.4: with MIN or MAX (and no ALL/COUNT) only those are saved */
static void search_save(struct search_req *req, const struct search_msg **hits, size_t n)
{
	unsigned int ret = req->spec.ret;
	uint32_t *v;
	size_t count = 0;

	if (n == 0)
		return;
	v = xmalloc(n * sizeof(*v));
	if ((ret & (SR_MIN | SR_MAX)) != 0 && (ret & (SR_ALL | SR_COUNT)) == 0) {
		uint32_t lo = UINT32_MAX, hi = 0;

		for (size_t i = 0; i < n; i++) {
			lo = MIN(lo, hits[i]->uid);
			hi = MAX(hi, hits[i]->uid);
		}
		if (req->spec.mode == SEARCH_MODE_SORT) {
			lo = hits[0]->uid;
			hi = hits[n - 1]->uid;
		}
		if ((ret & SR_MIN) != 0)
			v[count++] = lo;
		if ((ret & SR_MAX) != 0 && (count == 0 || v[0] != hi))
			v[count++] = hi;
	} else {
		for (size_t i = 0; i < n; i++)
			v[count++] = hits[i]->uid;
	}
	qsort(v, count, sizeof(*v), uid_cmp);
	req->saved = v;
	req->saved_count = count;
	req->job->owned = v; /* freed with the job unless the session takes it */
}

static void search_reply(struct imap_job *job, struct search_req *req,
			 const struct search_msg **hits, size_t n, uint64_t max_modseq)
{
	struct buf *out = &job->out;
	static const char *const names[] = {"SEARCH", "SORT", "THREAD"};

	if (req->spec.mode == SEARCH_MODE_SORT)
		imap_sort_msgs(hits, n, req->spec.sort, req->spec.sort_count);
	if ((req->spec.ret & SR_SAVE) != 0)
		search_save(req, hits, n);
	if (req->spec.mode == SEARCH_MODE_THREAD) {
		(void)buf_append_str(out, n > 0 ? "* THREAD " : "* THREAD");
		imap_thread_build(req->spec.algo, hits, n, req->is_uid, job->arena, out);
		(void)buf_append_str(out, "\r\n");
	} else if (req->spec.ret == SR_SAVE) {
		/* RFC 5182 §2.1: SAVE alone answers nothing but the tagged OK */
	} else if (req->spec.ret != 0 || (job->rev2 && req->spec.mode == SEARCH_MODE_SEARCH)) {
		esearch_reply(job, req, hits, n, max_modseq, NULL, 0);
	} else {
		(void)buf_append_str(out,
				     req->spec.mode == SEARCH_MODE_SORT ? "* SORT" : "* SEARCH");
		for (size_t i = 0; i < n; i++)
			(void)buf_printf(out, " %u", hit_num(req, hits[i]));
		/* RFC 7162 §3.1.5 */
		if (max_modseq != 0)
			(void)buf_printf(out, " (MODSEQ %llu)", (unsigned long long)max_modseq);
		(void)buf_append_str(out, "\r\n");
	}
	imap_job_tagged(job, "OK", "%s completed", names[req->spec.mode]);
}

static unsigned int search_fields(const struct search_req *req)
{
	unsigned int fields = STORE_FETCH_KEYWORDS | STORE_FETCH_DATES | STORE_FETCH_SIZE;

	if (req->need_sent || req->need_headers)
		fields |= STORE_FETCH_HEADERS;
	if (req->need_header_blob)
		fields |= STORE_FETCH_BLOB;
	return fields;
}

#define SEARCH_HEADER_MAX (256 * 1024)

struct header_read {
	struct buf b;
	bool complete;
};

/* Keeps the bytes up to the blank line that ends the header. */
static int header_chunk(void *ctx, const void *data, size_t len, struct blob_error *err)
{
	struct header_read *hr = ctx;
	const char *end;

	(void)err;
	(void)buf_append(&hr->b, data, MIN(len, SEARCH_HEADER_MAX - hr->b.len));
	end = hr->b.data != NULL ? strstr(hr->b.data, "\n\r\n") : NULL;
	if (end == NULL && hr->b.data != NULL)
		end = strstr(hr->b.data, "\n\n");
	if (end != NULL) {
		hr->b.len = (size_t)(end - hr->b.data) + 1;
		hr->b.data[hr->b.len] = '\0';
	}
	if (end != NULL || hr->b.len >= SEARCH_HEADER_MAX) {
		hr->complete = true;
		return -1; /* enough: stop the read */
	}
	return 0;
}

/* HEADER on fields the store does not index: each candidate's header
   block, streamed from the blob store until its end. */
static int search_load_headers(struct search_req *req, struct store_error *err)
{
	struct imap_job *job = req->job;

	if (!req->need_header_blob)
		return 0;
	if (req->address == NULL) {
		struct store_account acc;

		if (store_account_get(job->ms->store, job->account_id, job->arena, &acc, err) < 0)
			return -1;
		req->address = acc.primary_address;
	}
	for (size_t i = 0; i < req->count; i++) {
		struct search_msg *m = &req->msgs[i];
		struct blob_error berr = {0};
		struct header_read hr = {.complete = false};
		struct buf key;
		int ret;

		if (m->content_hash == NULL)
			continue;
		buf_init(&key, BLOB_KEY_MAX);
		buf_init(&hr.b, SEARCH_HEADER_MAX + 1);
		ret = blob_key_from_address(req->address, m->content_hash, &key, &berr);
		if (ret == 0)
			ret = blob_get_stream(job->ms->blob, key.data, header_chunk, &hr, NULL,
					      &berr);
		buf_free(&key);
		if (ret < 0 && !hr.complete) {
			buf_free(&hr.b);
			err->code = STORE_TEMPORARY;
			snprintf(err->msg, sizeof(err->msg), "uid=%u blob %s: %.200s", m->uid,
				 blob_err_name(berr.code), berr.msg);
			return -1;
		}
		m->header = arena_strdup(job->arena, hr.b.data != NULL ? hr.b.data : "");
		buf_free(&hr.b);
	}
	return 0;
}

static void search_run(struct imap_job *job)
{
	struct search_req *req = job->ctx;
	struct store_error err = {0};
	const struct search_msg **hits;
	size_t n;
	uint64_t max_modseq;

	req->job = job;
	if (resolve_text(job, job->mailbox_id, req->root, &err) < 0 ||
	    (job->uid_count > 0 && store_fetch(job->ms->store, job->mailbox_id, NULL, 0,
					       search_fields(req), 0, search_cb, req, &err) < 0) ||
	    search_load_headers(req, &err) < 0) {
		imap_job_fail(job, "search", &err);
		return;
	}
	hits = search_hits(req, &n, &max_modseq);
	search_reply(job, req, hits, n, max_modseq);
}

/* SEARCHRES: the session keeps the UIDs; a failed SAVE leaves $ empty */
static void search_done(struct imap_client *ic, struct imap_job *job)
{
	struct search_req *req = job->ctx;

	if ((req->spec.ret & SR_SAVE) == 0)
		return;
	free(ic->searchres);
	ic->searchres = NULL;
	ic->searchres_count = 0;
	if (!job->failed && req->saved != NULL) {
		ic->searchres = req->saved;
		ic->searchres_count = req->saved_count;
		job->owned = NULL;
	}
}

void imap_searchres_clear(struct imap_client *ic)
{
	free(ic->searchres);
	ic->searchres = NULL;
	ic->searchres_count = 0;
}

/* RETURN (MIN MAX ALL COUNT SAVE); () means ALL. */
int imap_search_return_parse(const struct imap_arg *l, unsigned int *ret_r)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} opts[] = {{"MIN", SR_MIN},
		    {"MAX", SR_MAX},
		    {"ALL", SR_ALL},
		    {"COUNT", SR_COUNT},
		    {"SAVE", SR_SAVE}};
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

bool imap_search_charset_ok(struct slice name)
{
	return slice_eq_ci(name, "UTF-8") || slice_eq_ci(name, "US-ASCII");
}

static struct search_req *search_req_new(struct imap_cmd *cmd, struct imap_job *job,
					 const struct search_spec *spec,
					 const struct imap_arg *keys, size_t key_count)
{
	struct search_req *req = arena_alloc(job->arena, sizeof(*req));
	struct parse_ctx pc;

	*req = (struct search_req){.is_uid = cmd->is_uid, .spec = *spec, .now = time(NULL)};
	req->need_headers = spec->mode != SEARCH_MODE_SEARCH;
	job->ctx = req;
	pc = (struct parse_ctx){.ic = cmd->client, .a = job->arena, .req = req};
	req->root = key_count > 0 ? parse_list(&pc, keys, key_count, 0) : NULL;
	return req->root != NULL ? req : NULL;
}

/* Sora's per-account search rate limit: false after answering NO. */
static bool search_allowed(struct imap_cmd *cmd)
{
	const struct imap_client *ic = cmd->client;
	uint64_t wait = search_limiter_take(ic->srv->search_limit, ic->account_id, util_now_ms());

	if (wait == 0)
		return true;
	log_info(conn_log(ic->conn), "imap.search_rate_limited", "wait_ms=%llu",
		 (unsigned long long)wait);
	imap_cmd_no(cmd,
		    "[LIMIT] Search rate limit exceeded: %u searches in %llus, "
		    "please wait %llus before trying again",
		    ic->srv->cfg->search_rate_limit_per_min,
		    (unsigned long long)(ic->srv->cfg->search_rate_limit_window_ms / 1000),
		    (unsigned long long)(wait + 999) / 1000);
	return false;
}

enum cmd_ret imap_search_start(struct imap_cmd *cmd, const struct search_spec *spec,
			       const struct imap_arg *keys, size_t key_count)
{
	struct imap_job *job;
	struct search_req *req;

	if (!search_allowed(cmd))
		return CMD_DONE;
	job = imap_job_new(cmd, search_run, search_done, true);
	req = search_req_new(cmd, job, spec, keys, key_count);

	if (req == NULL) {
		imap_job_discard(&job);
		if ((spec->ret & SR_SAVE) != 0)
			imap_searchres_clear(cmd->client);
		return imap_cmd_bad(cmd, "Invalid or unsupported search criteria");
	}
	if (req->has_modseq)
		cmd->client->condstore_enabled = job->condstore = true;
	return imap_job_submit(job);
}

/* [RETURN (...)] [CHARSET name] keys, shared by SEARCH and ESEARCH.
 *first_r: index of the first key. 0, or -1 after answering. */
static int search_prefix(struct imap_cmd *cmd, size_t i, unsigned int *ret_r, size_t *first_r)
{
	const struct imap_cmd_args *args = cmd->args;

	if (i < args->count && args->args[i].type == IMAP_ARG_ATOM &&
	    slice_eq_ci(args->args[i].str, "RETURN")) {
		if (i + 1 >= args->count ||
		    imap_search_return_parse(&args->args[i + 1], ret_r) < 0) {
			imap_cmd_bad(cmd, "Invalid or unsupported SEARCH RETURN options");
			return -1;
		}
		i += 2;
	}
	if (i < args->count && args->args[i].type == IMAP_ARG_ATOM &&
	    slice_eq_ci(args->args[i].str, "CHARSET")) {
		if (i + 1 >= args->count || !is_string(&args->args[i + 1])) {
			imap_cmd_bad(cmd, "CHARSET expects a charset name");
			return -1;
		}
		if (!imap_search_charset_ok(args->args[i + 1].str)) {
			if ((*ret_r & SR_SAVE) != 0)
				imap_searchres_clear(cmd->client);
			imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
			return -1;
		}
		i += 2;
	}
	if (i >= args->count) {
		imap_cmd_bad(cmd, "SEARCH expects search criteria");
		return -1;
	}
	*first_r = i;
	return 0;
}

enum cmd_ret imap_cmd_search(struct imap_cmd *cmd)
{
	struct search_spec spec = {.mode = SEARCH_MODE_SEARCH};
	size_t first;

	if (search_prefix(cmd, 0, &spec.ret, &first) < 0)
		return CMD_DONE;
	return imap_search_start(cmd, &spec, cmd->args->args + first, cmd->args->count - first);
}

/* ---- ESEARCH: RFC 7377 MULTISEARCH ------------------------------------------ */

enum search_source {
	SRC_SELECTED = 1 << 0,
	SRC_INBOXES = 1 << 1,
	SRC_PERSONAL = 1 << 2,
	SRC_SUBSCRIBED = 1 << 3,
	SRC_SUBTREE = 1 << 4,
	SRC_SUBTREE_ONE = 1 << 5,
	SRC_MAILBOXES = 1 << 6,
};

struct mbox_arg {
	const char *name;
	enum search_source kind; /* SRC_SUBTREE, SRC_SUBTREE_ONE or SRC_MAILBOXES */
};

struct multi_ctx {
	struct mbox_arg *names;
	size_t name_count;
};

static bool name_matches(const struct multi_ctx *mc, const char *name)
{
	for (size_t i = 0; i < mc->name_count; i++) {
		const char *want = mc->names[i].name;
		size_t len = strlen(want);

		if (strcmp(name, want) == 0)
			return true;
		if (mc->names[i].kind == SRC_MAILBOXES || strncmp(name, want, len) != 0 ||
		    name[len] != STORE_MAILBOX_DELIMITER)
			continue;
		if (mc->names[i].kind == SRC_SUBTREE ||
		    strchr(name + len + 1, STORE_MAILBOX_DELIMITER) == NULL)
			return true;
	}
	return false;
}

static bool source_wants(const struct search_req *req, const struct multi_ctx *mc,
			 const struct store_mailbox *mb, int64_t selected, const char **subscribed,
			 size_t sub_count)
{
	if ((req->sources & SRC_PERSONAL) != 0)
		return true;
	if ((req->sources & SRC_SELECTED) != 0 && mb->id == selected)
		return true;
	if ((req->sources & SRC_INBOXES) != 0 && store_mailbox_name_is_inbox(mb->name))
		return true;
	if ((req->sources & SRC_SUBSCRIBED) != 0) {
		for (size_t i = 0; i < sub_count; i++) {
			if (strcmp(subscribed[i], mb->name) == 0)
				return true;
		}
	}
	return name_matches(mc, mb->name);
}

static void multisearch_run(struct imap_job *job)
{
	struct search_req *req = job->ctx;
	struct multi_ctx *mc = req->multi_ctx;
	struct store_error err = {0};
	struct store_mailbox *mbs;
	const char **subs = NULL;
	size_t mb_count, sub_count = 0;

	req->job = job;
	if (store_mailbox_list(job->ms->store, job->account_id, job->arena, &mbs, &mb_count, &err) <
		0 ||
	    ((req->sources & SRC_SUBSCRIBED) != 0 &&
	     store_subscription_list(job->ms->store, job->account_id, job->arena, &subs, &sub_count,
				     &err) < 0)) {
		imap_job_fail(job, "esearch", &err);
		return;
	}
	for (size_t i = 0; i < mb_count; i++) {
		const struct search_msg **hits;
		size_t n;
		uint64_t max_modseq;

		if (mbs[i].is_noselect ||
		    !source_wants(req, mc, &mbs[i], job->mailbox_id, subs, sub_count))
			continue;
		req->count = 0;
		if (resolve_text(job, mbs[i].id, req->root, &err) < 0 ||
		    store_fetch(job->ms->store, mbs[i].id, NULL, 0, search_fields(req), 0,
				search_cb, req, &err) < 0 ||
		    search_load_headers(req, &err) < 0) {
			imap_job_fail(job, "esearch", &err);
			return;
		}
		hits = search_hits(req, &n, &max_modseq);
		/* mailboxes without a match answer nothing (RFC 7377 §2) unless a
		   COUNT was asked for */
		if (n > 0 || (req->spec.ret & SR_COUNT) != 0)
			esearch_reply(job, req, hits, n, max_modseq, mbs[i].name,
				      mbs[i].uidvalidity);
	}
	imap_job_tagged(job, "OK", "ESEARCH completed");
}

/* mailbox or "(" mailbox *(SP mailbox) ")" */
static int multi_names(struct imap_cmd *cmd, const struct imap_arg *a, enum search_source kind,
		       struct multi_ctx *mc, struct arena *arena)
{
	const struct imap_arg *list = a->type == IMAP_ARG_LIST ? a->list : a;
	size_t count = a->type == IMAP_ARG_LIST ? a->list_count : 1;

	if (count == 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		const char *name = imap_arg_mailbox_dup(cmd->client, &list[i], arena);
		char norm[STORE_MAILBOX_NAME_MAX + 1];
		struct mbox_arg *v;

		if (name == NULL || store_mailbox_name_normalize(name, norm, NULL) < 0)
			return -1;
		v = arena_alloc(arena, (mc->name_count + 1) * sizeof(*v));
		if (mc->name_count > 0)
			memcpy(v, mc->names, mc->name_count * sizeof(*v));
		v[mc->name_count++] = (struct mbox_arg){arena_strdup(arena, norm), kind};
		mc->names = v;
	}
	return 0;
}

static int multi_sources(struct imap_cmd *cmd, const struct imap_arg *l, struct search_req *req,
			 struct multi_ctx *mc, struct arena *arena)
{
	static const struct {
		const char *name;
		enum search_source src;
	} simple[] = {{"selected", SRC_SELECTED},
		      {"selected-delayed", SRC_SELECTED},
		      {"inboxes", SRC_INBOXES},
		      {"personal", SRC_PERSONAL},
		      {"subscribed", SRC_SUBSCRIBED}},
	  withnames[] = {{"subtree", SRC_SUBTREE},
			 {"subtree-one", SRC_SUBTREE_ONE},
			 {"mailboxes", SRC_MAILBOXES}};

	if (l->type != IMAP_ARG_LIST || l->list_count == 0)
		return -1;
	for (size_t i = 0; i < l->list_count; i++) {
		const struct imap_arg *a = &l->list[i];
		bool found = false;

		if (a->type != IMAP_ARG_ATOM)
			return -1;
		for (size_t j = 0; j < ARRAY_SIZE(simple) && !found; j++) {
			if (slice_eq_ci(a->str, simple[j].name)) {
				req->sources |= simple[j].src;
				found = true;
			}
		}
		for (size_t j = 0; j < ARRAY_SIZE(withnames) && !found; j++) {
			if (slice_eq_ci(a->str, withnames[j].name)) {
				if (i + 1 >= l->list_count ||
				    multi_names(cmd, &l->list[i + 1], withnames[j].src, mc, arena) <
					0)
					return -1;
				req->sources |= withnames[j].src;
				i++;
				found = true;
			}
		}
		if (!found)
			return -1;
	}
	return 0;
}

/* ESEARCH [IN (source-mbox ...)] [RETURN (...)] [CHARSET x] keys */
enum cmd_ret imap_cmd_esearch(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct imap_client *ic = cmd->client;
	struct search_spec spec = {.mode = SEARCH_MODE_SEARCH};
	struct imap_job *job;
	struct search_req *req;
	struct multi_ctx *mc;
	size_t first = 0;

	if (!search_allowed(cmd))
		return CMD_DONE;
	job = imap_job_new(cmd, multisearch_run, NULL, false);
	mc = arena_alloc(job->arena, sizeof(*mc));
	*mc = (struct multi_ctx){0};
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct search_req){.sources = SRC_SELECTED};
	if (args->count > 0 && args->args[0].type == IMAP_ARG_ATOM &&
	    slice_eq_ci(args->args[0].str, "IN")) {
		req->sources = 0;
		if (args->count < 2 ||
		    multi_sources(cmd, &args->args[1], req, mc, job->arena) < 0) {
			imap_job_discard(&job);
			return imap_cmd_bad(cmd, "Invalid ESEARCH source mailboxes");
		}
		first = 2;
	}
	if (search_prefix(cmd, first, &spec.ret, &first) < 0) {
		imap_job_discard(&job);
		return CMD_DONE;
	}
	if ((spec.ret & SR_SAVE) != 0) {
		/* RFC 7377 §2: $ is about the selected mailbox only */
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "SAVE is not allowed in a multi-mailbox ESEARCH");
	}
	if (req->sources == SRC_SELECTED && ic->state != IMAP_ST_SELECTED) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "No mailbox selected");
	}
	{
		unsigned int sources = req->sources;
		struct search_req *full =
		    search_req_new(cmd, job, &spec, args->args + first, args->count - first);

		if (full == NULL || full->has_seqset) {
			imap_job_discard(&job);
			return imap_cmd_bad(cmd, "Invalid search criteria (message numbers and $ "
						 "are not allowed across mailboxes)");
		}
		full->sources = sources;
		full->multi = true;
		full->multi_ctx = mc;
	}
	return imap_job_submit(job);
}

void imap_searchres_ranges(const struct imap_client *ic, struct arena *a,
			   struct store_uid_range **ranges_r, size_t *count_r)
{
	struct store_uid_range *r = arena_alloc(a, (ic->searchres_count + 1) * sizeof(*r));
	size_t count = 0;

	/* runs of consecutive saved UIDs only: a range never takes in a UID
	   the search did not return */
	for (size_t i = 0; i < ic->searchres_count; i++) {
		uint32_t uid = ic->searchres[i];

		if (count > 0 && r[count - 1].last + 1 == uid)
			r[count - 1].last = uid;
		else
			r[count++] = (struct store_uid_range){uid, uid};
	}
	*ranges_r = r;
	*count_r = count;
}

int imap_search_eval_keys(struct imap_client *ic, const struct imap_arg *keys, size_t key_count,
			  struct arena *a, const struct search_msg *msgs, size_t count, int64_t now)
{
	struct search_req *req = arena_alloc(a, sizeof(*req));
	struct parse_ctx pc = {.ic = ic, .a = a, .req = req};
	int hits = 0;

	*req = (struct search_req){.now = now};
	req->root = key_count > 0 ? parse_list(&pc, keys, key_count, 0) : NULL;
	if (req->root == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		hits += eval_at(req->root, &msgs[i], now) ? 1 : 0;
	return hits;
}
