/* FETCH and UID FETCH (RFC 9051 §6.4.5).

   The item list is parsed on the loop into a fetch_req in the job's arena
   (syntax errors answer BAD at once). The worker reads the metadata of the
   whole set with one store_fetch(), marks \Seen for non-PEEK body items
   (not in EXAMINE), then writes one "* n FETCH" per message, reading the
   body from the blob store only for messages whose items need it.
   ENVELOPE and BODYSTRUCTURE come from the strings stored at delivery;
   sections use the part offsets stored at delivery to read only their
   bytes (a range read of the blob); BODY and mail stored without offsets
   (before schema version 2) parse the body again (src/mime). A long reply
   (a big literal, or many messages) is handed to the loop in chunks as
   the client reads it (struct fetch_stream), so a 50 MB BODY[] or a
   100,000-message FETCH is never held whole. Bodies are sent as stored,
   so the lengths agree with RFC822.SIZE. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gmime/gmime.h>
/* glib has its own; ours (lib/util.h) are the same macros */
#undef MIN
#undef MAX

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../mime/mime.h"
#include "../store/blob.h"
#include "../store/store.h"
#include "imap-commands.h"

#define FETCH_MAX_SECTIONS 32
#define FETCH_MAX_PART_DEPTH 16
/* below net/conn's 64 MiB output ceiling, which would drop the connection */
#define FETCH_MAX_OUTPUT (48u * 1024 * 1024)

enum fetch_item {
	FI_UID = 1 << 0,
	FI_FLAGS = 1 << 1,
	FI_INTERNALDATE = 1 << 2,
	FI_SIZE = 1 << 3,
	FI_ENVELOPE = 1 << 4,
	FI_BODYSTRUCTURE = 1 << 5,
	FI_BODY = 1 << 6,
	FI_MODSEQ = 1 << 7, /* RFC 7162 */
	FI_EMAILID = 1 << 8, /* RFC 8474 */
	FI_THREADID = 1 << 9,
	FI_SAVEDATE = 1 << 10, /* RFC 8514 */
	FI_PREVIEW = 1 << 11, /* RFC 8970, stored at delivery */
};

enum binary_kind { BIN_NONE, BIN_CONTENT, BIN_SIZE }; /* RFC 3516 */

enum fields_mode { FIELDS_NONE, FIELDS_ONLY, FIELDS_NOT };

struct fetch_section {
	const char *label; /* as the response names it */
	uint32_t nums[FETCH_MAX_PART_DEPTH];
	size_t num_count;
	bool whole;        /* BODY[] or RFC822 */
	enum mime_section kind;
	enum fields_mode fields_mode;
	const char **fields;
	size_t field_count;
	bool partial;
	uint64_t offset, length;
	bool peek;
	enum binary_kind binary;
};

struct fetch_msg {
	uint32_t uid, seq, flags;
	uint64_t modseq;
	int64_t email_id;
	int64_t save_date;
	const char *keywords;
	int64_t internal_date;
	uint64_t size;
	const char *hash; /* content hash, when the body may be read */
	const char *envelope, *bodystructure;
	const char *preview;
	const void *parts; /* stored part offsets, NULL: parse */
	size_t parts_len;
	bool flags_changed;
};

/* A big literal goes to the client while it is being read: the worker
   hands the reply over in chunks, the loop queues each one and gives the
   next turn only once the connection's queued output is below
   STREAM_HIGH (checked on a short timer: the connection's DRAINED event
   belongs to the session). The worker thread waits meanwhile, so a slow
   client costs a worker, not memory. */
#define STREAM_MIN (1u << 20)        /* literals from this size are streamed */
#define STREAM_CHUNK (256u * 1024)
#define STREAM_HIGH (1u << 20)
#define STREAM_POLL_MS 2
#define STREAM_POLL_MAX_MS 64
/* A client that reads nothing of a streamed reply for this long is cut
   off: it holds a worker thread, and enough of them would stall every
   session of the server. */
#define STREAM_STALL_MS (20 * 1000)

struct fetch_stream {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct conn *conn;
	struct loop *loop;
	struct timer timer;
	struct buf chunk;   /* with the loop while busy */
	uint64_t stall_start; /* loop time the queue was first found full, 0 = not */
	uint64_t stall_pending; /* queued bytes then: less means the client reads */
	unsigned poll_ms;
	bool busy;
	bool aborted;       /* the connection went away: stop */
	bool started;       /* bytes went out: a failure now must close */
};

struct fetch_req {
	unsigned int items;
	struct fetch_section sections[FETCH_MAX_SECTIONS];
	size_t section_count;
	bool set_seen;
	struct store_uid_range *set;
	size_t set_count;
	uint64_t changed_since; /* RFC 7162 CHANGEDSINCE, 0 = none */
	bool vanished;          /* RFC 7162 §3.2.6 VANISHED modifier */
	uint64_t seen_modseq;   /* of the implicit \Seen change, 0 = none */
	uint64_t max_output;
	/* worker state */
	struct fetch_msg *msgs;
	size_t count, cap;
	struct imap_job *job;
	struct fetch_stream *stream; /* NULL until a big literal comes */
	bool stream_broken;          /* failed mid-literal: close (fetch_done) */
	uint64_t stream_flushes;     /* job->out handed over this many times */
};

/* ---- streaming (see struct fetch_stream) ---------------------------------- */

