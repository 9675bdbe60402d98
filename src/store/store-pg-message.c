/* PostgreSQL driver: messages. The same transaction shapes as
   store-sqlite-message.c (lock and read the mailbox row, change message
   rows, write the mailbox row back with its counter deltas), with fewer
   round trips: an append is one statement per message (message_data,
   full-text row and message row in one CTE), and flag updates, expunges
   and copies change all their rows in one statement each, fed with
   arrays. Every committed change is also announced with NOTIFY. */

#include "store/store-pg-private.h"

#include "lib/arena.h"
#include "lib/str.h"
#include "lib/utf8.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

struct pg_msg_row {
	int64_t id;
	int64_t data_id;
	int64_t internal_date;
	uint64_t modseq;
	uint64_t size;
	uint32_t uid;
	uint32_t flags;
	const char *keywords;
};

struct pg_msg_rows {
	struct pg_msg_row *v;
	size_t n, cap;
};

static struct pg_msg_row *pg_rows_push(struct arena *arena, struct pg_msg_rows *rows)
{
	if (rows->n == rows->cap) {
		size_t cap = rows->cap == 0 ? 64 : rows->cap * 2;
		struct pg_msg_row *v = arena_alloc(arena, sizeof(*v) * cap);

		if (rows->n > 0)
			memcpy(v, rows->v, sizeof(*v) * rows->n);
		rows->v = v;
		rows->cap = cap;
	}
	return &rows->v[rows->n++];
}

/* The live messages of a UID set, ascending, row-locked; only \Deleted
   ones when deleted_only. */
static int pg_rows_collect(struct pg_conn *c, int64_t mailbox_id,
			   const struct store_uid_range *set, size_t set_count, bool deleted_only,
			   struct arena *arena, struct pg_msg_rows *rows, struct store_error *err)
{
	for (size_t i = 0; i < set_count; i++) {
		struct pg_params p = { 0 };
		PGresult *r;
		int n;

		pg_p_int(&p, mailbox_id);
		pg_p_int(&p, set[i].first);
		pg_p_int(&p, set[i].last);
		r = pg_exec(c,
			    "SELECT id, uid, modseq, flags, keywords, data_id, internal_date, size "
			    "FROM messages WHERE mailbox_id = $1 AND uid BETWEEN $2 AND $3 "
			    "AND expunged_modseq IS NULL ORDER BY uid",
			    &p, err);
		if (r == NULL)
			return -1;
		n = PQntuples(r);
		for (int j = 0; j < n; j++) {
			uint32_t flags = (uint32_t)pg_int(r, j, 3);
			struct pg_msg_row *m;

			if (deleted_only && (flags & STORE_FLAG_DELETED) == 0)
				continue;
			m = pg_rows_push(arena, rows);
			*m = (struct pg_msg_row){
				.id = pg_int(r, j, 0),
				.uid = (uint32_t)pg_int(r, j, 1),
				.modseq = (uint64_t)pg_int(r, j, 2),
				.flags = flags,
				.keywords = pg_dup(arena, r, j, 4),
				.data_id = pg_int(r, j, 5),
				.internal_date = pg_int(r, j, 6),
				.size = (uint64_t)pg_int(r, j, 7),
			};
		}
		PQclear(r);
	}
	return 0;
}

static void pg_count_in(struct pg_mailbox *mb, uint32_t flags, uint64_t size, int sign)
{
	mb->d_messages += sign;
	mb->d_unseen += (flags & STORE_FLAG_SEEN) == 0 ? sign : 0;
	mb->d_deleted += (flags & STORE_FLAG_DELETED) != 0 ? sign : 0;
	mb->d_bytes += sign * (int64_t)size;
}

static int pg_uid_take(struct pg_mailbox *mb, uint32_t *uid_r, struct store_error *err)
{
	if (mb->uidnext == 0 || mb->uidnext == UINT32_MAX) {
		store_error_set(err, STORE_INVALID, "mailbox %lld has no UIDs left",
				(long long)mb->id);
		return -1;
	}
	*uid_r = mb->uidnext++;
	return 0;
}

/* ---- full-text words --------------------------------------------------- */

/* U+00C0..U+017F without diacritics, lower-cased; "" = keep as is. */
static const char *const pg_latin_fold[192] = {
	"a", "a", "a", "a", "a", "a", "ae", "c",
	"e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "",
	"o", "u", "u", "u", "u", "y", "th", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c",
	"e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "",
	"o", "u", "u", "u", "u", "y", "th", "y",
	"a", "a", "a", "a", "a", "a", "c", "c",
	"c", "c", "c", "c", "c", "c", "d", "d",
	"d", "d", "e", "e", "e", "e", "e", "e",
	"e", "e", "e", "e", "g", "g", "g", "g",
	"g", "g", "g", "g", "h", "h", "h", "h",
	"i", "i", "i", "i", "i", "i", "i", "i",
	"i", "i", "ij", "ij", "j", "j", "k", "k",
	"k", "l", "l", "l", "l", "l", "l", "l",
	"l", "l", "l", "n", "n", "n", "n", "n",
	"n", "n", "n", "n", "o", "o", "o", "o",
	"o", "o", "oe", "oe", "r", "r", "r", "r",
	"r", "r", "s", "s", "s", "s", "s", "s",
	"s", "s", "t", "t", "t", "t", "t", "t",
	"u", "u", "u", "u", "u", "u", "u", "u",
	"u", "u", "u", "u", "w", "w", "y", "y",
	"y", "z", "z", "z", "z", "z", "z", "s",
};

static bool pg_is_word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

void pg_fts_words(const char *text, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		if (!pg_is_word_byte(p[i])) {
			i++;
			continue;
		}
		if (out->len > 0)
			(void)buf_append(out, " ", 1);
		while (i < len && pg_is_word_byte(p[i])) {
			uint32_t cp;
			size_t n;

			if (p[i] < 0x80) {
				char ch = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);

				(void)buf_append(out, &ch, 1);
				i++;
				continue;
			}
			n = utf8_decode(p + i, len - i, &cp);
			if (n == 0) {
				i++; /* not UTF-8: dropped, as PostgreSQL would refuse it */
				continue;
			}
			if (cp >= 0xc0 && cp < 0x180 && pg_latin_fold[cp - 0xc0][0] != '\0')
				(void)buf_append_str(out, pg_latin_fold[cp - 0xc0]);
			else
				(void)buf_append(out, p + i, n);
			i += n;
		}
	}
}

