/* SQLite driver: messages. Append, flag updates, expunge, copy and move
   are write transactions that read the mailbox row (UIDNEXT,
   HIGHESTMODSEQ), change message rows, then write the mailbox row back
   with its counter deltas (sq_mailbox_save), so counters, UIDs and
   MODSEQs only ever move together. Reads (fetch, changes, search) are
   index range scans on (mailbox_id, uid), (mailbox_id, modseq) or
   (mailbox_id, expunged_modseq); none loads a mailbox to answer about a
   few messages. */

#include "store/store-sqlite-private.h"

#include "lib/arena.h"
#include "lib/str.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* The narrow columns of one message row. */
struct sq_msg_row {
	int64_t id;
	int64_t data_id;
	int64_t internal_date;
	uint64_t modseq;
	uint64_t size;
	uint32_t uid;
	uint32_t flags;
	const char *keywords;
};

struct sq_msg_rows {
	struct sq_msg_row *v;
	size_t n, cap;
};

static struct sq_msg_row *sq_rows_push(struct arena *arena, struct sq_msg_rows *rows)
{
	if (rows->n == rows->cap) {
		size_t cap = rows->cap == 0 ? 64 : rows->cap * 2;
		struct sq_msg_row *v = arena_alloc(arena, sizeof(*v) * cap);

		if (rows->n > 0)
			memcpy(v, rows->v, sizeof(*v) * rows->n);
		rows->v = v;
		rows->cap = cap;
	}
	return &rows->v[rows->n++];
}

/* The live messages of a UID set, ascending; only \Deleted ones when
   deleted_only. */
static int sq_rows_collect(struct sq_conn *c, int64_t mailbox_id,
			   const struct store_uid_range *set, size_t set_count, bool deleted_only,
			   struct arena *arena, struct sq_msg_rows *rows, struct store_error *err)
{
	static const char sql[] =
		"SELECT id, uid, modseq, flags, keywords, data_id, internal_date, size "
		"FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? "
		"AND expunged_modseq IS NULL ORDER BY uid";

	for (size_t i = 0; i < set_count; i++) {
		sqlite3_stmt *s = sq_prepare(c, sql, err);
		int rc;

		if (s == NULL)
			return -1;
		sq_bind_int(s, 1, mailbox_id);
		sq_bind_int(s, 2, set[i].first);
		sq_bind_int(s, 3, set[i].last);
		while ((rc = sq_step(c, s, err)) == 1) {
			uint32_t flags = (uint32_t)sqlite3_column_int64(s, 3);
			const char *kw = sq_col_text(s, 4);
			struct sq_msg_row *r;

			if (deleted_only && (flags & STORE_FLAG_DELETED) == 0)
				continue;
			r = sq_rows_push(arena, rows);
			*r = (struct sq_msg_row){
				.id = sqlite3_column_int64(s, 0),
				.uid = (uint32_t)sqlite3_column_int64(s, 1),
				.modseq = (uint64_t)sqlite3_column_int64(s, 2),
				.flags = flags,
				.keywords = kw[0] == '\0' ? "" : arena_strdup(arena, kw),
				.data_id = sqlite3_column_int64(s, 5),
				.internal_date = sqlite3_column_int64(s, 6),
				.size = (uint64_t)sqlite3_column_int64(s, 7),
			};
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void sq_count_in(struct sq_mailbox *mb, uint32_t flags, uint64_t size, int sign)
{
	mb->d_messages += sign;
	mb->d_unseen += (flags & STORE_FLAG_SEEN) == 0 ? sign : 0;
	mb->d_deleted += (flags & STORE_FLAG_DELETED) != 0 ? sign : 0;
	mb->d_bytes += sign * (int64_t)size;
}

static int sq_uid_take(struct sq_mailbox *mb, uint32_t *uid_r, struct store_error *err)
{
	if (mb->uidnext == 0 || mb->uidnext == UINT32_MAX) {
		store_error_set(err, STORE_INVALID, "mailbox %lld has no UIDs left",
				(long long)mb->id);
		return -1;
	}
	*uid_r = mb->uidnext++;
	return 0;
}

static int sq_message_insert(struct sq_conn *c, const struct sq_mailbox *mb, int64_t data_id,
			     uint32_t uid, uint64_t modseq, uint32_t flags, const char *keywords,
			     int64_t internal_date, int64_t save_date, uint64_t size,
			     struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c,
				     "INSERT INTO messages (account_id, mailbox_id, data_id, uid, "
				     "modseq, flags, keywords, internal_date, save_date, size) "
				     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				     err);

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, mb->account_id);
	sq_bind_int(s, 2, mb->id);
	sq_bind_int(s, 3, data_id);
	sq_bind_int(s, 4, uid);
	sq_bind_int(s, 5, (int64_t)modseq);
	sq_bind_int(s, 6, flags);
	sq_bind_text0(s, 7, keywords);
	sq_bind_int(s, 8, internal_date);
	sq_bind_int(s, 9, save_date);
	sq_bind_int(s, 10, (int64_t)size);
	return sq_exec(c, s, err);
}

/* ---- append ----------------------------------------------------------- */

/* The message_data row of (account, content hash), created with the
   parsed headers and the full-text entry on first sight. */
static int sq_message_data(struct sq_conn *c, int64_t account_id,
			   const struct store_message_in *in, struct buf *tmp, int64_t *data_id_r,
			   struct store_error *err)
{
	const struct store_message_new *m = in->msg;
	const struct store_headers *h = &m->headers;
	const char *const text[] = {
		h->envelope,     h->bodystructure, h->subject,     h->base_subject, h->from,
		h->to,           h->cc,            h->bcc,         h->sort_from,    h->sort_to,
		h->sort_cc,      h->display_from,  h->display_to,  h->message_id,   h->in_reply_to,
		h->references,   h->preview,
	};
	sqlite3_stmt *s;
	int rc;