static void stream_release(struct fetch_stream *st)
{
	pthread_mutex_lock(&st->mu);
	st->busy = false;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

/* Loop side: the next turn once the output queue is low enough. */
static void stream_check(struct fetch_stream *st)
{
	struct conn *c = st->conn;

	if (conn_session(c) == NULL || conn_is_closing(c)) {
		st->aborted = true;
	} else if (conn_output_pending(c) > STREAM_HIGH) {
		uint64_t now = loop_now(st->loop), pending = conn_output_pending(c);

		if (st->stall_start == 0 || pending < st->stall_pending) {
			/* first look, or the client read some: a new stall clock */
			st->stall_start = now;
			st->stall_pending = pending;
			st->poll_ms = STREAM_POLL_MS;
		} else if (now - st->stall_start >= STREAM_STALL_MS) {
			st->aborted = true;
			conn_close(c, "client stopped reading a streamed reply");
			stream_release(st);
			return;
		} else if (st->poll_ms < STREAM_POLL_MAX_MS) {
			st->poll_ms *= 2;
		}
		loop_timer_start(st->loop, &st->timer, st->poll_ms);
		return;
	}
	st->stall_start = 0;
	stream_release(st);
}

static void stream_timer(struct timer *t)
{
	stream_check(t->ctx);
}

static void stream_send(void *ctx)
{
	struct fetch_stream *st = ctx;
	struct conn *c = st->conn;

	if (conn_session(c) != NULL && !conn_is_closing(c) && st->chunk.len > 0 &&
	    conn_send(c, st->chunk.data, st->chunk.len) < 0)
		st->aborted = true;
	buf_clear(&st->chunk);
	stream_check(st);
}

/* Worker side: waits for the loop's turn, then hands it job->out. -1
   when the connection went away. */
static int stream_flush(struct fetch_req *req)
{
	struct fetch_stream *st = req->stream;
	struct buf tmp;

	if (st == NULL) {
		st = req->stream = xcalloc(1, sizeof(*st));
		pthread_mutex_init(&st->mu, NULL);
		pthread_cond_init(&st->cond, NULL);
		st->conn = req->job->conn;
		st->loop = conn_loop(st->conn);
		timer_init(&st->timer, stream_timer, st);
		buf_init(&st->chunk, 0);
	}
	pthread_mutex_lock(&st->mu);
	while (st->busy)
		pthread_cond_wait(&st->cond, &st->mu);
	pthread_mutex_unlock(&st->mu);
	if (st->aborted)
		return -1;
	if (req->job->out.len == 0)
		return 0;
	/* a swap, not a copy: job->out goes on with the emptied chunk */
	tmp = st->chunk;
	st->chunk = req->job->out;
	req->job->out = tmp;
	buf_clear(&req->job->out);
	st->busy = true;
	st->started = true;
	req->stream_flushes++;
	loop_post(st->loop, stream_send, st);
	return 0;
}

/* Worker side, at the end: the last chunk is in the loop's hands (and
   queued before what the completion sends); wait for it, then free. */
static void stream_end(struct fetch_req *req)
{
	struct fetch_stream *st = req->stream;

	if (st == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	while (st->busy)
		pthread_cond_wait(&st->cond, &st->mu);
	pthread_mutex_unlock(&st->mu);
	buf_free(&st->chunk);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->mu);
	free(st);
	req->stream = NULL;
}

/* ---- item parsing (on the loop) ----------------------------------------- */

static bool parse_fields(struct fetch_section *sec, const char *p, const char *end,
			 struct arena *a)
{
	size_t n = 0;

	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '(' || end[-1] != ')')
		return false;
	p++;
	end--;
	sec->fields = arena_alloc(a, (size_t)(end - p + 1) * sizeof(*sec->fields));
	while (p < end) {
		const char *start;

		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			break;
		if (*p == '"') {
			start = ++p;
			while (p < end && *p != '"')
				p++;
		} else {
			start = p;
			while (p < end && *p != ' ')
				p++;
		}
		if (p == start)
			return false;
		sec->fields[n++] = arena_strndup(a, start, (size_t)(p - start));
		if (p < end && *p == '"')
			p++;
	}
	sec->field_count = n;
	return n > 0;
}

/* "1.2.HEADER.FIELDS (From)" etc., the text between the brackets. */
static bool parse_section(struct fetch_section *sec, const char *p, const char *end,
			  struct arena *a)
{
	sec->kind = MIME_SECTION_BODY;
	if (p == end) {
		sec->whole = true;
		return true;
	}
	while (p < end && *p >= '0' && *p <= '9') {
		uint32_t n = 0;

		while (p < end && *p >= '0' && *p <= '9') {
			if (n > 100000000)
				return false;
			n = n * 10 + (uint32_t)(*p++ - '0');
		}
		if (n == 0 || sec->num_count == FETCH_MAX_PART_DEPTH)
			return false;
		sec->nums[sec->num_count++] = n;
		if (p == end)
			return true;
		if (*p != '.')
			return false;
		p++;
	}
	if ((size_t)(end - p) == 4 && strncasecmp(p, "TEXT", 4) == 0) {
		sec->kind = MIME_SECTION_TEXT;
		return true;
	}
	if ((size_t)(end - p) == 4 && strncasecmp(p, "MIME", 4) == 0 && sec->num_count > 0) {
		sec->kind = MIME_SECTION_MIME;
		return true;
	}
	if ((size_t)(end - p) == 6 && strncasecmp(p, "HEADER", 6) == 0) {
		sec->kind = MIME_SECTION_HEADER;
		return true;
	}
	if ((size_t)(end - p) > 17 && strncasecmp(p, "HEADER.FIELDS.NOT", 17) == 0 &&
	    (p[17] == ' ' || p[17] == '(')) {
		sec->kind = MIME_SECTION_HEADER;
		sec->fields_mode = FIELDS_NOT;
		return parse_fields(sec, p + 17, end, a);
	}
	if ((size_t)(end - p) > 13 && strncasecmp(p, "HEADER.FIELDS", 13) == 0 &&
	    (p[13] == ' ' || p[13] == '(')) {
		sec->kind = MIME_SECTION_HEADER;
		sec->fields_mode = FIELDS_ONLY;
		return parse_fields(sec, p + 13, end, a);
	}
	return false;
}

/* BODY[...]<o.n> or BODY.PEEK[...]<o.n> */
static bool parse_body_item(struct fetch_req *req, struct slice s, struct arena *a)
{
	const char *lb = memchr(s.ptr, '[', s.len);
	const char *end = s.ptr + s.len, *rb;
	struct fetch_section *sec;
	size_t prefix = lb != NULL ? (size_t)(lb - s.ptr) : 0;

	if (lb == NULL || req->section_count == FETCH_MAX_SECTIONS)
		return false;
	rb = lb;
	while (rb < end && *rb != ']')
		rb++;
	if (rb == end)
		return false;
	sec = &req->sections[req->section_count];
	*sec = (struct fetch_section){ 0 };
	if (prefix == 4 && strncasecmp(s.ptr, "BODY", 4) == 0)
		sec->peek = false;
	else if (prefix == 9 && strncasecmp(s.ptr, "BODY.PEEK", 9) == 0)
		sec->peek = true;
	else if (prefix == 6 && strncasecmp(s.ptr, "BINARY", 6) == 0)
		sec->binary = BIN_CONTENT;
	else if (prefix == 11 && strncasecmp(s.ptr, "BINARY.PEEK", 11) == 0)
		sec->peek = true, sec->binary = BIN_CONTENT;
	else if (prefix == 11 && strncasecmp(s.ptr, "BINARY.SIZE", 11) == 0)
		sec->peek = true, sec->binary = BIN_SIZE;
	else
		return false;
	if (!parse_section(sec, lb + 1, rb, a))
		return false;
	/* RFC 3516: section-binary is part numbers only */
	if (sec->binary != BIN_NONE && sec->kind != MIME_SECTION_BODY)
		return false;
	if (sec->binary == BIN_SIZE && rb + 1 < end)
		return false;
	if (rb + 1 < end) {
		/* <offset.length> */
		const char *p = rb + 1, *dot;

		if (*p != '<' || end[-1] != '>')
			return false;
		dot = memchr(p, '.', (size_t)(end - p));
		if (dot == NULL || str_to_u64(slice_from(p + 1, (size_t)(dot - p - 1)),
					      &sec->offset) < 0 ||
		    str_to_u64(slice_from(dot + 1, (size_t)(end - dot - 2)), &sec->length) < 0 ||
		    sec->length == 0)
			return false;
		sec->partial = true;
	}
	sec->label = arena_printf(a, "%s[%.*s]",
				  sec->binary == BIN_SIZE ? "BINARY.SIZE"
				  : sec->binary == BIN_CONTENT ? "BINARY" : "BODY",
				  (int)(rb - lb - 1), lb + 1);
	if (sec->partial)
		sec->label = arena_printf(a, "%s<%llu>", sec->label,
					  (unsigned long long)sec->offset);
	if (!sec->peek)
		req->set_seen = true;
	req->section_count++;
	return true;
}