/* ---- append ------------------------------------------------------------ */

/* One statement: the message_data row on first sight of (account, hash)
   with its full-text row, then the message row pointing at it. */
static const char pg_append_sql[] =
	"WITH d AS (INSERT INTO message_data (account_id, content_hash, blob_key_id, envelope, "
	"bodystructure, subject, base_subject, from_text, to_text, cc_text, bcc_text, "
	"sort_from, sort_to, sort_cc, display_from, display_to, message_id, in_reply_to, refs, "
	"preview, sent_date, parts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
	"$13, $14, $15, $16, $17, $18, $19, $20, $21, $33) "
	"ON CONFLICT (account_id, content_hash) DO NOTHING RETURNING id), "
	"f AS (INSERT INTO message_fts (data_id, account_id, tsv) SELECT id, $1, "
	"setweight(to_tsvector('simple', $22), 'A') || setweight(to_tsvector('simple', $23), 'B') "
	"FROM d WHERE $24 <> 0), "
	"di AS (SELECT id FROM d UNION ALL SELECT id FROM message_data "
	"WHERE account_id = $1 AND content_hash = $2) "
	"INSERT INTO messages (account_id, mailbox_id, data_id, uid, modseq, flags, keywords, "
	"internal_date, save_date, size) SELECT $1, $25, di.id, $26, $27, $28, $29, $30, $31, "
	"$32 FROM di";

struct pg_append_tmp {
	struct arena *arena;
	struct buf headers, words_h, words_b, kw;
};

/* Takes the message's UID and MODSEQ and fills p for pg_append_sql; the
   strings p points to live in t until the next message. */
static int pg_append_build(struct pg_conn *c, struct pg_mailbox *mb, struct store_append *item,
			   const struct store_message_in *in, int64_t now, struct pg_append_tmp *t,
			   struct pg_params *p, struct store_error *err)
{
	char storage[STORE_KEYWORDS_PER_MESSAGE_MAX][STORE_KEYWORD_MAX + 1];
	const char *canon[STORE_KEYWORDS_PER_MESSAGE_MAX];
	const struct store_message_new *m = in->msg;
	const struct store_headers *h = &m->headers;
	const char *const text[] = {
		h->envelope,   h->bodystructure, h->subject,      h->base_subject, h->from,
		h->to,         h->cc,            h->bcc,          h->sort_from,    h->sort_to,
		h->sort_cc,    h->display_from,  h->display_to,   h->message_id,   h->in_reply_to,
		h->references, h->preview,
	};
	const char *keywords = "";
	uint32_t uid;

	if (in->keyword_count > 0) {
		if (pg_keywords_canonical(c, mb->id, in->keywords, in->keyword_count, storage,
					  canon, err) < 0)
			return -1;
		if (store_keywords_join(canon, in->keyword_count, &t->kw) < 0) {
			store_error_set(err, STORE_INVALID, "too many keywords");
			return -1;
		}
		keywords = t->kw.data;
	}
	if (pg_uid_take(mb, &uid, err) < 0)
		return -1;
	mb->highest_modseq++;

	buf_clear(&t->headers);
	buf_clear(&t->words_h);
	buf_clear(&t->words_b);
	store_fts_headers(h, &t->headers);
	pg_fts_words(t->headers.data != NULL ? t->headers.data : "", t->headers.len, &t->words_h);
	if (in->body_text_len > 0)
		pg_fts_words(m->body_text, in->body_text_len, &t->words_b);

	*p = (struct pg_params){ 0 };
	pg_p_int(p, mb->account_id);
	pg_p_text(p, m->content_hash);
	pg_p_int(p, m->blob_key_id);
	for (size_t i = 0; i < ARRAY_SIZE(text); i++) {
		const char *s = text[i] != NULL ? text[i] : "";
		size_t len;

		s = pg_utf8_clean(t->arena, s, strlen(s), &len);
		pg_p_textn(p, s, len);
	}
	pg_p_int(p, h->sent_date);
	pg_p_textn(p, t->words_h.data != NULL ? t->words_h.data : "", t->words_h.len);
	pg_p_textn(p, t->words_b.data != NULL ? t->words_b.data : "", t->words_b.len);
	pg_p_bool(p, t->words_h.len > 0 || t->words_b.len > 0);
	pg_p_int(p, mb->id);
	pg_p_int(p, uid);
	pg_p_int(p, (int64_t)mb->highest_modseq);
	pg_p_int(p, m->flags);
	pg_p_text(p, keywords);
	pg_p_int(p, m->internal_date);
	pg_p_int(p, now);
	pg_p_int(p, (int64_t)m->size);
	pg_p_bytea(p, h->parts_len > 0 ? h->parts : NULL, h->parts_len);
	pg_count_in(mb, m->flags, m->size, 1);
	item->uid_r = uid;
	item->modseq_r = mb->highest_modseq;
	item->uidvalidity_r = mb->uidvalidity;
	return 0;
}

static int pg_append_one(struct pg_conn *c, struct pg_mailbox *mb, struct store_append *item,
			 const struct store_message_in *in, int64_t now, struct pg_append_tmp *t,
			 struct store_error *err)
{
	struct pg_params p;
	uint64_t changes = 0;

	if (pg_append_build(c, mb, item, in, now, t, &p, err) < 0)
		return -1;
	/* a data row committed by another node after this statement's
	   snapshot was taken is invisible to it: the second run sees it */
	for (int attempt = 0; attempt < 2 && changes == 0; attempt++) {
		if (pg_run(c, pg_append_sql, &p, &changes, err) < 0)
			return -1;
	}
	if (changes != 1) {
		store_error_set(err, STORE_TEMPORARY, "message data changed concurrently");
		return -1;
	}
	return 0;
}

struct pg_touched {
	struct pg_mailbox *v;
	size_t n, cap;
};