	s = sq_prepare(c, "SELECT id FROM message_data WHERE account_id = ? AND content_hash = ?",
		       err);
	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 2, m->content_hash);
	rc = sq_step(c, s, err);
	if (rc == 1)
		*data_id_r = sqlite3_column_int64(s, 0);
	(void)sqlite3_reset(s);
	if (rc != 0)
		return rc < 0 ? -1 : 0;

	s = sq_prepare(c,
		       "INSERT INTO message_data (account_id, content_hash, blob_key_id, envelope, "
		       "bodystructure, subject, base_subject, from_text, to_text, cc_text, "
		       "bcc_text, "
		       "sort_from, sort_to, sort_cc, display_from, display_to, message_id, "
		       "in_reply_to, refs, preview, sent_date, parts) VALUES (?, ?, ?, ?, ?, ?, ?, "
		       "?, ?, ?, "
		       "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       err);
	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 2, m->content_hash);
	sq_bind_int(s, 3, m->blob_key_id);
	for (size_t i = 0; i < ARRAY_SIZE(text); i++)
		sq_bind_text0(s, (int)i + 4, text[i]);
	sq_bind_int(s, 21, h->sent_date);
	if (h->parts != NULL && h->parts_len > 0)
		(void)sqlite3_bind_blob64(s, 22, h->parts, h->parts_len, SQLITE_STATIC);
	if (sq_exec(c, s, err) < 0)
		return -1;
	*data_id_r = sqlite3_last_insert_rowid(c->db);

	buf_clear(tmp);
	store_fts_headers(h, tmp);
	if (tmp->len == 0 && in->body_text_len == 0)
		return 0;
	s = sq_prepare(c,
		       "INSERT INTO message_fts (rowid, owner, headers, body) "
		       "VALUES (?1, 'a' || ?2, ?3, ?4)",
		       err);
	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, *data_id_r);
	sq_bind_int(s, 2, account_id);
	sq_bind_textn(s, 3, buf_slice(tmp).ptr, tmp->len);
	sq_bind_textn(s, 4, in->body_text_len > 0 ? m->body_text : "", in->body_text_len);
	return sq_exec(c, s, err);
}

/* The touched mailboxes of a batch: few (LMTP recipients), usually one. */
struct sq_touched {
	struct sq_mailbox *v;
	size_t n, cap;
};

static struct sq_mailbox *sq_touched_get(struct sq_conn *c, struct sq_touched *t,
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
	if (sq_mailbox_load(c, mailbox_id, &t->v[t->n], err) < 0)
		return NULL;
	if (t->v[t->n].is_noselect) {
		store_error_set(err, STORE_INVALID, "mailbox %lld is not selectable",
				(long long)mailbox_id);
		return NULL;
	}
	return &t->v[t->n++];
}