static bool add_rfc822(struct fetch_req *req, const char *label, enum mime_section kind,
		       bool whole, bool peek)
{
	struct fetch_section *sec;

	if (req->section_count == FETCH_MAX_SECTIONS)
		return false;
	sec = &req->sections[req->section_count++];
	*sec = (struct fetch_section){ .label = label, .kind = kind, .whole = whole,
				       .peek = peek };
	if (!peek)
		req->set_seen = true;
	return true;
}

static bool parse_item(struct fetch_req *req, const struct imap_arg *arg, struct arena *a)
{
	static const struct {
		const char *name;
		unsigned int items;
	} simple[] = {
		{ "UID", FI_UID },
		{ "FLAGS", FI_FLAGS },
		{ "INTERNALDATE", FI_INTERNALDATE },
		{ "RFC822.SIZE", FI_SIZE },
		{ "ENVELOPE", FI_ENVELOPE },
		{ "BODYSTRUCTURE", FI_BODYSTRUCTURE },
		{ "BODY", FI_BODY },
		{ "MODSEQ", FI_MODSEQ },
		{ "EMAILID", FI_EMAILID },
		{ "THREADID", FI_THREADID },
		{ "SAVEDATE", FI_SAVEDATE },
		{ "PREVIEW", FI_PREVIEW },
		{ "ALL", FI_FLAGS | FI_INTERNALDATE | FI_SIZE | FI_ENVELOPE },
		{ "FAST", FI_FLAGS | FI_INTERNALDATE | FI_SIZE },
		{ "FULL", FI_FLAGS | FI_INTERNALDATE | FI_SIZE | FI_ENVELOPE | FI_BODY },
	};

	if (arg->type != IMAP_ARG_ATOM)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
		if (slice_eq_ci(arg->str, simple[i].name)) {
			req->items |= simple[i].items;
			return true;
		}
	}
	if (slice_eq_ci(arg->str, "RFC822"))
		return add_rfc822(req, "RFC822", MIME_SECTION_BODY, true, false);
	if (slice_eq_ci(arg->str, "RFC822.HEADER"))
		return add_rfc822(req, "RFC822.HEADER", MIME_SECTION_HEADER, false, true);
	if (slice_eq_ci(arg->str, "RFC822.TEXT"))
		return add_rfc822(req, "RFC822.TEXT", MIME_SECTION_TEXT, false, false);
	return parse_body_item(req, arg->str, a);
}

/* ---- the worker ------------------------------------------------------------ */

static int fetch_cb(const struct store_message *msg, void *ctx)
{
	struct fetch_req *req = ctx;
	struct arena *a = req->job->arena;
	struct fetch_msg *m;
	uint32_t seq = imap_uid_seq(req->job->uids, req->job->uid_count, msg->uid);

	if (seq == 0)
		return 0; /* not announced to this session yet */
	if (req->count == req->cap) {
		/* malloc'ed (job->owned): doubling in the arena would keep every
		   old copy of a 100,000-message array */
		req->cap = req->cap == 0 ? 64 : req->cap * 2;
		req->msgs = xrealloc(req->msgs, req->cap * sizeof(*req->msgs));
		req->job->owned = req->msgs;
	}
	m = &req->msgs[req->count++];
	*m = (struct fetch_msg){
		.uid = msg->uid,
		.seq = seq,
		.flags = msg->flags,
		.modseq = msg->modseq,
		.email_id = msg->email_id,
		.save_date = msg->save_date,
		.keywords = arena_strdup(a, msg->keywords != NULL ? msg->keywords : ""),
		.internal_date = msg->internal_date,
		.size = msg->size,
		.envelope = msg->headers.envelope != NULL ? arena_strdup(a, msg->headers.envelope)
							   : NULL,
		.bodystructure = msg->headers.bodystructure != NULL
					 ? arena_strdup(a, msg->headers.bodystructure)
					 : NULL,
		.preview = msg->headers.preview != NULL ? arena_strdup(a, msg->headers.preview)
							 : NULL,
	};
	if (msg->headers.parts != NULL && msg->headers.parts_len > 0) {
		void *p = arena_alloc(a, msg->headers.parts_len);

		memcpy(p, msg->headers.parts, msg->headers.parts_len);
		m->parts = p;
		m->parts_len = msg->headers.parts_len;
	}
	if (msg->content_hash != NULL && strlen(msg->content_hash) == BLOB_HASH_HEX_LEN)
		m->hash = arena_strdup(a, msg->content_hash);
	return 0;
}

/* RFC 9051 §6.4.5: a body item without PEEK sets \Seen (not in EXAMINE). */
static int fetch_mark_seen(struct fetch_req *req, struct store_error *err)
{
	struct imap_job *job = req->job;
	struct store_uid_range *set = arena_alloc(job->arena, (req->count + 1) * sizeof(*set));
	struct store_flags_result *res;
	struct store_flags_update upd = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN };
	uint32_t *failed;
	size_t n = 0, res_count, failed_count;

	for (size_t i = 0; i < req->count; i++) {
		if ((req->msgs[i].flags & STORE_FLAG_SEEN) == 0)
			set[n++] = (struct store_uid_range){ req->msgs[i].uid, req->msgs[i].uid };
	}
	if (n == 0)
		return 0;
	if (store_flags_update(job->ms->store, job->mailbox_id, set, n, &upd, job->arena, &res,
			       &res_count, &failed, &failed_count, err) < 0)
		return -1;
	for (size_t i = 0, j = 0; i < res_count; i++) {
		while (j < req->count && req->msgs[j].uid < res[i].uid)
			j++;
		if (j < req->count && req->msgs[j].uid == res[i].uid && res[i].changed) {
			req->msgs[j].flags = res[i].flags;
			req->msgs[j].keywords = res[i].keywords;
			req->msgs[j].modseq = res[i].modseq;
			req->msgs[j].flags_changed = true;
			req->seen_modseq = MAX(req->seen_modseq, res[i].modseq);
		}
	}
	return 0;
}