static struct pg_mailbox *pg_touched_get(struct pg_conn *c, struct pg_touched *t,
					 int64_t mailbox_id, struct store_error *err)
{
	for (size_t i = t->n; i > 0; i--) {
		if (t->v[i - 1].id == mailbox_id)
			return &t->v[i - 1];
	}
	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 4 : t->cap * 2;
		t->v = xrealloc(t->v, sizeof(*t->v) * t->cap);
	}
	if (pg_mailbox_load(c, mailbox_id, &t->v[t->n], err) < 0)
		return NULL;
	if (t->v[t->n].is_noselect) {
		store_error_set(err, STORE_INVALID, "mailbox %lld is not selectable",
				(long long)mailbox_id);
		return NULL;
	}
	return &t->v[t->n++];
}

/* Big batches (an import, a MULTIAPPEND, the 100,000-message test) send
   their statements in libpq pipeline mode, PG_PIPELINE_CHUNK at a time:
   one round trip per chunk instead of one per message. A chunk's results
   are small, so neither side's socket buffer fills while the other
   writes. */
#define PG_PIPELINE_CHUNK 256
#define PG_PIPELINE_MIN 8

static int pg_pipeline_drain(struct pg_conn *c, size_t sent, bool *failed_r,
			     struct store_error *err)
{
	size_t seen = 0;
	int nulls = 0;

	for (;;) {
		PGresult *r = PQgetResult(c->db);
		ExecStatusType st;

		if (r == NULL) {
			/* one NULL ends each query's results; two in a row: nothing
			   more will come (connection trouble) */
			if (seen >= sent + 1 || PQstatus(c->db) != CONNECTION_OK || ++nulls > 1) {
				if (!*failed_r)
					(void)pg_fail_result(c, NULL, err);
				*failed_r = true;
				break;
			}
			continue;
		}
		nulls = 0;
		st = PQresultStatus(r);
		seen++;
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (st == PGRES_COMMAND_OK) {
			/* another node's first copy of this content committed after
			   our statement's snapshot: rare, the caller retries */
			if (strcmp(PQcmdTuples(r), "1") != 0 && !*failed_r) {
				store_error_set(err, STORE_TEMPORARY,
						"message data changed concurrently");
				*failed_r = true;
			}
			PQclear(r);
		} else if (st == PGRES_PIPELINE_ABORTED) {
			PQclear(r);
		} else if (!*failed_r) {
			(void)pg_fail_result(c, r, err);
			*failed_r = true;
		} else {
			PQclear(r);
		}
	}
	return *failed_r ? -1 : 0;
}

/* count messages without keywords (a keyword's spelling needs an answer
   before the message's statement can be built). */
static int pg_append_pipelined(struct pg_conn *c, struct pg_touched *touched,
			       struct store_append *items, const struct store_message_in *in,
			       size_t count, int64_t now, struct pg_append_tmp *t,
			       struct store_error *err)
{
	struct pg_params p;
	char name[24];
	bool failed = false;
	int ret = -1;

	/* the mailbox rows are locked and loaded before the pipeline starts */
	for (size_t i = 0; i < count; i++) {
		if (pg_touched_get(c, touched, items[i].mailbox_id, err) == NULL)
			return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct pg_mailbox *mb = pg_touched_get(c, touched, items[i].mailbox_id, err);

		if (pg_append_build(c, mb, &items[i], &in[i], now, t, &p, err) < 0)
			goto out;
		/* prepared outside the pipeline: parameter types are the same
		   for every message */
		if (i == 0 && (pg_prepare(c, pg_append_sql, &p, name, sizeof(name), err) < 0 ||
			       PQenterPipelineMode(c->db) != 1)) {
			if (err->code == STORE_OK)
				(void)pg_fail_result(c, NULL, err);
			goto out;
		}
		if (PQsendQueryPrepared(c->db, name, p.n, p.values, p.lengths, p.formats, 0) != 1) {
			(void)pg_fail_result(c, NULL, err);
			goto out;
		}
	}
	if (PQpipelineSync(c->db) != 1) {
		(void)pg_fail_result(c, NULL, err);
		goto out;
	}
	ret = pg_pipeline_drain(c, count, &failed, err);
out:
	if (c->db != NULL && PQpipelineStatus(c->db) != PQ_PIPELINE_OFF &&
	    PQexitPipelineMode(c->db) != 1 && ret == 0) {
		store_error_set(err, STORE_INTERNAL, "postgres: pipeline not drained");
		ret = -1;
	}
	return ret;
}

static bool pg_any_keywords(const struct store_message_in *in, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (in[i].keyword_count > 0)
			return true;
	}
	return false;
}