static int sq_append_one(struct sq_conn *c, struct sq_mailbox *mb, struct store_append *item,
			 const struct store_message_in *in, int64_t now, struct buf *tmp,
			 struct store_error *err)
{
	char storage[STORE_KEYWORDS_PER_MESSAGE_MAX][STORE_KEYWORD_MAX + 1];
	const char *canon[STORE_KEYWORDS_PER_MESSAGE_MAX];
	const struct store_message_new *m = in->msg;
	const char *keywords = "";
	int64_t data_id = 0;
	uint32_t uid;

	if (sq_message_data(c, mb->account_id, in, tmp, &data_id, err) < 0)
		return -1;
	if (in->keyword_count > 0) {
		if (sq_keywords_canonical(c, mb->id, in->keywords, in->keyword_count, storage,
					  canon, err) < 0)
			return -1;
		if (store_keywords_join(canon, in->keyword_count, tmp) < 0) {
			store_error_set(err, STORE_INVALID, "too many keywords");
			return -1;
		}
		keywords = tmp->data;
	}
	if (sq_uid_take(mb, &uid, err) < 0)
		return -1;
	mb->highest_modseq++;
	if (sq_message_insert(c, mb, data_id, uid, mb->highest_modseq, m->flags, keywords,
			      m->internal_date, now, m->size, err) < 0)
		return -1;
	sq_count_in(mb, m->flags, m->size, 1);
	item->uid_r = uid;
	item->modseq_r = mb->highest_modseq;
	item->uidvalidity_r = mb->uidvalidity;
	return 0;
}