static void append_internaldate(struct buf *out, int64_t t)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		tm = (struct tm){ .tm_mday = 1, .tm_year = 70 };
	(void)buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
			 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
}

static bool field_listed(const struct fetch_section *sec, const char *name, size_t len)
{
	for (size_t i = 0; i < sec->field_count; i++) {
		if (strlen(sec->fields[i]) == len && strncasecmp(sec->fields[i], name, len) == 0)
			return true;
	}
	return false;
}

/* The header fields of [p, end) that the section asks for, and the blank
   line ending them. */
static void filter_header(const struct fetch_section *sec, const char *p, const char *end,
			  struct buf *out)
{
	while (p < end) {
		const char *line_end = p, *colon;
		bool blank;

		/* one field: its line and the continuation lines */
		do {
			const char *lf = memchr(line_end, '\n', (size_t)(end - line_end));

			line_end = lf != NULL ? lf + 1 : end;
		} while (line_end < end && (*line_end == ' ' || *line_end == '\t'));
		blank = (line_end - p == 1) || (line_end - p == 2 && p[0] == '\r');
		if (blank)
			break;
		colon = memchr(p, ':', (size_t)(line_end - p));
		if (colon != NULL) {
			size_t nlen = (size_t)(colon - p);
			bool listed;

			while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
				nlen--;
			listed = field_listed(sec, p, nlen);
			if (listed == (sec->fields_mode == FIELDS_ONLY))
				(void)buf_append(out, p, (size_t)(line_end - p));
		}
		p = line_end;
	}
	(void)buf_append_str(out, "\r\n");
}

/* One message's body, read lazily. With the part offsets stored at
   delivery (schema version 2) a section costs one range read of its own
   bytes from the blob store, and BODY[] goes from the store straight into
   the reply. Mail stored before (parts NULL), BODY and a missing
   BODYSTRUCTURE read the whole body and parse it, as before. */
struct body_ctx {
	struct imap_job *job;
	const struct fetch_msg *m;
	const char *address;
	struct buf key;
	struct buf *whole;          /* the whole body, once loaded */
	const char *data;
	size_t len;
	bool loaded;
	struct arena *arena;        /* per message */
	struct mime_message *mime;  /* parsed whole body */
	const struct mime_part *root; /* stored or parsed part tree */
	bool root_tried;
	bool failed;                /* job->failed is set: give up */
};

static int bc_fail(struct body_ctx *bc, const char *what, const struct blob_error *berr)
{
	struct imap_job *job = bc->job;

	/* a message row without its body is the world being wrong */
	job->failed = true;
	bc->failed = true;
	snprintf(job->error, sizeof(job->error), "op=fetch uid=%u %s %s: %s", bc->m->uid, what,
		 blob_err_name(berr->code), berr->msg);
	return -1;
}

static const char *bc_key(struct body_ctx *bc)
{
	struct blob_error berr = { 0 };

	if (bc->key.len > 0)
		return bc->key.data;
	if (blob_key_from_address(bc->address, bc->m->hash, &bc->key, &berr) < 0) {
		(void)bc_fail(bc, "blob key", &berr);
		return NULL;
	}
	return bc->key.data;
}

static struct arena *bc_arena(struct body_ctx *bc)
{
	if (bc->arena == NULL)
		bc->arena = arena_new(16384);
	return bc->arena;
}

/* Reads the whole body from the blob store. */
static int bc_load(struct body_ctx *bc)
{
	struct blob_error berr = { 0 };
	const char *key;

	if (bc->loaded)
		return 0;
	if (bc->failed || (key = bc_key(bc)) == NULL)
		return -1;
	if (blob_get(bc->job->ms->blob, key, bc->whole, NULL, &berr) < 0)
		return bc_fail(bc, "blob", &berr);
	bc->data = bc->whole->data != NULL ? bc->whole->data : "";
	bc->len = bc->whole->len;
	bc->loaded = true;
	return 0;
}

static struct mime_message *body_mime(struct body_ctx *bc)
{
	const char *error;

	if (bc->mime == NULL && bc_load(bc) == 0 &&
	    mime_parse(bc->data, bc->len, bc_arena(bc), &bc->mime, &error) < 0)
		bc->mime = NULL;
	return bc->mime;
}

/* The part tree: decoded from the stored offsets, else parsed. */
static const struct mime_part *bc_root(struct body_ctx *bc)
{
	if (!bc->root_tried) {
		struct mime_part *root = NULL;
		const char *error;

		bc->root_tried = true;
		if (bc->m->parts != NULL &&
		    mime_parts_decode(bc->m->parts, bc->m->parts_len, bc_arena(bc), &root,
				      &error) == 0) {
			bc->root = root;
		} else if (body_mime(bc) != NULL) {
			bc->root = bc->mime->root;
		}
	}
	return bc->root;
}

/* The message size: what was read, else as stored with the message. */
static uint64_t bc_size(const struct body_ctx *bc)
{
	return bc->loaded ? bc->len : bc->m->size;
}

/* Bytes [start, end) of the message: into the body in memory, else read
   from the blob store into dst. */
static int bc_read(struct body_ctx *bc, uint64_t start, uint64_t end, struct buf *dst,
		   const char **p_r, size_t *len_r)
{
	struct blob_error berr = { 0 };
	const char *key;

	*p_r = "";
	*len_r = 0;
	if (bc->loaded) {
		end = MIN(end, (uint64_t)bc->len);
		if (start < end) {
			*p_r = bc->data + start;
			*len_r = (size_t)(end - start);
		}
		return 0;
	}
	if (start >= end)
		return 0;
	if (bc->failed || (key = bc_key(bc)) == NULL)
		return -1;
	if (blob_get_range(bc->job->ms->blob, key, start, end - start, dst, NULL, &berr) < 0)
		return bc_fail(bc, "blob range", &berr);
	*p_r = dst->data != NULL ? dst->data : "";
	*len_r = dst->len;
	return 0;
}

/* Into the reply; a streamed one is handed to the loop every STREAM_CHUNK. */
struct emit_ctx {
	struct fetch_req *req; /* NULL: not streamed */
	struct buf *out;
};

static int append_chunk(void *ctx, const void *data, size_t len, struct blob_error *err)
{
	struct emit_ctx *ec = ctx;

	if (ec->req != NULL && ec->out->len >= STREAM_CHUNK && stream_flush(ec->req) < 0) {
		err->code = BLOB_IO;
		snprintf(err->msg, sizeof(err->msg), "client went away");
		return -1;
	}
	if (buf_append(ec->out, data, len) < 0) {
		err->code = BLOB_IO;
		snprintf(err->msg, sizeof(err->msg), "reply too large");
		return -1;
	}
	return 0;
}