int pg_append_batch(struct store *st, struct store_append *items,
		    const struct store_message_in *in, size_t count, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_touched touched = { 0 };
	struct pg_append_tmp t = { 0 };
	int64_t now = pg_now(), *ids;
	struct pg_conn *c;
	int ret = -1;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	t.arena = arena_new(16 * 1024);
	buf_init(&t.headers, 0);
	buf_init(&t.words_h, 0);
	buf_init(&t.words_b, 0);
	buf_init(&t.kw, 0);
	ids = xmalloc(sizeof(*ids) * count);
	for (size_t i = 0; i < count; i++)
		ids[i] = items[i].mailbox_id;
	if (pg_mailbox_lock_ids(c, ids, count, err) < 0)
		goto out;
	for (size_t i = 0; i < count;) {
		size_t n = MIN(count - i, (size_t)PG_PIPELINE_CHUNK);

		if (n >= PG_PIPELINE_MIN && !pg_any_keywords(in + i, n)) {
			if (pg_append_pipelined(c, &touched, items + i, in + i, n, now, &t, err) < 0)
				goto out;
		} else {
			for (size_t j = i; j < i + n; j++) {
				struct pg_mailbox *mb = pg_touched_get(c, &touched,
								       items[j].mailbox_id, err);

				if (mb == NULL ||
				    pg_append_one(c, mb, &items[j], &in[j], now, &t, err) < 0)
					goto out;
			}
		}
		i += n;
		arena_reset(t.arena);
	}
	for (size_t i = 0; i < touched.n; i++) {
		if (pg_mailbox_save(c, &touched.v[i], err) < 0 ||
		    pg_notify_change(c, touched.v[i].id, touched.v[i].highest_modseq, err) < 0)
			goto out;
	}
	ret = 0;
out:
	free(ids);
	buf_free(&t.headers);
	buf_free(&t.words_h);
	buf_free(&t.words_b);
	buf_free(&t.kw);
	arena_free(&t.arena);
	free(touched.v);
	if (ret < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

/* ---- flags ------------------------------------------------------------- */

struct pg_flags_out {
	struct store_flags_result *v;
	size_t n, cap;
	struct pg_u32vec failed;
};

static struct store_flags_result *pg_flags_push(struct arena *arena, struct pg_flags_out *o)
{
	if (o->n == o->cap) {
		size_t cap = o->cap == 0 ? 64 : o->cap * 2;
		struct store_flags_result *v = arena_alloc(arena, sizeof(*v) * cap);

		if (o->n > 0)
			memcpy(v, o->v, sizeof(*v) * o->n);
		o->v = v;
		o->cap = cap;
	}
	return &o->v[o->n++];
}

/* Computes every row's new flags and keywords, then writes the changed
   ones in one UPDATE fed by arrays. */
static int pg_flags_apply_rows(struct pg_conn *c, struct pg_mailbox *mb,
			       const struct pg_msg_rows *rows, const struct store_flags_update *upd,
			       const char *const *canon, struct arena *arena,
			       struct pg_flags_out *out, bool *changed_r, struct store_error *err)
{
	bool touch_keywords = upd->op == STORE_FLAGS_REPLACE || upd->keyword_count > 0;
	uint64_t modseq = mb->highest_modseq + 1;
	struct buf kw, a_id, a_flags, a_kw;
	struct pg_params p = { 0 };
	size_t changed = 0;
	int ret = -1;

	buf_init(&kw, 0);
	buf_init(&a_id, 0);
	buf_init(&a_flags, 0);
	buf_init(&a_kw, 0);
	for (size_t i = 0; i < rows->n; i++) {
		const struct pg_msg_row *r = &rows->v[i];
		uint32_t flags = store_flags_apply(r->flags, upd->op, upd->flags);
		const char *keywords = r->keywords;
		struct store_flags_result *res;
		bool is_changed;

		if (upd->unchanged_since != 0 && r->modseq > upd->unchanged_since) {
			pg_u32vec_push(arena, &out->failed, r->uid);
			continue;
		}
		if (touch_keywords) {
			if (store_keywords_apply(r->keywords, upd->op, canon, upd->keyword_count,
						 &kw) < 0) {
				store_error_set(err, STORE_INVALID,
						"more than %d keywords on message %u",
						STORE_KEYWORDS_PER_MESSAGE_MAX, r->uid);
				goto out;
			}
			keywords = kw.len > 0 ? kw.data : "";
		}
		is_changed = flags != r->flags || strcmp(keywords, r->keywords) != 0;
		res = pg_flags_push(arena, out);
		*res = (struct store_flags_result){
			.uid = r->uid,
			.flags = flags,
			.modseq = is_changed ? modseq : r->modseq,
			.keywords = is_changed ? arena_strdup(arena, keywords) : r->keywords,
			.changed = is_changed,
		};
		if (!is_changed)
			continue;
		changed++;
		pg_count_in(mb, r->flags, 0, -1);
		pg_count_in(mb, flags, 0, 1);
		pg_arr_int(&a_id, r->id);
		pg_arr_int(&a_flags, flags);
		pg_arr_text(&a_kw, res->keywords);
	}
	if (changed > 0) {
		pg_arr_close(&a_id);
		pg_arr_close(&a_flags);
		pg_arr_close(&a_kw);
		pg_p_array(&p, &a_id, PG_INT8ARRAYOID);
		pg_p_array(&p, &a_flags, PG_INT8ARRAYOID);
		pg_p_array(&p, &a_kw, PG_TEXTARRAYOID);
		pg_p_int(&p, (int64_t)modseq);
		if (pg_run(c,
			   "UPDATE messages m SET flags = u.flags, keywords = u.kw, modseq = $4 "
			   "FROM unnest($1::int8[], $2::int8[], $3::text[]) AS u(id, flags, kw) "
			   "WHERE m.id = u.id",
			   &p, NULL, err) < 0)
			goto out;
		*changed_r = true;
	}
	ret = 0;
out:
	buf_free(&kw);
	buf_free(&a_id);
	buf_free(&a_flags);
	buf_free(&a_kw);
	return ret;
}

int pg_flags_update(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		    size_t set_count, const struct store_flags_update *upd, struct arena *arena,
		    struct store_flags_result **results_r, size_t *result_count_r,
		    uint32_t **failed_uids_r, size_t *failed_count_r, struct store_error *err)
{
	char storage[STORE_KEYWORDS_PER_MESSAGE_MAX][STORE_KEYWORD_MAX + 1];
	const char *canon[STORE_KEYWORDS_PER_MESSAGE_MAX];
	struct store_pg *pg = pg_from(st);
	struct pg_flags_out out = { 0 };
	struct pg_msg_rows rows = { 0 };
	struct pg_mailbox mb;
	struct pg_conn *c;
	bool changed = false;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_load(c, mailbox_id, &mb, err) < 0)
		goto fail;
	if (upd->op == STORE_FLAGS_REMOVE) {
		for (size_t i = 0; i < upd->keyword_count; i++)
			canon[i] = upd->keywords[i];
	} else if (pg_keywords_canonical(c, mailbox_id, upd->keywords, upd->keyword_count, storage,
					 canon, err) < 0) {
		goto fail;
	}
	if (pg_rows_collect(c, mailbox_id, set, set_count, false, arena, &rows, err) < 0 ||
	    pg_flags_apply_rows(c, &mb, &rows, upd, canon, arena, &out, &changed, err) < 0)
		goto fail;
	if (changed) {
		mb.highest_modseq++;
		if (pg_mailbox_save(c, &mb, err) < 0 ||
		    pg_notify_change(c, mailbox_id, mb.highest_modseq, err) < 0)
			goto fail;
	}
	if (pg_write_commit(pg, c, err) < 0)
		return -1;
	*results_r = out.v;
	*result_count_r = out.n;
	*failed_uids_r = out.failed.v;
	*failed_count_r = out.failed.n;
	return 0;
fail:
	pg_write_rollback(pg, c);
	return -1;
}

/* ---- expunge, copy, move ----------------------------------------------- */

static int pg_expunge_rows(struct pg_conn *c, struct pg_mailbox *mb,
			   const struct pg_msg_rows *rows, uint64_t *modseq_r,
			   struct store_error *err)
{
	struct pg_params p = { 0 };
	struct buf ids;
	int ret;

	*modseq_r = 0;
	if (rows->n == 0)
		return 0;
	mb->highest_modseq++;
	buf_init(&ids, 0);
	for (size_t i = 0; i < rows->n; i++) {
		pg_arr_int(&ids, rows->v[i].id);
		pg_count_in(mb, rows->v[i].flags, rows->v[i].size, -1);
	}
	pg_arr_close(&ids);
	pg_p_int(&p, (int64_t)mb->highest_modseq);
	pg_p_int(&p, pg_now());
	pg_p_array(&p, &ids, PG_INT8ARRAYOID);
	ret = pg_run(c,
		     "UPDATE messages SET expunged_modseq = $1, modseq = $1, expunged_at = $2 "
		     "WHERE id = ANY($3::int8[])",
		     &p, NULL, err);
	buf_free(&ids);
	if (ret < 0)
		return -1;
	*modseq_r = mb->highest_modseq;
	if (pg_mailbox_save(c, mb, err) < 0)
		return -1;
	return pg_notify_change(c, mb->id, mb->highest_modseq, err);
}

int pg_expunge(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	       size_t set_count, bool deleted_only, struct arena *arena, uint32_t **uids_r,
	       size_t *count_r, uint64_t *modseq_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_msg_rows rows = { 0 };
	struct pg_mailbox mb;
	struct pg_conn *c;
	uint32_t *uids;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_lock_ids(c, &mailbox_id, 1, err) < 0 ||
	    pg_mailbox_load(c, mailbox_id, &mb, err) < 0 ||
	    pg_rows_collect(c, mailbox_id, set, set_count, deleted_only, arena, &rows, err) < 0 ||
	    pg_expunge_rows(c, &mb, &rows, modseq_r, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	if (pg_write_commit(pg, c, err) < 0)
		return -1;
	uids = rows.n > 0 ? arena_alloc(arena, sizeof(*uids) * rows.n) : NULL;
	for (size_t i = 0; i < rows.n; i++)
		uids[i] = rows.v[i].uid;
	*uids_r = uids;
	*count_r = rows.n;
	return 0;
}

/* Re-spells a stored keyword string for another mailbox. */
static int pg_keywords_for(struct pg_conn *c, int64_t mailbox_id, const char *keywords,
			   struct arena *arena, const char **out_r, struct store_error *err)
{
	char storage[STORE_KEYWORDS_PER_MESSAGE_MAX][STORE_KEYWORD_MAX + 1];
	const char *canon[STORE_KEYWORDS_PER_MESSAGE_MAX];
	const char *words[STORE_KEYWORDS_PER_MESSAGE_MAX];
	char *copy = arena_strdup(arena, keywords);
	size_t n = 0;
	struct buf b;
	int ret = -1;

	for (char *p = copy, *sp; *p != '\0' && n < STORE_KEYWORDS_PER_MESSAGE_MAX; p = sp) {
		sp = strchr(p, ' ');
		if (sp == NULL)
			sp = p + strlen(p);
		else
			*sp++ = '\0';
		words[n++] = p;
	}
	if (pg_keywords_canonical(c, mailbox_id, words, n, storage, canon, err) < 0)
		return -1;
	buf_init(&b, 0);
	if (store_keywords_join(canon, n, &b) == 0) {
		*out_r = arena_strdup(arena, b.len > 0 ? b.data : "");
		ret = 0;
	} else {
		store_error_set(err, STORE_INTERNAL, "bad stored keywords");
	}
	buf_free(&b);
	return ret;
}

int pg_copy_in(struct pg_conn *c, struct pg_mailbox *src, const struct store_uid_range *set,
	       size_t set_count, struct pg_mailbox *dst, bool move, struct arena *arena,
	       struct store_copy_result *result_r, struct store_error *err)
{
	const char *prev_src = "", *prev_dst = "";
	struct pg_msg_rows rows = { 0 };
	struct buf a_data, a_uid, a_modseq, a_flags, a_kw, a_date, a_size;
	struct buf *arrays[] = { &a_data, &a_uid, &a_modseq, &a_flags, &a_kw, &a_date, &a_size };
	struct pg_params p = { 0 };
	uint64_t src_modseq = 0;
	int ret = -1;

	if (src->account_id != dst->account_id) {
		store_error_set(err, STORE_INVALID, "cannot copy between accounts");
		return -1;
	}
	if (dst->is_noselect) {
		store_error_set(err, STORE_INVALID, "mailbox %lld is not selectable",
				(long long)dst->id);
		return -1;
	}
	if (pg_rows_collect(c, src->id, set, set_count, false, arena, &rows, err) < 0)
		return -1;
	*result_r = (struct store_copy_result){
		.dst_uidvalidity = dst->uidvalidity,
		.count = rows.n,
		.src_uids = arena_alloc(arena, sizeof(uint32_t) * (rows.n + 1)),
		.dst_uids = arena_alloc(arena, sizeof(uint32_t) * (rows.n + 1)),
	};
	for (size_t i = 0; i < ARRAY_SIZE(arrays); i++)
		buf_init(arrays[i], 0);
	for (size_t i = 0; i < rows.n; i++) {
		const struct pg_msg_row *r = &rows.v[i];
		const char *kw = "";
		uint32_t uid;

		if (r->keywords[0] != '\0' && strcmp(r->keywords, prev_src) == 0) {
			kw = prev_dst;
		} else if (r->keywords[0] != '\0') {
			if (pg_keywords_for(c, dst->id, r->keywords, arena, &kw, err) < 0)
				goto out;
			prev_src = r->keywords;
			prev_dst = kw;
		}
		if (pg_uid_take(dst, &uid, err) < 0)
			goto out;
		dst->highest_modseq++;
		pg_arr_int(&a_data, r->data_id);
		pg_arr_int(&a_uid, uid);
		pg_arr_int(&a_modseq, (int64_t)dst->highest_modseq);
		pg_arr_int(&a_flags, r->flags);
		pg_arr_text(&a_kw, kw);
		pg_arr_int(&a_date, r->internal_date);
		pg_arr_int(&a_size, (int64_t)r->size);
		pg_count_in(dst, r->flags, r->size, 1);
		result_r->src_uids[i] = r->uid;
		result_r->dst_uids[i] = uid;
	}
	if (rows.n > 0) {
		pg_p_int(&p, dst->account_id);
		pg_p_int(&p, dst->id);
		pg_p_int(&p, pg_now());
		for (size_t i = 0; i < ARRAY_SIZE(arrays); i++) {
			pg_arr_close(arrays[i]);
			pg_p_array(&p, arrays[i], arrays[i] == &a_kw ? PG_TEXTARRAYOID
								     : PG_INT8ARRAYOID);
		}
		if (pg_run(c,
			   "INSERT INTO messages (account_id, mailbox_id, data_id, uid, modseq, "
			   "flags, keywords, internal_date, save_date, size) "
			   "SELECT $1, $2, u.data_id, u.uid, u.modseq, u.flags, u.kw, u.idate, $3, "
			   "u.size FROM unnest($4::int8[], $5::int8[], $6::int8[], $7::int8[], "
			   "$8::text[], $9::int8[], $10::int8[]) "
			   "AS u(data_id, uid, modseq, flags, kw, idate, size)",
			   &p, NULL, err) < 0)
			goto out;
	}
	if (pg_mailbox_save(c, dst, err) < 0)
		goto out;
	if (rows.n > 0 && pg_notify_change(c, dst->id, dst->highest_modseq, err) < 0)
		goto out;
	if (move && pg_expunge_rows(c, src, &rows, &src_modseq, err) < 0)
		goto out;
	result_r->src_modseq = src_modseq;
	ret = 0;
out:
	for (size_t i = 0; i < ARRAY_SIZE(arrays); i++)
		buf_free(arrays[i]);
	return ret;
}

int pg_copy(struct store *st, int64_t src_mailbox_id, const struct store_uid_range *set,
	    size_t set_count, int64_t dst_mailbox_id, bool move, struct arena *arena,
	    struct store_copy_result *result_r, struct store_error *err)
{
	const int64_t ids[2] = { src_mailbox_id, dst_mailbox_id };
	struct store_pg *pg = pg_from(st);
	struct pg_mailbox src, dst;
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_lock_ids(c, ids, 2, err) < 0 ||
	    pg_mailbox_load(c, src_mailbox_id, &src, err) < 0 ||
	    pg_mailbox_load(c, dst_mailbox_id, &dst, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	if (src_mailbox_id == dst_mailbox_id) {
		/* one row, one state: copy within a mailbox */
		if (pg_copy_in(c, &dst, set, set_count, &dst, move, arena, result_r, err) < 0) {
			pg_write_rollback(pg, c);
			return -1;
		}
		return pg_write_commit(pg, c, err);
	}
	if (pg_copy_in(c, &src, set, set_count, &dst, move, arena, result_r, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

/* ---- reads ------------------------------------------------------------- */

static int pg_mailbox_check(struct pg_conn *c, int64_t mailbox_id, int64_t *account_id_r,
			    struct store_error *err)
{
	int rc = pg_query_ints(c, "SELECT account_id FROM mailboxes WHERE id = $1", account_id_r,
			       err, mailbox_id);

	if (rc == 0)
		(void)pg_not_found(err, "mailbox", mailbox_id);
	return rc == 1 ? 0 : -1;
}

struct pg_fetch_cols {
	unsigned int field;
	const char *sql;
};

static const struct pg_fetch_cols pg_fetch_groups[] = {
	{ STORE_FETCH_KEYWORDS, ", m.keywords" },
	{ STORE_FETCH_DATES, ", m.internal_date, m.save_date" },
	{ STORE_FETCH_SIZE, ", m.size" },
	{ STORE_FETCH_BLOB, ", d.content_hash, d.blob_key_id" },
	{ STORE_FETCH_ENVELOPE, ", d.envelope" },
	{ STORE_FETCH_BODYSTRUCTURE, ", d.bodystructure" },
	{ STORE_FETCH_HEADERS,
	  ", d.subject, d.base_subject, d.from_text, d.to_text, d.cc_text, d.bcc_text, "
	  "d.sort_from, d.sort_to, d.sort_cc, d.display_from, d.display_to, d.message_id, "
	  "d.in_reply_to, d.refs, d.sent_date" },
	{ STORE_FETCH_PREVIEW, ", d.preview" },
	{ STORE_FETCH_PARTS, ", d.parts" },
};

#define PG_FETCH_DATA_FIELDS                                                                  \
	(STORE_FETCH_BLOB | STORE_FETCH_ENVELOPE | STORE_FETCH_BODYSTRUCTURE |                \
	 STORE_FETCH_HEADERS | STORE_FETCH_PREVIEW | STORE_FETCH_PARTS)

static void pg_fetch_sql(unsigned int fields, bool by_modseq, struct buf *sql)
{
	(void)buf_append_str(sql, "SELECT m.uid, m.modseq, m.flags, m.data_id");
	for (size_t i = 0; i < ARRAY_SIZE(pg_fetch_groups); i++) {
		if ((fields & pg_fetch_groups[i].field) != 0)
			(void)buf_append_str(sql, pg_fetch_groups[i].sql);
	}
	(void)buf_append_str(sql, " FROM messages AS m");
	if ((fields & PG_FETCH_DATA_FIELDS) != 0)
		(void)buf_append_str(sql, " JOIN message_data AS d ON d.id = m.data_id");
	(void)buf_append_str(sql, " WHERE m.mailbox_id = $1");
	(void)buf_append_str(sql, by_modseq ? " AND m.modseq > $2 AND $3 = $3"
					    : " AND m.uid BETWEEN $2 AND $3");
	(void)buf_append_str(sql, " AND m.expunged_modseq IS NULL ORDER BY m.uid");
}

static void pg_fetch_row(const PGresult *r, int row, unsigned int fields,
			 struct store_message *m)
{
	int col = 4;

	*m = (struct store_message){
		.uid = (uint32_t)pg_int(r, row, 0),
		.modseq = (uint64_t)pg_int(r, row, 1),
		.flags = (uint32_t)pg_int(r, row, 2),
		.email_id = pg_int(r, row, 3),
	};
	if ((fields & STORE_FETCH_KEYWORDS) != 0)
		m->keywords = pg_text(r, row, col++);
	if ((fields & STORE_FETCH_DATES) != 0) {
		m->internal_date = pg_int(r, row, col++);
		m->save_date = pg_int(r, row, col++);
	}
	if ((fields & STORE_FETCH_SIZE) != 0)
		m->size = (uint64_t)pg_int(r, row, col++);
	if ((fields & STORE_FETCH_BLOB) != 0) {
		m->content_hash = pg_text(r, row, col++);
		m->blob_key_id = (uint32_t)pg_int(r, row, col++);
	}
	if ((fields & STORE_FETCH_ENVELOPE) != 0)
		m->headers.envelope = pg_text(r, row, col++);
	if ((fields & STORE_FETCH_BODYSTRUCTURE) != 0)
		m->headers.bodystructure = pg_text(r, row, col++);
	if ((fields & STORE_FETCH_HEADERS) != 0) {
		const char **h[] = {
			&m->headers.subject,      &m->headers.base_subject, &m->headers.from,
			&m->headers.to,           &m->headers.cc,           &m->headers.bcc,
			&m->headers.sort_from,    &m->headers.sort_to,      &m->headers.sort_cc,
			&m->headers.display_from, &m->headers.display_to,   &m->headers.message_id,
			&m->headers.in_reply_to,  &m->headers.references,
		};

		for (size_t i = 0; i < ARRAY_SIZE(h); i++)
			*h[i] = pg_text(r, row, col++);
		m->headers.sent_date = pg_int(r, row, col++);
	}
	if ((fields & STORE_FETCH_PREVIEW) != 0)
		m->headers.preview = pg_text(r, row, col++);
	if ((fields & STORE_FETCH_PARTS) != 0 && !PQgetisnull(r, row, col)) {
		/* text-format bytea ("\\x…"): decoded into a buffer the caller
		   frees after the callback (pg_fetch_rows) */
		size_t len = 0;
		unsigned char *parts = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col),
						       &len);

		if (parts != NULL && len > 0) {
			m->headers.parts = parts;
			m->headers.parts_len = len;
		} else {
			PQfreemem(parts);
		}
	}
}

static bool pg_set_has(const struct store_uid_range *set, size_t count, uint32_t uid)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uid < set[mid].first)
			hi = mid;
		else if (uid > set[mid].last)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* 1 = stopped by the callback, 0 = all rows seen. */
static int pg_fetch_rows(const PGresult *r, unsigned int fields,
			 const struct store_uid_range *set, size_t set_count, bool filter,
			 store_fetch_cb *cb, void *ctx)
{
	int n = PQntuples(r);
	struct store_message m;

	for (int i = 0; i < n; i++) {
		int stop;

		pg_fetch_row(r, i, fields, &m);
		stop = filter && !pg_set_has(set, set_count, m.uid) ? 0 : cb(&m, ctx);
		PQfreemem((void *)m.headers.parts);
		if (stop != 0)
			return 1;
	}
	return 0;
}

/* Runs a fetch query in single-row mode: FETCH 1:* of a big mailbox
   streams through one row at a time instead of one result holding the
   whole mailbox. 1 = stopped by the callback, 0 = done, -1 = error. */
static int pg_fetch_stream(struct pg_conn *c, const char *sql, const struct pg_params *p,
			   unsigned int fields, const struct store_uid_range *set,
			   size_t set_count, bool filter, store_fetch_cb *cb, void *ctx,
			   struct store_error *err)
{
	char name[24];
	PGresult *r;
	int rc = 0;
	bool failed = false;

	if (pg_prepare(c, sql, p, name, sizeof(name), err) < 0)
		return -1;
	if (PQsendQueryPrepared(c->db, name, p->n, p->values, p->lengths, p->formats, 0) != 1 ||
	    PQsetSingleRowMode(c->db) != 1)
		return pg_fail_result(c, NULL, err);
	while ((r = PQgetResult(c->db)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_SINGLE_TUPLE) {
			/* after a stop the rest is read and dropped: the
			   connection must be idle again before it is reused */
			if (rc == 0 && !failed)
				rc = pg_fetch_rows(r, fields, set, set_count, filter, cb, ctx);
			PQclear(r);
		} else if (st == PGRES_TUPLES_OK) {
			PQclear(r);
		} else if (!failed) {
			(void)pg_fail_result(c, r, err);
			failed = true;
		} else {
			PQclear(r);
		}
	}
	return failed ? -1 : rc;
}

int pg_fetch(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	     size_t set_count, unsigned int fields, uint64_t changed_since, store_fetch_cb *cb,
	     void *ctx, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	bool by_modseq = changed_since > 0;
	struct pg_conn *c;
	int64_t account_id;
	struct buf sql;
	int rc = -1;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	buf_init(&sql, 0);
	pg_fetch_sql(fields, by_modseq, &sql);
	if (pg_mailbox_check(c, mailbox_id, &account_id, err) < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; i < (by_modseq ? 1 : set_count) && rc == 0; i++) {
		struct pg_params p = { 0 };

		pg_p_int(&p, mailbox_id);
		pg_p_int(&p, by_modseq ? (int64_t)changed_since : set[i].first);
		pg_p_int(&p, by_modseq ? 0 : set[i].last);
		/* CHANGEDSINCE walks the few changed rows, filtered by the set */
		rc = pg_fetch_stream(c, sql.data, &p, fields, set, set_count, by_modseq, cb, ctx,
				     err);
	}
out:
	pg_read_end(pg, c);
	buf_free(&sql);
	return rc < 0 ? -1 : 0;
}

int pg_changes_since(struct store *st, int64_t mailbox_id, uint64_t modseq, struct arena *arena,
		     struct store_flags_result **changed_r, size_t *changed_count_r,
		     uint32_t **vanished_r, size_t *vanished_count_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_flags_out out = { 0 };
	struct pg_u32vec vanished = { 0 };
	PGresult *r = NULL, *v = NULL;
	struct pg_conn *c;
	int64_t account_id;
	int ret = -1;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_check(c, mailbox_id, &account_id, err) == 0) {
		struct pg_params p = { 0 };

		pg_p_int(&p, mailbox_id);
		pg_p_int(&p, (int64_t)modseq);
		r = pg_exec(c,
			    "SELECT uid, modseq, flags, keywords FROM messages "
			    "WHERE mailbox_id = $1 AND modseq > $2 AND expunged_modseq IS NULL "
			    "ORDER BY uid",
			    &p, err);
		if (r != NULL)
			v = pg_exec(c,
				    "SELECT uid FROM messages WHERE mailbox_id = $1 AND "
				    "expunged_modseq > $2 ORDER BY uid",
				    &p, err);
	}
	pg_read_end(pg, c);
	if (r != NULL && v != NULL) {
		for (int i = 0; i < PQntuples(r); i++) {
			struct store_flags_result *x = pg_flags_push(arena, &out);

			*x = (struct store_flags_result){
				.uid = (uint32_t)pg_int(r, i, 0),
				.modseq = (uint64_t)pg_int(r, i, 1),
				.flags = (uint32_t)pg_int(r, i, 2),
				.keywords = pg_dup(arena, r, i, 3),
				.changed = true,
			};
		}
		for (int i = 0; i < PQntuples(v); i++)
			pg_u32vec_push(arena, &vanished, (uint32_t)pg_int(v, i, 0));
		*changed_r = out.v;
		*changed_count_r = out.n;
		*vanished_r = vanished.v;
		*vanished_count_r = vanished.n;
		ret = 0;
	}
	PQclear(r);
	PQclear(v);
	return ret;
}

/* ---- search ------------------------------------------------------------ */

/* A to_tsquery() text matching the words as a phrase, the last one as a
   prefix; weight B (the body) only for BODY: "w1:B <-> w2:*B". */
static const char *pg_ts_query(const char *const *words, size_t count, bool body_only,
			       struct arena *arena)
{
	struct buf b, w;
	const char *q;

	buf_init(&b, 0);
	buf_init(&w, 0);
	for (size_t i = 0; i < count; i++) {
		buf_clear(&w);
		pg_fts_words(words[i], strlen(words[i]), &w);
		if (w.len == 0)
			continue;
		if (b.len > 0)
			(void)buf_append_str(&b, " <-> ");
		(void)buf_append(&b, w.data, w.len);
		if (i + 1 == count)
			(void)buf_append_str(&b, body_only ? ":*B" : ":*");
		else if (body_only)
			(void)buf_append_str(&b, ":B");
	}
	q = arena_strndup(arena, b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	buf_free(&w);
	return q;
}

static const char *pg_like_pattern(const char *value, struct arena *arena)
{
	size_t len = strlen(value);
	char *p = arena_alloc(arena, len * 2 + 3), *o = p;

	*o++ = '%';
	for (const char *v = value; *v != '\0'; v++) {
		if (*v == '%' || *v == '_' || *v == '\\')
			*o++ = '\\';
		*o++ = *v;
	}
	*o++ = '%';
	*o = '\0';
	return p;
}

#define PG_SEARCH_LIVE                                                                        \
	"SELECT m.uid FROM messages m JOIN message_data d ON d.id = m.data_id "              \
	"WHERE m.mailbox_id = $1 AND m.expunged_modseq IS NULL AND "
/* The matching contents first (GIN), then their messages by data_id: a
   plain join lets the planner walk the whole mailbox and test every
   message's tsvector, 300 ms instead of 0.2 ms on a 100,000-message
   mailbox for a rare word. */
#define PG_SEARCH_FTS                                                                         \
	"SELECT m.uid FROM messages m WHERE m.data_id = ANY(ARRAY(SELECT data_id "           \
	"FROM message_fts WHERE tsv @@ to_tsquery('simple', $2) AND account_id = $3)) "      \
	"AND m.mailbox_id = $1 AND m.expunged_modseq IS NULL ORDER BY m.uid"
/* ASCII case-insensitive like SQLite's LIKE; the pattern escapes with '\' */
#define PG_SEARCH_LIKE(col)                                                                   \
	PG_SEARCH_LIVE "d." col " ILIKE $2 ESCAPE '\\' AND $3 = $3 ORDER BY m.uid"

static const char *const pg_search_sql[STORE_SEARCH_KEY_COUNT] = {
	[STORE_SEARCH_TEXT] = PG_SEARCH_FTS,
	[STORE_SEARCH_BODY] = PG_SEARCH_FTS,
	[STORE_SEARCH_SUBJECT] = PG_SEARCH_LIKE("subject"),
	[STORE_SEARCH_FROM] = PG_SEARCH_LIKE("from_text"),
	[STORE_SEARCH_TO] = PG_SEARCH_LIKE("to_text"),
	[STORE_SEARCH_CC] = PG_SEARCH_LIKE("cc_text"),
	[STORE_SEARCH_BCC] = PG_SEARCH_LIKE("bcc_text"),
	[STORE_SEARCH_MESSAGE_ID] = PG_SEARCH_LIKE("message_id"),
};

int pg_search(struct store *st, int64_t mailbox_id, enum store_search_key key, const char *value,
	      const char *const *words, size_t word_count, struct arena *arena, uint32_t **uids_r,
	      size_t *count_r, struct store_error *err)
{
	bool is_fts = key == STORE_SEARCH_TEXT || key == STORE_SEARCH_BODY;
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_u32vec uids = { 0 };
	const char *sql = pg_search_sql[key], *arg;
	struct pg_conn *c;
	PGresult *r = NULL;
	int64_t account_id;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_check(c, mailbox_id, &account_id, err) < 0)
		goto out;
	if (is_fts && word_count == 0) {
		sql = "SELECT uid FROM messages WHERE mailbox_id = $1 AND expunged_modseq IS NULL "
		      "AND $2 = $2 AND $3 = $3 ORDER BY uid";
		arg = "";
	} else if (is_fts) {
		arg = pg_ts_query(words, word_count, key == STORE_SEARCH_BODY, arena);
	} else {
		size_t len;

		arg = pg_utf8_clean(arena, value, strlen(value), &len);
		arg = pg_like_pattern(arg, arena);
	}
	pg_p_int(&p, mailbox_id);
	pg_p_text(&p, arg);
	pg_p_int(&p, account_id);
	r = pg_exec(c, sql, &p, err);
out:
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		pg_u32vec_push(arena, &uids, (uint32_t)pg_int(r, i, 0));
	PQclear(r);
	*uids_r = uids.v;
	*count_r = uids.n;
	return 0;
}