int sq_append_batch(struct store *st, struct store_append *items,
		    const struct store_message_in *in, size_t count, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_touched touched = { 0 };
	int64_t now = sq_now();
	struct sq_conn *c;
	struct buf tmp;
	int ret = -1;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	buf_init(&tmp, 0);
	for (size_t i = 0; i < count; i++) {
		struct sq_mailbox *mb = sq_touched_get(c, &touched, items[i].mailbox_id, err);

		if (mb == NULL || sq_append_one(c, mb, &items[i], &in[i], now, &tmp, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < touched.n; i++) {
		if (sq_mailbox_save(c, &touched.v[i], err) < 0)
			goto out;
	}
	ret = 0;
out:
	buf_free(&tmp);
	free(touched.v);
	if (ret < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

/* ---- flags ------------------------------------------------------------ */

struct sq_flags_out {
	struct store_flags_result *v;
	size_t n, cap;
	struct sq_u32vec failed;
};

static struct store_flags_result *sq_flags_push(struct arena *arena, struct sq_flags_out *o)
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

static int sq_message_set_flags(struct sq_conn *c, const struct sq_msg_row *r, uint32_t flags,
				const char *keywords, uint64_t modseq, struct store_error *err)
{
	sqlite3_stmt *s;

	if (strcmp(keywords, r->keywords) == 0) {
		return sq_exec_ints(c, "UPDATE messages SET flags = ?, modseq = ? WHERE id = ?",
				    err, (int64_t)flags, (int64_t)modseq, r->id);
	}
	s = sq_prepare(c, "UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE id = ?",
		       err);
	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, flags);
	sq_bind_text(s, 2, keywords);
	sq_bind_int(s, 3, (int64_t)modseq);
	sq_bind_int(s, 4, r->id);
	return sq_exec(c, s, err);
}

static int sq_flags_apply_rows(struct sq_conn *c, struct sq_mailbox *mb,
			       const struct sq_msg_rows *rows, const struct store_flags_update *upd,
			       const char *const *canon, struct arena *arena,
			       struct sq_flags_out *out, bool *changed_r, struct store_error *err)
{
	bool touch_keywords = upd->op == STORE_FLAGS_REPLACE || upd->keyword_count > 0;
	uint64_t modseq = mb->highest_modseq + 1;
	struct buf kw;
	int ret = -1;

	buf_init(&kw, 0);
	for (size_t i = 0; i < rows->n; i++) {
		const struct sq_msg_row *r = &rows->v[i];
		uint32_t flags = store_flags_apply(r->flags, upd->op, upd->flags);
		const char *keywords = r->keywords;
		struct store_flags_result *res;
		bool changed;

		if (upd->unchanged_since != 0 && r->modseq > upd->unchanged_since) {
			sq_u32vec_push(arena, &out->failed, r->uid);
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
		changed = flags != r->flags || strcmp(keywords, r->keywords) != 0;
		res = sq_flags_push(arena, out);
		*res = (struct store_flags_result){
			.uid = r->uid,
			.flags = flags,
			.modseq = changed ? modseq : r->modseq,
			.keywords = changed ? arena_strdup(arena, keywords) : r->keywords,
			.changed = changed,
		};
		if (!changed)
			continue;
		*changed_r = true;
		sq_count_in(mb, r->flags, 0, -1);
		sq_count_in(mb, flags, 0, 1);
		if (sq_message_set_flags(c, r, flags, keywords, modseq, err) < 0)
			goto out;
	}
	ret = 0;
out:
	buf_free(&kw);
	return ret;
}

int sq_flags_update(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		    size_t set_count, const struct store_flags_update *upd, struct arena *arena,
		    struct store_flags_result **results_r, size_t *result_count_r,
		    uint32_t **failed_uids_r, size_t *failed_count_r, struct store_error *err)
{
	char storage[STORE_KEYWORDS_PER_MESSAGE_MAX][STORE_KEYWORD_MAX + 1];
	const char *canon[STORE_KEYWORDS_PER_MESSAGE_MAX];
	struct store_sqlite *sq = sq_from(st);
	struct sq_flags_out out = { 0 };
	struct sq_msg_rows rows = { 0 };
	struct sq_mailbox mb;
	struct sq_conn *c;
	bool changed = false;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_load(c, mailbox_id, &mb, err) < 0)
		goto fail;
	/* a removal only compares, it needs no registered spelling */
	if (upd->op == STORE_FLAGS_REMOVE) {
		for (size_t i = 0; i < upd->keyword_count; i++)
			canon[i] = upd->keywords[i];
	} else if (sq_keywords_canonical(c, mailbox_id, upd->keywords, upd->keyword_count, storage,
					 canon, err) < 0) {
		goto fail;
	}
	if (sq_rows_collect(c, mailbox_id, set, set_count, false, arena, &rows, err) < 0 ||
	    sq_flags_apply_rows(c, &mb, &rows, upd, canon, arena, &out, &changed, err) < 0)
		goto fail;
	if (changed) {
		mb.highest_modseq++;
		if (sq_mailbox_save(c, &mb, err) < 0)
			goto fail;
	}
	if (sq_write_commit(sq, c, err) < 0)
		return -1;
	*results_r = out.v;
	*result_count_r = out.n;
	*failed_uids_r = out.failed.v;
	*failed_count_r = out.failed.n;
	return 0;
fail:
	sq_write_rollback(sq, c);
	return -1;
}

/* ---- expunge, copy, move ---------------------------------------------- */

/* Tombstones rows with one new MODSEQ; *modseq_r = 0 when rows is empty. */
static int sq_expunge_rows(struct sq_conn *c, struct sq_mailbox *mb,
			   const struct sq_msg_rows *rows, uint64_t *modseq_r,
			   struct store_error *err)
{
	int64_t now = sq_now();

	*modseq_r = 0;
	if (rows->n == 0)
		return 0;
	mb->highest_modseq++;
	for (size_t i = 0; i < rows->n; i++) {
		const struct sq_msg_row *r = &rows->v[i];

		if (sq_exec_ints(c,
				 "UPDATE messages SET expunged_modseq = ?1, modseq = ?1, "
				 "expunged_at = ?2 WHERE id = ?3",
				 err, (int64_t)mb->highest_modseq, now, r->id) < 0)
			return -1;
		sq_count_in(mb, r->flags, r->size, -1);
	}
	*modseq_r = mb->highest_modseq;
	return sq_mailbox_save(c, mb, err);
}

int sq_expunge(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	       size_t set_count, bool deleted_only, struct arena *arena, uint32_t **uids_r,
	       size_t *count_r, uint64_t *modseq_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_msg_rows rows = { 0 };
	struct sq_mailbox mb;
	struct sq_conn *c;
	uint32_t *uids;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_load(c, mailbox_id, &mb, err) < 0 ||
	    sq_rows_collect(c, mailbox_id, set, set_count, deleted_only, arena, &rows, err) < 0 ||
	    sq_expunge_rows(c, &mb, &rows, modseq_r, err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	if (sq_write_commit(sq, c, err) < 0)
		return -1;
	uids = rows.n > 0 ? arena_alloc(arena, sizeof(*uids) * rows.n) : NULL;
	for (size_t i = 0; i < rows.n; i++)
		uids[i] = rows.v[i].uid;
	*uids_r = uids;
	*count_r = rows.n;
	return 0;
}

/* Re-spells a stored keyword string for another mailbox. */
static int sq_keywords_for(struct sq_conn *c, int64_t mailbox_id, const char *keywords,
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
	if (sq_keywords_canonical(c, mailbox_id, words, n, storage, canon, err) < 0)
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

int sq_copy_in(struct sq_conn *c, struct sq_mailbox *src, const struct store_uid_range *set,
	       size_t set_count, struct sq_mailbox *dst, bool move, struct arena *arena,
	       struct store_copy_result *result_r, struct store_error *err)
{
	const char *prev_src = "", *prev_dst = "";
	struct sq_msg_rows rows = { 0 };
	int64_t now = sq_now();
	uint64_t src_modseq = 0;

	if (src->account_id != dst->account_id) {
		store_error_set(err, STORE_INVALID, "cannot copy between accounts");
		return -1;
	}
	if (dst->is_noselect) {
		store_error_set(err, STORE_INVALID, "mailbox %lld is not selectable",
				(long long)dst->id);
		return -1;
	}
	if (sq_rows_collect(c, src->id, set, set_count, false, arena, &rows, err) < 0)
		return -1;
	*result_r = (struct store_copy_result){
		.dst_uidvalidity = dst->uidvalidity,
		.count = rows.n,
		.src_uids = arena_alloc(arena, sizeof(uint32_t) * (rows.n + 1)),
		.dst_uids = arena_alloc(arena, sizeof(uint32_t) * (rows.n + 1)),
	};
	for (size_t i = 0; i < rows.n; i++) {
		const struct sq_msg_row *r = &rows.v[i];
		const char *kw = "";
		uint32_t uid;

		if (r->keywords[0] != '\0' && strcmp(r->keywords, prev_src) == 0) {
			kw = prev_dst;
		} else if (r->keywords[0] != '\0') {
			if (sq_keywords_for(c, dst->id, r->keywords, arena, &kw, err) < 0)
				return -1;
			prev_src = r->keywords;
			prev_dst = kw;
		}
		if (sq_uid_take(dst, &uid, err) < 0)
			return -1;
		dst->highest_modseq++;
		if (sq_message_insert(c, dst, r->data_id, uid, dst->highest_modseq, r->flags, kw,
				      r->internal_date, now, r->size, err) < 0)
			return -1;
		sq_count_in(dst, r->flags, r->size, 1);
		result_r->src_uids[i] = r->uid;
		result_r->dst_uids[i] = uid;
	}
	if (sq_mailbox_save(c, dst, err) < 0)
		return -1;
	if (move && sq_expunge_rows(c, src, &rows, &src_modseq, err) < 0)
		return -1;
	result_r->src_modseq = src_modseq;
	return 0;
}

int sq_copy(struct store *st, int64_t src_mailbox_id, const struct store_uid_range *set,
	    size_t set_count, int64_t dst_mailbox_id, bool move, struct arena *arena,
	    struct store_copy_result *result_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_mailbox src, dst;
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_load(c, src_mailbox_id, &src, err) < 0 ||
	    sq_mailbox_load(c, dst_mailbox_id, &dst, err) < 0 ||
	    sq_copy_in(c, &src, set, set_count, &dst, move, arena, result_r, err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

/* ---- reads ------------------------------------------------------------ */

/* STORE_NOT_FOUND unless the mailbox exists; *account_id_r its owner. */
static int sq_mailbox_check(struct sq_conn *c, int64_t mailbox_id, int64_t *account_id_r,
			    struct store_error *err)
{
	int rc = sq_query_int(c, "SELECT account_id FROM mailboxes WHERE id = ?", account_id_r,
			      err, mailbox_id);

	if (rc == 0)
		(void)sq_not_found(err, "mailbox", mailbox_id);
	return rc == 1 ? 0 : -1;
}

/* Column groups of a fetch, in SELECT order after uid, modseq, flags,
   data_id (columns 0-3). */
struct sq_fetch_cols {
	unsigned int field;
	const char *sql;
	int ncols;
};

static const struct sq_fetch_cols sq_fetch_groups[] = {
	{ STORE_FETCH_KEYWORDS, ", m.keywords", 1 },
	{ STORE_FETCH_DATES, ", m.internal_date, m.save_date", 2 },
	{ STORE_FETCH_SIZE, ", m.size", 1 },
	{ STORE_FETCH_BLOB, ", d.content_hash, d.blob_key_id", 2 },
	{ STORE_FETCH_ENVELOPE, ", d.envelope", 1 },
	{ STORE_FETCH_BODYSTRUCTURE, ", d.bodystructure", 1 },
	{ STORE_FETCH_HEADERS,
	  ", d.subject, d.base_subject, d.from_text, d.to_text, d.cc_text, d.bcc_text, "
	  "d.sort_from, d.sort_to, d.sort_cc, d.display_from, d.display_to, d.message_id, "
	  "d.in_reply_to, d.refs, d.sent_date",
	  15 },
	{ STORE_FETCH_PREVIEW, ", d.preview", 1 },
	{ STORE_FETCH_PARTS, ", d.parts", 1 },
};

#define SQ_FETCH_DATA_FIELDS                                                                  \
	(STORE_FETCH_BLOB | STORE_FETCH_ENVELOPE | STORE_FETCH_BODYSTRUCTURE |                \
	 STORE_FETCH_HEADERS | STORE_FETCH_PREVIEW | STORE_FETCH_PARTS)

static void sq_fetch_sql(unsigned int fields, bool by_modseq, struct buf *sql)
{
	(void)buf_append_str(sql, "SELECT m.uid, m.modseq, m.flags, m.data_id");
	for (size_t i = 0; i < ARRAY_SIZE(sq_fetch_groups); i++) {
		if ((fields & sq_fetch_groups[i].field) != 0)
			(void)buf_append_str(sql, sq_fetch_groups[i].sql);
	}
	(void)buf_append_str(sql, by_modseq ? " FROM messages AS m INDEXED BY messages_modseq"
					    : " FROM messages AS m");
	if ((fields & SQ_FETCH_DATA_FIELDS) != 0)
		(void)buf_append_str(sql, " JOIN message_data AS d ON d.id = m.data_id");
	(void)buf_append_str(sql, " WHERE m.mailbox_id = ?1");
	(void)buf_append_str(sql, by_modseq ? " AND m.modseq > ?2"
					    : " AND m.uid BETWEEN ?2 AND ?3");
	(void)buf_append_str(sql, " AND m.expunged_modseq IS NULL ORDER BY m.uid");
}

static void sq_fetch_row(sqlite3_stmt *s, unsigned int fields, struct store_message *m)
{
	int col = 4;

	*m = (struct store_message){
		.uid = (uint32_t)sqlite3_column_int64(s, 0),
		.modseq = (uint64_t)sqlite3_column_int64(s, 1),
		.flags = (uint32_t)sqlite3_column_int64(s, 2),
		.email_id = sqlite3_column_int64(s, 3),
	};
	if ((fields & STORE_FETCH_KEYWORDS) != 0)
		m->keywords = sq_col_text(s, col++);
	if ((fields & STORE_FETCH_DATES) != 0) {
		m->internal_date = sqlite3_column_int64(s, col++);
		m->save_date = sqlite3_column_int64(s, col++);
	}
	if ((fields & STORE_FETCH_SIZE) != 0)
		m->size = (uint64_t)sqlite3_column_int64(s, col++);
	if ((fields & STORE_FETCH_BLOB) != 0) {
		m->content_hash = sq_col_text(s, col++);
		m->blob_key_id = (uint32_t)sqlite3_column_int64(s, col++);
	}
	if ((fields & STORE_FETCH_ENVELOPE) != 0)
		m->headers.envelope = sq_col_text(s, col++);
	if ((fields & STORE_FETCH_BODYSTRUCTURE) != 0)
		m->headers.bodystructure = sq_col_text(s, col++);
	if ((fields & STORE_FETCH_HEADERS) != 0) {
		const char **h[] = {
			&m->headers.subject,      &m->headers.base_subject, &m->headers.from,
			&m->headers.to,           &m->headers.cc,           &m->headers.bcc,
			&m->headers.sort_from,    &m->headers.sort_to,      &m->headers.sort_cc,
			&m->headers.display_from, &m->headers.display_to,   &m->headers.message_id,
			&m->headers.in_reply_to,  &m->headers.references,
		};

		for (size_t i = 0; i < ARRAY_SIZE(h); i++)
			*h[i] = sq_col_text(s, col++);
		m->headers.sent_date = sqlite3_column_int64(s, col++);
	}
	if ((fields & STORE_FETCH_PREVIEW) != 0)
		m->headers.preview = sq_col_text(s, col++);
	if ((fields & STORE_FETCH_PARTS) != 0) {
		/* NULL for mail stored before schema version 2 */
		m->headers.parts = sqlite3_column_blob(s, col);
		m->headers.parts_len = (size_t)sqlite3_column_bytes(s, col);
		if (m->headers.parts_len == 0)
			m->headers.parts = NULL;
		col++;
	}
}

static bool sq_set_has(const struct store_uid_range *set, size_t count, uint32_t uid)
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

/* Steps s to the end, calling cb for each row in the set; 1 = stopped by
   the callback. */
static int sq_fetch_run(struct sq_conn *c, sqlite3_stmt *s, unsigned int fields,
			const struct store_uid_range *set, size_t set_count, bool filter,
			store_fetch_cb *cb, void *ctx, struct store_error *err)
{
	struct store_message m;
	int rc;

	while ((rc = sq_step(c, s, err)) == 1) {
		sq_fetch_row(s, fields, &m);
		if (filter && !sq_set_has(set, set_count, m.uid))
			continue;
		if (cb(&m, ctx) != 0) {
			(void)sqlite3_reset(s);
			return 1;
		}
	}
	return rc;
}

int sq_fetch(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	     size_t set_count, unsigned int fields, uint64_t changed_since, store_fetch_cb *cb,
	     void *ctx, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	bool by_modseq = changed_since > 0;
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t account_id;
	struct buf sql;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	buf_init(&sql, 0);
	sq_fetch_sql(fields, by_modseq, &sql);
	if (sq_mailbox_check(c, mailbox_id, &account_id, err) < 0)
		goto out;
	if (by_modseq) {
		/* CHANGEDSINCE: walk the few changed rows, filter by the set */
		s = sq_prepare(c, sql.data, err);
		if (s == NULL)
			goto out;
		sq_bind_int(s, 1, mailbox_id);
		sq_bind_int(s, 2, (int64_t)changed_since);
		rc = sq_fetch_run(c, s, fields, set, set_count, true, cb, ctx, err);
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < set_count && rc == 0; i++) {
		s = sq_prepare(c, sql.data, err);
		if (s == NULL) {
			rc = -1;
			break;
		}
		sq_bind_int(s, 1, mailbox_id);
		sq_bind_int(s, 2, set[i].first);
		sq_bind_int(s, 3, set[i].last);
		rc = sq_fetch_run(c, s, fields, set, set_count, false, cb, ctx, err);
	}
out:
	sq_read_end(sq, c);
	buf_free(&sql);
	return rc < 0 ? -1 : 0;
}

int sq_changes_since(struct store *st, int64_t mailbox_id, uint64_t modseq, struct arena *arena,
		     struct store_flags_result **changed_r, size_t *changed_count_r,
		     uint32_t **vanished_r, size_t *vanished_count_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_flags_out out = { 0 };
	struct sq_u32vec vanished = { 0 };
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t account_id;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_check(c, mailbox_id, &account_id, err) < 0)
		goto out;
	s = sq_prepare(c,
		       "SELECT uid, modseq, flags, keywords FROM messages INDEXED BY "
		       "messages_modseq "
		       "WHERE mailbox_id = ? AND modseq > ? AND expunged_modseq IS NULL ORDER BY "
		       "uid",
		       err);
	if (s == NULL)
		goto out;
	sq_bind_int(s, 1, mailbox_id);
	sq_bind_int(s, 2, (int64_t)modseq);
	while ((rc = sq_step(c, s, err)) == 1) {
		struct store_flags_result *r = sq_flags_push(arena, &out);

		*r = (struct store_flags_result){
			.uid = (uint32_t)sqlite3_column_int64(s, 0),
			.modseq = (uint64_t)sqlite3_column_int64(s, 1),
			.flags = (uint32_t)sqlite3_column_int64(s, 2),
			.keywords = sq_col_dup(arena, s, 3),
			.changed = true,
		};
	}
	if (rc < 0)
		goto out;
	s = sq_prepare(c,
		       "SELECT uid FROM messages INDEXED BY messages_expunged "
		       "WHERE mailbox_id = ? AND expunged_modseq > ? ORDER BY uid",
		       err);
	if (s == NULL) {
		rc = -1;
		goto out;
	}
	sq_bind_int(s, 1, mailbox_id);
	sq_bind_int(s, 2, (int64_t)modseq);
	while ((rc = sq_step(c, s, err)) == 1)
		sq_u32vec_push(arena, &vanished, (uint32_t)sqlite3_column_int64(s, 0));
out:
	sq_read_end(sq, c);
	if (rc < 0)
		return -1;
	*changed_r = out.v;
	*changed_count_r = out.n;
	*vanished_r = vanished.v;
	*vanished_count_r = vanished.n;
	return 0;
}

/* ---- search ----------------------------------------------------------- */

/* An FTS5 query matching words as a phrase, the last one as a prefix,
   within one account: `owner : a42 AND {headers body} : "w1 w2 w3" *`.
   Words hold no '"' (store_search_words). */
static const char *sq_fts_query(int64_t account_id, const char *const *words, size_t count,
				bool body_only, struct arena *arena)
{
	struct buf b;
	const char *q;

	buf_init(&b, 0);
	(void)buf_printf(&b, "owner : a%lld AND %s : \"", (long long)account_id,
			 body_only ? "body" : "{headers body}");
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			(void)buf_append(&b, " ", 1);
		(void)buf_append_str(&b, words[i]);
	}
	(void)buf_append_str(&b, "\" *");
	q = arena_strndup(arena, b.data, b.len);
	buf_free(&b);
	return q;
}

/* '%value%' for LIKE ... ESCAPE '\'. */
static const char *sq_like_pattern(const char *value, struct arena *arena)
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

#define SQ_SEARCH_LIVE                                                                        \
	"SELECT m.uid FROM messages m JOIN message_data d ON d.id = m.data_id "              \
	"WHERE m.mailbox_id = ?1 AND m.expunged_modseq IS NULL AND "
/* CROSS JOIN keeps the full-text match as the outer loop: otherwise the
   planner may walk the mailbox and probe the index once per message. */
#define SQ_SEARCH_FTS                                                                         \
	"SELECT m.uid FROM message_fts CROSS JOIN messages m "                               \
	"ON m.data_id = message_fts.rowid WHERE message_fts MATCH ?2 "                       \
	"AND m.mailbox_id = ?1 AND m.expunged_modseq IS NULL ORDER BY m.uid"
#define SQ_SEARCH_LIKE(col) SQ_SEARCH_LIVE "d." col " LIKE ?2 ESCAPE '\\' ORDER BY m.uid"

static const char *const sq_search_sql[STORE_SEARCH_KEY_COUNT] = {
	[STORE_SEARCH_TEXT] = SQ_SEARCH_FTS,
	[STORE_SEARCH_BODY] = SQ_SEARCH_FTS,
	[STORE_SEARCH_SUBJECT] = SQ_SEARCH_LIKE("subject"),
	[STORE_SEARCH_FROM] = SQ_SEARCH_LIKE("from_text"),
	[STORE_SEARCH_TO] = SQ_SEARCH_LIKE("to_text"),
	[STORE_SEARCH_CC] = SQ_SEARCH_LIKE("cc_text"),
	[STORE_SEARCH_BCC] = SQ_SEARCH_LIKE("bcc_text"),
	[STORE_SEARCH_MESSAGE_ID] = SQ_SEARCH_LIKE("message_id"),
};

int sq_search(struct store *st, int64_t mailbox_id, enum store_search_key key, const char *value,
	      const char *const *words, size_t word_count, struct arena *arena, uint32_t **uids_r,
	      size_t *count_r, struct store_error *err)
{
	bool is_fts = key == STORE_SEARCH_TEXT || key == STORE_SEARCH_BODY;
	struct store_sqlite *sq = sq_from(st);
	struct sq_u32vec uids = { 0 };
	struct sq_conn *c;
	sqlite3_stmt *s;
	const char *sql = sq_search_sql[key], *arg = NULL;
	int64_t account_id;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_check(c, mailbox_id, &account_id, err) < 0)
		goto out;
	if (is_fts && word_count == 0) {
		/* no words: every message matches, as an empty substring would */
		sql = "SELECT uid FROM messages WHERE mailbox_id = ?1 AND expunged_modseq IS NULL "
		      "ORDER BY uid";
	} else if (is_fts) {
		arg = sq_fts_query(account_id, words, word_count, key == STORE_SEARCH_BODY, arena);
	} else {
		arg = sq_like_pattern(value, arena);
	}
	s = sq_prepare(c, sql, err);
	if (s == NULL)
		goto out;
	sq_bind_int(s, 1, mailbox_id);
	if (arg != NULL)
		sq_bind_text(s, 2, arg);
	while ((rc = sq_step(c, s, err)) == 1)
		sq_u32vec_push(arena, &uids, (uint32_t)sqlite3_column_int64(s, 0));
out:
	sq_read_end(sq, c);
	if (rc < 0)
		return -1;
	*uids_r = uids.v;
	*count_r = uids.n;
	return 0;
}