/* Appends bytes [start, end) of the message to out, from the blob store
   straight into the reply when the body is not in memory. Exactly
   end - start bytes (the literal announced them), else a failure. */
static int bc_emit(struct body_ctx *bc, struct fetch_req *req, uint64_t start, uint64_t end,
		   struct buf *out)
{
	struct blob_error berr = { 0 };
	struct blob_read_info info;
	struct emit_ctx ec = { .req = end - start >= STREAM_MIN ? req : NULL, .out = out };
	const char *key;

	if (start >= end)
		return 0;
	if (bc->loaded) {
		if (end > bc->len) {
			berr.code = BLOB_CORRUPT;
			snprintf(berr.msg, sizeof(berr.msg), "body shorter than its size");
			return bc_fail(bc, "blob", &berr);
		}
		for (uint64_t pos = start; pos < end;) {
			size_t n = (size_t)MIN(end - pos, (uint64_t)STREAM_CHUNK);

			if (append_chunk(&ec, bc->data + pos, n, &berr) < 0) {
				if (req->stream != NULL && req->stream->started)
					req->stream_broken = true;
				return bc_fail(bc, "reply", &berr);
			}
			pos += n;
		}
		return 0;
	}
	if (bc->failed || (key = bc_key(bc)) == NULL)
		return -1;
	if (ec.req != NULL && stream_flush(req) < 0)
		return bc_fail(bc, "client", &(struct blob_error){ BLOB_IO, "went away" });
	if (blob_get_range_stream(bc->job->ms->blob, key, start, end - start, append_chunk, &ec,
				  &info, &berr) < 0) {
		if (req->stream != NULL && req->stream->started)
			req->stream_broken = true;
		return bc_fail(bc, "blob range", &berr);
	}
	if (info.size != end - start) {
		if (req->stream != NULL && req->stream->started)
			req->stream_broken = true;
		berr.code = BLOB_CORRUPT;
		snprintf(berr.msg, sizeof(berr.msg), "body shorter than its size (%llu of %llu)",
			 (unsigned long long)info.size, (unsigned long long)(end - start));
		return bc_fail(bc, "blob", &berr);
	}
	return 0;
}

/* The part an IMAP part number list names (RFC 9051 §6.4.5): a
   non-multipart message is its own part 1; the parts of a message/rfc822
   are those of the message it holds. */
static const struct mime_part *part_find(const struct mime_part *p, const uint32_t *nums,
					 size_t count)
{
	for (size_t i = 0; i < count && p != NULL; i++) {
		if ((p->flags & MIME_PART_MESSAGE) != 0 && i > 0)
			p = p->children;
		if (p == NULL)
			return NULL;
		if ((p->flags & MIME_PART_MULTIPART) != 0) {
			const struct mime_part *c = p->children;

			for (uint32_t n = 1; c != NULL && n < nums[i]; n++)
				c = c->next;
			p = c;
		} else if (nums[i] != 1) {
			return NULL;
		}
	}
	return p;
}

static bool identity_encoding(const char *enc)
{
	return enc == NULL || strcasecmp(enc, "7bit") == 0 || strcasecmp(enc, "8bit") == 0 ||
	       strcasecmp(enc, "binary") == 0;
}

/* Content-Transfer-Encoding of a part's own header (the stored offsets
   keep no Content-* fields): the last such field, one token, as the
   parser takes it; NULL when absent or not a single token. */
static const char *header_cte(const char *p, const char *end, struct arena *a)
{
	static const char name[] = "content-transfer-encoding";
	const char *found = NULL;
	size_t found_len = 0;

	while (p < end) {
		const char *line_end = p, *v;

		do {
			const char *lf = memchr(line_end, '\n', (size_t)(end - line_end));

			line_end = lf != NULL ? lf + 1 : end;
		} while (line_end < end && (*line_end == ' ' || *line_end == '\t'));
		if ((size_t)(line_end - p) > sizeof(name) - 1 &&
		    strncasecmp(p, name, sizeof(name) - 1) == 0) {
			v = p + sizeof(name) - 1;
			while (v < line_end && (*v == ' ' || *v == '\t'))
				v++;
			if (v < line_end && *v == ':') {
				const char *z = line_end;

				v++;
				while (v < z && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
					v++;
				while (z > v && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\r' ||
						 z[-1] == '\n'))
					z--;
				found = v;
				found_len = (size_t)(z - v);
				for (const char *q = v; q < z; q++) {
					if (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n' ||
					    *q == ';' || *q == '(') {
						found = NULL;
						break;
					}
				}
			}
		}
		p = line_end;
	}
	return found != NULL && found_len > 0 ? arena_strndup(a, found, found_len) : NULL;
}

/* Undoing a part's transfer encoding (RFC 3516) as its bytes stream in,
   keeping only the decoded bytes [from, to): a partial BINARY of a big
   attachment holds neither the encoded part nor all of its content. */
struct bin_stream {
	GMimeEncoding st;
	bool identity;
	uint64_t pos, from, to; /* decoded offsets */
	struct buf *out;
	bool done;
};

/* 0: the encoding is known (the stream is set up), -1: [UNKNOWN-CTE]. */
static int bin_stream_init(struct bin_stream *bs, const char *encoding, uint64_t from,
			   uint64_t to, struct buf *out)
{
	*bs = (struct bin_stream){ .from = from, .to = to, .out = out };
	if (identity_encoding(encoding))
		bs->identity = true;
	else if (strcasecmp(encoding, "base64") == 0)
		g_mime_encoding_init_decode(&bs->st, GMIME_CONTENT_ENCODING_BASE64);
	else if (strcasecmp(encoding, "quoted-printable") == 0)
		g_mime_encoding_init_decode(&bs->st, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	else
		return -1;
	return 0;
}

static void bin_keep(struct bin_stream *bs, const char *p, size_t n)
{
	uint64_t from = bs->pos, to = bs->pos + n;

	bs->pos = to;
	if (to > bs->from && from < bs->to) {
		uint64_t a = MAX(from, bs->from), z = MIN(to, bs->to);

		(void)buf_append(bs->out, p + (a - from), (size_t)(z - a));
	}
	if (to >= bs->to)
		bs->done = true;
}

static int bin_chunk(void *ctx, const void *data, size_t len, struct blob_error *err)
{
	struct bin_stream *bs = ctx;
	const char *p = data;
	char chunk[8192];

	while (len > 0 && !bs->done) {
		size_t take = MIN(len, (size_t)4096);

		if (bs->identity)
			bin_keep(bs, p, take);
		else
			bin_keep(bs, chunk, g_mime_encoding_step(&bs->st, p, take, chunk));
		p += take;
		len -= take;
	}
	if (bs->done) {
		/* enough: stop reading (bin_stream_run tells this from a failure) */
		err->code = BLOB_IO;
		snprintf(err->msg, sizeof(err->msg), "enough");
		return -1;
	}
	return 0;
}

/* Decodes the body bytes [start, end) of the message into bs. */
static int bin_stream_run(struct body_ctx *bc, struct bin_stream *bs, uint64_t start,
			  uint64_t end)
{
	struct blob_error berr = { 0 };
	const char *key;
	char chunk[8192];

	if (bc->loaded) {
		end = MIN(end, (uint64_t)bc->len);
		if (start < end)
			(void)bin_chunk(bs, bc->data + start, (size_t)(end - start), &berr);
	} else if (start < end) {
		if (bc->failed || (key = bc_key(bc)) == NULL)
			return -1;
		if (blob_get_range_stream(bc->job->ms->blob, key, start, end - start, bin_chunk,
					  bs, NULL, &berr) < 0 &&
		    !bs->done)
			return bc_fail(bc, "blob range", &berr);
	}
	if (!bs->done && !bs->identity)
		bin_keep(bs, chunk, g_mime_encoding_flush(&bs->st, "", 0, chunk));
	return 0;
}

/* [start, end) narrowed to the section's <offset.length>. */
static void clip_partial(const struct fetch_section *sec, uint64_t *start, uint64_t *end)
{
	if (!sec->partial)
		return;
	*start = *end - *start > sec->offset ? *start + sec->offset : *end;
	if (*end - *start > sec->length)
		*end = *start + sec->length;
}

/* BINARY[part]<partial> or BINARY.SIZE[part]. 1 done, 0 unknown
   encoding, -1 failure (job->failed). */
static int append_binary(struct fetch_req *req, const struct fetch_section *sec,
			 struct body_ctx *bc, struct buf *tmp, struct buf *tmp2)
{
	struct buf *out = &req->job->out;
	const char *p, *error, *encoding = NULL;
	struct bin_stream bs;
	size_t len;
	uint64_t start, end;

	buf_clear(tmp2);
	if (sec->whole) {
		/* the message itself has no transfer encoding to undo */
		start = 0;
		end = bc_size(bc);
		if (sec->binary == BIN_SIZE) {
			(void)buf_printf(out, "%s %llu", sec->label, (unsigned long long)end);
			return 1;
		}
		clip_partial(sec, &start, &end);
		if (bc_read(bc, start, end, tmp, &p, &len) < 0)
			return -1;
	} else {
		const struct mime_part *root = bc_root(bc), *part;
		struct mime_range r;

		if (bc->failed)
			return -1;
		if (root == NULL || (part = part_find(root, sec->nums, sec->num_count)) == NULL ||
		    mime_section_find(root, sec->nums, sec->num_count, MIME_SECTION_BODY, &r,
				      &error) < 0 || r.start > r.end) {
			(void)buf_printf(out, "%s NIL", sec->label);
			return 1;
		}
		if ((part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) != 0 ||
		    (part->flags & MIME_PART_IS_MIME) == 0) {
			encoding = NULL;
		} else if (bc->mime != NULL && root == bc->mime->root) {
			encoding = part->encoding;
		} else {
			/* stored offsets: the part's own header says */
			if (bc_read(bc, part->hdr_start, part->body_start, tmp, &p, &len) < 0)
				return -1;
			encoding = header_cte(p, p + len, bc_arena(bc));
		}
		if (bin_stream_init(&bs, encoding, 0, UINT64_MAX, tmp2) < 0)
			return 0;
		if (sec->binary == BIN_SIZE) {
			uint64_t size = r.end - r.start;

			/* the size decoded at delivery, else decode and count */
			if (!bs.identity && part->binary_size != UINT64_MAX) {
				size = part->binary_size;
			} else if (!bs.identity) {
				if (bin_stream_run(bc, &bs, r.start, r.end) < 0)
					return -1;
				size = tmp2->len;
			}
			(void)buf_printf(out, "%s %llu", sec->label, (unsigned long long)size);
			return 1;
		}
		if (sec->partial) {
			bs.from = sec->offset;
			bs.to = sec->length > UINT64_MAX - sec->offset ? UINT64_MAX
								       : sec->offset + sec->length;
		}
		if (bin_stream_run(bc, &bs, r.start, r.end) < 0)
			return -1;
		p = tmp2->data != NULL ? tmp2->data : "";
		len = tmp2->len;
	}
	/* literal8 only where a NUL makes it necessary (RFC 3516 §4.2) */
	(void)buf_printf(out, "%s %s{%zu}\r\n", sec->label,
			 memchr(p, '\0', len) != NULL ? "~" : "", len);
	(void)buf_append(out, p, len);
	return 1;
}

/* Appends label SP (literal or NIL) for one section. -1: failure. */
static int append_section(struct fetch_req *req, const struct fetch_section *sec,
			  struct body_ctx *bc, struct buf *tmp, struct buf *tmp2)
{
	struct buf *out = &req->job->out;
	uint64_t start = 0, end;
	const char *error;

	if (sec->whole) {
		end = bc_size(bc);
	} else {
		const struct mime_part *root = bc_root(bc);
		struct mime_range r;

		if (bc->failed)
			return -1;
		if (root == NULL || mime_section_find(root, sec->nums, sec->num_count, sec->kind,
						      &r, &error) < 0 ||
		    r.start > r.end || (bc->loaded && r.end > bc->len)) {
			(void)buf_printf(out, "%s NIL", sec->label);
			return 0;
		}
		start = r.start;
		end = r.end;
	}
	if (sec->fields_mode != FIELDS_NONE) {
		const char *p;
		size_t len;

		if (bc_read(bc, start, end, tmp, &p, &len) < 0)
			return -1;
		buf_clear(tmp2);
		filter_header(sec, p, p + len, tmp2);
		start = 0;
		end = tmp2->len;
		clip_partial(sec, &start, &end);
		(void)buf_printf(out, "%s {%llu}\r\n", sec->label,
				 (unsigned long long)(end - start));
		(void)buf_append(out, tmp2->data + start, (size_t)(end - start));
		return 0;
	}
	clip_partial(sec, &start, &end);
	(void)buf_printf(out, "%s {%llu}\r\n", sec->label, (unsigned long long)(end - start));
	return bc_emit(bc, req, start, end, out);
}

/* Items that need the whole body in memory: BODY and a BODYSTRUCTURE not
   stored are computed by parsing it; sections of mail stored without part
   offsets too. */
static bool needs_whole(const struct fetch_req *req, const struct fetch_msg *m)
{
	size_t parts_sections = 0;

	if ((req->items & FI_BODY) != 0 ||
	    ((req->items & FI_BODYSTRUCTURE) != 0 &&
	     (m->bodystructure == NULL || m->bodystructure[0] == '\0')))
		return true;
	for (size_t i = 0; i < req->section_count; i++) {
		if (!req->sections[i].whole)
			parts_sections++;
	}
	if (parts_sections > 0 && m->parts == NULL)
		return true;
	/* encrypted: every range read decrypts the whole object, so a part
	   (which costs a header and a body range) or several sections read
	   it once; BODY[] alone still streams */
	return blob_key_id(req->job->ms->blob) != NULL &&
	       (parts_sections > 0 || req->section_count > 1);
}

/* BODYSTRUCTURE (extended) or BODY: stored at delivery, else computed. */
static void append_structure(struct buf *out, const char *stored, struct body_ctx *bc,
			     bool extended)
{
	if (extended && stored != NULL && stored[0] != '\0')
		(void)buf_append_str(out, stored);
	else if (body_mime(bc) != NULL)
		(void)mime_bodystructure(bc->mime->root, extended, out);
	else
		(void)buf_append_str(out, "NIL");
}

/* The metadata items of one message, each preceded by a space. */
static void append_meta(const struct fetch_req *req, const struct fetch_msg *m,
			struct body_ctx *bc, struct buf *out)
{
	unsigned int items = req->items;

	if ((items & FI_UID) != 0)
		(void)buf_printf(out, " UID %u", m->uid);
	if ((items & FI_FLAGS) != 0 || m->flags_changed) {
		(void)buf_append_str(out, " FLAGS ");
		imap_append_flags(out, m->flags, m->keywords);
	}
	if ((items & FI_MODSEQ) != 0 || (m->flags_changed && req->job->condstore))
		(void)buf_printf(out, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	if ((items & FI_EMAILID) != 0)
		(void)buf_printf(out, " EMAILID (E%lld)", (long long)m->email_id);
	/* RFC 8474 §5.2: NIL where threads are not tracked */
	if ((items & FI_THREADID) != 0)
		(void)buf_append_str(out, " THREADID NIL");
	if ((items & FI_SAVEDATE) != 0) {
		(void)buf_append_str(out, " SAVEDATE ");
		if (m->save_date != 0)
			append_internaldate(out, m->save_date);
		else
			(void)buf_append_str(out, "NIL");
	}
	if ((items & FI_PREVIEW) != 0) {
		/* RFC 8970 §3: "" when the message has no text to preview */
		(void)buf_append_str(out, " PREVIEW ");
		imap_append_string(out, m->preview != NULL ? m->preview : "");
	}
	if ((items & FI_INTERNALDATE) != 0) {
		(void)buf_append_str(out, " INTERNALDATE ");
		append_internaldate(out, m->internal_date);
	}
	if ((items & FI_SIZE) != 0)
		(void)buf_printf(out, " RFC822.SIZE %llu", (unsigned long long)m->size);
	if ((items & FI_ENVELOPE) != 0)
		(void)buf_printf(out, " ENVELOPE %s",
				 m->envelope != NULL && m->envelope[0] != '\0' ? m->envelope
									     : "NIL");
	if ((items & FI_BODYSTRUCTURE) != 0) {
		(void)buf_append_str(out, " BODYSTRUCTURE ");
		append_structure(out, m->bodystructure, bc, true);
	}
	if ((items & FI_BODY) != 0) {
		(void)buf_append_str(out, " BODY ");
		append_structure(out, NULL, bc, false);
	}
}

static int fetch_one(struct fetch_req *req, struct fetch_msg *m, const char *address,
		     struct buf *body, struct buf *tmp, struct buf *tmp2)
{
	struct buf *out = &req->job->out;
	struct body_ctx bc = { .job = req->job, .m = m, .address = address, .whole = body };
	struct buf meta;
	size_t start = out->len;
	uint64_t flushes = req->stream_flushes;
	int ret = 0;

	buf_init(&bc.key, BLOB_KEY_MAX);
	buf_clear(body);
	if (needs_whole(req, m) && bc_load(&bc) < 0) {
		buf_free(&bc.key);
		return -1;
	}
	/* every item comes with a leading space: the first one's is dropped */
	buf_init(&meta, 0);
	append_meta(req, m, &bc, &meta);
	(void)buf_printf(out, "* %u FETCH (", m->seq);
	if (meta.len > 0)
		(void)buf_append(out, meta.data + 1, meta.len - 1);
	for (size_t i = 0; i < req->section_count && ret == 0; i++) {
		const struct fetch_section *sec = &req->sections[i];

		if (i > 0 || meta.len > 0)
			(void)buf_append_str(out, " ");
		if (sec->binary == BIN_NONE) {
			ret = append_section(req, sec, &bc, tmp, tmp2);
		} else {
			int r = append_binary(req, sec, &bc, tmp, tmp2);

			if (r == 0) {
				/* RFC 3516 §4.3: drop this message's partial response */
				imap_job_tagged(req->job, "NO",
						"[UNKNOWN-CTE] Cannot decode message %u", m->seq);
			}
			ret = r > 0 ? 0 : -1;
		}
	}
	if (ret == 0 && bc.failed)
		ret = -1;
	if (ret == 0) {
		(void)buf_append_str(out, ")\r\n");
	} else if (req->stream_flushes != flushes) {
		/* its start is gone already: fetch_done closes the connection */
		req->stream_broken = true;
	} else {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	buf_free(&meta);
	buf_free(&bc.key);
	arena_free(&bc.arena);
	return ret;
}

static bool in_set(const struct fetch_req *req, uint32_t uid)
{
	for (size_t i = 0; i < req->set_count; i++) {
		if (uid >= req->set[i].first && uid <= req->set[i].last)
			return true;
	}
	return false;
}

/* RFC 7162 §3.2.6: UIDs of the set expunged since CHANGEDSINCE, first. */
static int fetch_vanished(struct fetch_req *req, struct store_error *err)
{
	struct imap_job *job = req->job;
	struct store_flags_result *changed;
	uint32_t *vanished, *report;
	size_t changed_count, vanished_count, n = 0;

	if (store_changes_since(job->ms->store, job->mailbox_id, req->changed_since, job->arena,
				&changed, &changed_count, &vanished, &vanished_count, err) < 0)
		return -1;
	report = arena_alloc(job->arena, (vanished_count + 1) * sizeof(*report));
	for (size_t i = 0; i < vanished_count; i++) {
		if (in_set(req, vanished[i]))
			report[n++] = vanished[i];
	}
	if (n > 0) {
		(void)buf_append_str(&job->out, "* VANISHED (EARLIER) ");
		imap_append_uidset(&job->out, report, n);
		(void)buf_append_str(&job->out, "\r\n");
	}
	return 0;
}

static void fetch_run(struct imap_job *job)
{
	struct fetch_req *req = job->ctx;
	struct store_error err = { 0 };
	struct store_account account = { 0 };
	unsigned int fields = STORE_FETCH_KEYWORDS;
	struct buf body, tmp, tmp2;
	bool any_body = req->section_count > 0 || (req->items & (FI_BODY | FI_BODYSTRUCTURE));

	req->job = job;
	if (req->items & (FI_INTERNALDATE | FI_SAVEDATE))
		fields |= STORE_FETCH_DATES;
	if (req->items & FI_SIZE)
		fields |= STORE_FETCH_SIZE;
	if (req->items & FI_ENVELOPE)
		fields |= STORE_FETCH_ENVELOPE;
	if (req->items & FI_PREVIEW)
		fields |= STORE_FETCH_PREVIEW;
	if (req->items & FI_BODYSTRUCTURE)
		fields |= STORE_FETCH_BODYSTRUCTURE;
	if (any_body)
		fields |= STORE_FETCH_BLOB | STORE_FETCH_SIZE | STORE_FETCH_PARTS;
	if (req->vanished && fetch_vanished(req, &err) < 0) {
		imap_job_fail(job, "fetch", &err);
		return;
	}
	if (req->set_count > 0 &&
	    store_fetch(job->ms->store, job->mailbox_id, req->set, req->set_count, fields,
			req->changed_since, fetch_cb, req, &err) < 0) {
		imap_job_fail(job, "fetch", &err);
		return;
	}
	if (any_body && req->count > 0 &&
	    store_account_get(job->ms->store, job->account_id, job->arena, &account, &err) < 0) {
		imap_job_fail(job, "fetch", &err);
		return;
	}
	if (req->set_seen && !job->readonly && fetch_mark_seen(req, &err) < 0) {
		imap_job_fail(job, "fetch", &err);
		return;
	}
	buf_init(&body, 0);
	buf_init(&tmp, 0);
	buf_init(&tmp2, 0);
	imap_job_tagged(job, "OK", "FETCH completed");
	for (size_t i = 0; i < req->count; i++) {
		if (fetch_one(req, &req->msgs[i], account.primary_address, &body, &tmp, &tmp2) < 0)
			break;
		/* a long reply goes out as it grows (whole messages at a time),
		   at the pace the client reads it */
		if (job->out.len >= STREAM_CHUNK * 4 && i + 1 < req->count &&
		    stream_flush(req) < 0)
			break;
		if (job->out.len > req->max_output && i + 1 < req->count) {
			/* RFC 9051 §6.4.5 lets a FETCH answer part of the set */
			imap_job_tagged(job, "NO", "[LIMIT] Response too large, fetched up to "
						   "message %u: fetch fewer messages at once",
					req->msgs[i].seq);
			break;
		}
	}
	stream_end(req);
	buf_free(&body);
	buf_free(&tmp);
	buf_free(&tmp2);
}

static void fetch_done(struct imap_client *ic, struct imap_job *job)
{
	const struct fetch_req *req = job->ctx;

	/* part of a literal went out: the client cannot resynchronise */
	if (req->stream_broken)
		conn_close(ic->conn, "fetch failed in a streamed literal");
	if (req->seen_modseq != 0)
		imap_own_change(ic, req->seen_modseq);
}

/* (CHANGEDSINCE modseq [VANISHED]) in any order */
static const char *fetch_modifiers(struct fetch_req *req, const struct imap_arg *l,
				   const struct imap_cmd *cmd)
{
	bool changedsince = false;

	if (l->type != IMAP_ARG_LIST || l->list_count == 0)
		return "Invalid FETCH modifiers";
	for (size_t i = 0; i < l->list_count; i++) {
		const struct imap_arg *a = &l->list[i];

		if (a->type == IMAP_ARG_ATOM && slice_eq_ci(a->str, "CHANGEDSINCE") &&
		    i + 1 < l->list_count && l->list[i + 1].type == IMAP_ARG_ATOM &&
		    str_to_u64(l->list[i + 1].str, &req->changed_since) == 0 && !changedsince) {
			changedsince = true;
			i++;
		} else if (a->type == IMAP_ARG_ATOM && slice_eq_ci(a->str, "VANISHED") &&
			   !req->vanished) {
			req->vanished = true;
		} else {
			return "Invalid FETCH modifiers";
		}
	}
	/* RFC 7162 §3.2.6: UID FETCH only, with CHANGEDSINCE, after ENABLE */
	if (req->vanished && (!cmd->is_uid || !changedsince || !cmd->client->qresync_enabled))
		return "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC";
	req->items |= FI_MODSEQ;
	return NULL;
}

enum cmd_ret imap_cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	const struct imap_cmd_args *args = cmd->args;
	struct imap_job *job;
	struct fetch_req *req;
	const struct imap_arg *items;

	if (args->count < 2 || args->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "FETCH expects a sequence set and items");
	job = imap_job_new(cmd, fetch_run, fetch_done, true);
	req = arena_alloc(job->arena, sizeof(*req));
	*req = (struct fetch_req){ 0 };
	job->ctx = req;
	req->max_output = FETCH_MAX_OUTPUT;
	if (ic->srv->cfg->session_memory_limit != 0)
		req->max_output = MIN(req->max_output, ic->srv->cfg->session_memory_limit);
	if (imap_seqset_parse(ic, args->args[0].str, cmd->is_uid, job->arena, &req->set,
			      &req->set_count) < 0) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid sequence set");
	}
	items = &args->args[1];
	if (items->type == IMAP_ARG_LIST) {
		for (size_t i = 0; i < items->list_count; i++) {
			if (!parse_item(req, &items->list[i], job->arena)) {
				imap_job_discard(&job);
				return imap_cmd_bad(cmd, "Invalid FETCH item");
			}
			/* RFC 8970 PREVIEW (LAZY): the preview is always stored */
			if (slice_eq_ci(items->list[i].str, "PREVIEW") &&
			    i + 1 < items->list_count && items->list[i + 1].type == IMAP_ARG_LIST &&
			    items->list[i + 1].list_count == 1 &&
			    items->list[i + 1].list[0].type == IMAP_ARG_ATOM &&
			    slice_eq_ci(items->list[i + 1].list[0].str, "LAZY"))
				i++;
		}
	} else if (!parse_item(req, items, job->arena)) {
		imap_job_discard(&job);
		return imap_cmd_bad(cmd, "Invalid FETCH item");
	}
	/* RFC 7162 §3.1.4: (CHANGEDSINCE modseq) */
	if (args->count > 2) {
		const char *error = args->count != 3 ? "Invalid FETCH modifiers"
						     : fetch_modifiers(req, &args->args[2], cmd);

		if (error != NULL) {
			imap_job_discard(&job);
			return imap_cmd_bad(cmd, "%s", error);
		}
	}
	if ((req->items & FI_MODSEQ) != 0)
		ic->condstore_enabled = job->condstore = true;
	/* RFC 9051 §6.4.9: UID FETCH always returns UID */
	if (cmd->is_uid || ic->qresync_enabled)
		req->items |= FI_UID;
	return imap_job_submit(job);
}
