/* PostgreSQL driver: mailboxes, subscriptions, keywords, status.

   Names are stored normalised with COLLATE "C" (bytewise), so the
   children of "a/b" are the names in ["a/b/", "a/b0"), one index range on
   (account_id, name), as in the SQLite driver. Writers that allocate UIDs
   or MODSEQs lock the mailbox row first (pg_mailbox_load). Creating
   mailboxes of one account is serialised by a lock on the account row, so
   two nodes creating the same parents at once cannot collide. */

#include "store/store-pg-private.h"

#include "lib/arena.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define PG_SUBTREE "(name = $4 OR (name >= $4 || '/' AND name < $4 || '0'))"

/* ---- helpers inside write transactions --------------------------------- */

int pg_mailbox_load(struct pg_conn *c, int64_t mailbox_id, struct pg_mailbox *mb,
		    struct store_error *err)
{
	struct pg_params p = { 0 };
	PGresult *r;
	int ret = -1;

	pg_p_int(&p, mailbox_id);
	r = pg_exec(c,
		    "SELECT m.account_id, m.uidvalidity, m.uidnext, m.highest_modseq, "
		    "m.is_noselect FROM mailboxes m JOIN accounts a ON a.id = m.account_id "
		    "WHERE m.id = $1 AND a.deleted_at IS NULL FOR UPDATE OF m",
		    &p, err);
	if (r != NULL && PQntuples(r) == 1) {
		*mb = (struct pg_mailbox){
			.id = mailbox_id,
			.account_id = pg_int(r, 0, 0),
			.uidvalidity = (uint32_t)pg_int(r, 0, 1),
			.uidnext = (uint32_t)pg_int(r, 0, 2),
			.highest_modseq = (uint64_t)pg_int(r, 0, 3),
			.is_noselect = pg_bool(r, 0, 4),
		};
		ret = 0;
	} else if (r != NULL) {
		(void)pg_not_found(err, "mailbox", mailbox_id);
	}
	PQclear(r);
	return ret;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int pg_mailbox_lock_ids(struct pg_conn *c, const int64_t *ids, size_t count,
			struct store_error *err)
{
	struct pg_params p = { 0 };
	int64_t *sorted = xmalloc(sizeof(*sorted) * (count > 0 ? count : 1));
	struct buf arr;
	int ret;

	/* a batch of 100,000 messages names a few mailboxes */
	memcpy(sorted, ids, sizeof(*sorted) * count);
	qsort(sorted, count, sizeof(*sorted), cmp_i64);
	buf_init(&arr, 0);
	for (size_t i = 0; i < count; i++) {
		if (i == 0 || sorted[i] != sorted[i - 1])
			pg_arr_int(&arr, sorted[i]);
	}
	free(sorted);
	pg_arr_close(&arr);
	pg_p_array(&p, &arr, PG_INT8ARRAYOID);
	/* locks are taken in ORDER BY order */
	ret = pg_run(c,
		     "SELECT id FROM accounts WHERE id IN (SELECT account_id FROM mailboxes "
		     "WHERE id = ANY($1::int8[])) ORDER BY id FOR NO KEY UPDATE",
		     &p, NULL, err);
	if (ret == 0)
		ret = pg_run(c,
			     "SELECT id FROM mailboxes WHERE id = ANY($1::int8[]) ORDER BY id "
			     "FOR UPDATE",
			     &p, NULL, err);
	buf_free(&arr);
	return ret;
}

int pg_mailbox_save(struct pg_conn *c, struct pg_mailbox *mb, struct store_error *err)
{
	if (pg_run_ints(c,
			"UPDATE mailboxes SET uidnext = $1, highest_modseq = $2, "
			"message_count = message_count + $3, unseen_count = unseen_count + $4, "
			"deleted_count = deleted_count + $5, total_bytes = total_bytes + $6 "
			"WHERE id = $7",
			err, (int64_t)mb->uidnext, (int64_t)mb->highest_modseq, mb->d_messages,
			mb->d_unseen, mb->d_deleted, mb->d_bytes, mb->id) < 0)
		return -1;
	if ((mb->d_messages != 0 || mb->d_bytes != 0) &&
	    pg_run_ints(c,
			"UPDATE accounts SET message_count = message_count + $1, "
			"total_bytes = total_bytes + $2 WHERE id = $3",
			err, mb->d_messages, mb->d_bytes, mb->account_id) < 0)
		return -1;
	mb->d_messages = mb->d_unseen = mb->d_deleted = mb->d_bytes = 0;
	return 0;
}

/* UIDVALIDITY: the current time, but always above the last one handed out
   across the database (one counter row, updated atomically). */
static int pg_next_uidvalidity(struct pg_conn *c, uint32_t *uidvalidity_r,
			       struct store_error *err)
{
	int64_t v = 0;

	if (pg_query_ints(c,
			  "UPDATE store_counters SET value = GREATEST($1, value + 1) "
			  "WHERE name = 'uidvalidity' RETURNING value",
			  &v, err, pg_now()) != 1) {
		if (err->code == STORE_OK)
			store_error_set(err, STORE_INTERNAL, "uidvalidity counter missing");
		return -1;
	}
	if (v > UINT32_MAX) {
		store_error_set(err, STORE_INTERNAL, "UIDVALIDITY space exhausted");
		return -1;
	}
	*uidvalidity_r = (uint32_t)v;
	return 0;
}

/* 1 = found, 0 = not, -1 = error. name is the first len bytes. */
static int pg_mailbox_find(struct pg_conn *c, int64_t account_id, const char *name, size_t len,
			   int64_t *id_r, bool *is_noselect_r, struct store_error *err)
{
	struct pg_params p = { 0 };
	PGresult *r;
	int rc;

	pg_p_int(&p, account_id);
	pg_p_textn(&p, name, len);
	r = pg_exec(c, "SELECT id, is_noselect FROM mailboxes WHERE account_id = $1 AND name = $2",
		    &p, err);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 1;
	if (rc == 1) {
		*id_r = pg_int(r, 0, 0);
		*is_noselect_r = pg_bool(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

static int pg_special_use_free(struct pg_conn *c, int64_t account_id, int64_t except_id,
			       unsigned int special_use, struct store_error *err)
{
	int64_t other;
	int rc;

	if (special_use == 0)
		return 0;
	rc = pg_query_ints(c,
			   "SELECT id FROM mailboxes WHERE account_id = $1 AND id <> $2 "
			   "AND (special_use & $3) <> 0 LIMIT 1",
			   &other, err, account_id, except_id, (int64_t)special_use);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		store_error_set(err, STORE_INVALID,
				"another mailbox already has that special-use attribute");
		return -1;
	}
	return 0;
}

static int pg_mailbox_insert(struct pg_conn *c, int64_t account_id, const char *name, size_t len,
			     unsigned int special_use, int64_t *id_r, struct store_error *err)
{
	struct pg_params p = { 0 };
	uint32_t uidvalidity;

	if (pg_next_uidvalidity(c, &uidvalidity, err) < 0)
		return -1;
	pg_p_int(&p, account_id);
	pg_p_textn(&p, name, len);
	pg_p_int(&p, uidvalidity);
	pg_p_int(&p, special_use);
	pg_p_int(&p, pg_now());
	if (pg_query_int(c,
			 "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use, "
			 "created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
			 &p, id_r, err) != 1)
		return -1;
	return 0;
}

static int pg_mailbox_create_parents(struct pg_conn *c, int64_t account_id, const char *name,
				     struct store_error *err)
{
	int64_t id;
	bool noselect;

	for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		size_t len = (size_t)(p - name);
		int rc = pg_mailbox_find(c, account_id, name, len, &id, &noselect, err);

		if (rc < 0)
			return -1;
		if (rc == 0 && pg_mailbox_insert(c, account_id, name, len, 0, &id, err) < 0)
			return -1;
	}
	return 0;
}

/* Serialises changes to an account's mailbox tree across nodes. */
static int pg_account_lock_tree(struct pg_conn *c, int64_t account_id, struct store_error *err)
{
	int64_t one;
	int rc = pg_query_ints(c, "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE", &one,
			       err, account_id);

	if (rc == 0)
		return pg_not_found(err, "account", account_id);
	return rc == 1 ? 0 : -1;
}

int pg_mailbox_create_in(struct pg_conn *c, int64_t account_id, const char *name,
			 unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err)
{
	uint32_t uidvalidity;
	bool noselect;
	int64_t id;
	int rc;

	if (pg_account_lock_tree(c, account_id, err) < 0 ||
	    pg_special_use_free(c, account_id, 0, special_use, err) < 0)
		return -1;
	rc = pg_mailbox_find(c, account_id, name, strlen(name), &id, &noselect, err);
	if (rc < 0)
		return -1;
	if (rc == 1 && !noselect) {
		store_error_set(err, STORE_EXISTS, "mailbox %s exists", name);
		return -1;
	}
	if (rc == 1) {
		if (pg_next_uidvalidity(c, &uidvalidity, err) < 0 ||
		    pg_run_ints(c,
				"UPDATE mailboxes SET is_noselect = FALSE, uidvalidity = $1, "
				"uidnext = 1, highest_modseq = 1, special_use = $2 WHERE id = $3",
				err, (int64_t)uidvalidity, (int64_t)special_use, id) < 0)
			return -1;
		*mailbox_id_r = id;
		return 0;
	}
	if (pg_mailbox_create_parents(c, account_id, name, err) < 0)
		return -1;
	return pg_mailbox_insert(c, account_id, name, strlen(name), special_use, mailbox_id_r,
				 err);
}

int pg_keywords_canonical(struct pg_conn *c, int64_t mailbox_id, const char *const *kw,
			  size_t count, char (*storage)[STORE_KEYWORD_MAX + 1],
			  const char **canon_r, struct store_error *err)
{
	for (size_t i = 0; i < count; i++) {
		struct pg_params p = { 0 };
		const char *src;
		PGresult *r;
		int64_t n = 0;
		size_t len;

		pg_p_int(&p, mailbox_id);
		pg_p_text(&p, kw[i]);
		/* first spelling wins; a concurrent first use resolves on the
		   unique index and the loser reads the winner's spelling */
		r = pg_exec(c,
			    "SELECT keyword FROM mailbox_keywords WHERE mailbox_id = $1 AND "
			    "lower(keyword) = lower($2)",
			    &p, err);
		if (r == NULL)
			return -1;
		if (PQntuples(r) == 0) {
			PQclear(r);
			if (pg_query_ints(c,
					  "SELECT COUNT(*) FROM mailbox_keywords WHERE mailbox_id = $1",
					  &n, err, mailbox_id) < 0)
				return -1;
			if (n >= STORE_KEYWORDS_PER_MAILBOX_MAX) {
				store_error_set(err, STORE_INVALID,
						"too many keywords in this mailbox");
				return -1;
			}
			r = pg_exec(c,
				    "WITH ins AS (INSERT INTO mailbox_keywords (mailbox_id, keyword) "
				    "VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING keyword) "
				    "SELECT keyword FROM ins UNION ALL SELECT keyword FROM "
				    "mailbox_keywords WHERE mailbox_id = $1 AND lower(keyword) = "
				    "lower($2) LIMIT 1",
				    &p, err);
			if (r == NULL)
				return -1;
		}
		src = PQntuples(r) > 0 ? pg_text(r, 0, 0) : kw[i];
		len = strnlen(src, STORE_KEYWORD_MAX);
		memcpy(storage[i], src, len);
		storage[i][len] = '\0';
		canon_r[i] = storage[i];
		PQclear(r);
	}
	return 0;
}

/* ---- create, get, list ------------------------------------------------- */

int pg_mailbox_create(struct store *st, int64_t account_id, const char *name,
		      unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_account_check_live(c, account_id, err) < 0 ||
	    pg_mailbox_create_in(c, account_id, name, special_use, mailbox_id_r, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

#define PG_MAILBOX_COLUMNS                                                                    \
	"SELECT m.id, m.account_id, m.name, m.uidvalidity, m.uidnext, m.highest_modseq, "    \
	"m.special_use, m.is_noselect, EXISTS (SELECT 1 FROM subscriptions s "               \
	"WHERE s.account_id = m.account_id AND s.name = m.name) FROM mailboxes m "

static void pg_mailbox_row(const PGresult *r, int row, struct arena *arena,
			   struct store_mailbox *mb)
{
	*mb = (struct store_mailbox){
		.id = pg_int(r, row, 0),
		.account_id = pg_int(r, row, 1),
		.name = pg_dup(arena, r, row, 2),
		.uidvalidity = (uint32_t)pg_int(r, row, 3),
		.uidnext = (uint32_t)pg_int(r, row, 4),
		.highest_modseq = (uint64_t)pg_int(r, row, 5),
		.special_use = (unsigned int)pg_int(r, row, 6),
		.is_noselect = pg_bool(r, row, 7),
		.is_subscribed = pg_bool(r, row, 8),
	};
}

int pg_mailbox_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		   struct store_mailbox *mailbox_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	PGresult *r;
	int ret = -1;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, account_id);
	pg_p_text(&p, name);
	r = pg_exec(c, PG_MAILBOX_COLUMNS "WHERE m.account_id = $1 AND m.name = $2", &p, err);
	pg_read_end(pg, c);
	if (r != NULL && PQntuples(r) == 1) {
		pg_mailbox_row(r, 0, arena, mailbox_r);
		ret = 0;
	} else if (r != NULL) {
		store_error_set(err, STORE_NOT_FOUND, "mailbox %s not found", name);
	}
	PQclear(r);
	return ret;
}

int pg_mailbox_get_by_id(struct store *st, int64_t mailbox_id, struct arena *arena,
			 struct store_mailbox *mailbox_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	PGresult *r;
	int ret = -1;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, mailbox_id);
	r = pg_exec(c, PG_MAILBOX_COLUMNS "WHERE m.id = $1", &p, err);
	pg_read_end(pg, c);
	if (r != NULL && PQntuples(r) == 1) {
		pg_mailbox_row(r, 0, arena, mailbox_r);
		ret = 0;
	} else if (r != NULL) {
		(void)pg_not_found(err, "mailbox", mailbox_id);
	}
	PQclear(r);
	return ret;
}

int pg_mailbox_list(struct store *st, int64_t account_id, struct arena *arena,
		    struct store_mailbox **mailboxes_r, size_t *count_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct store_mailbox *list;
	struct pg_conn *c;
	PGresult *r;
	int n;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, account_id);
	/* tree order: INBOX and its children first; '/' sorted lowest (chr(1))
	   so that each parent comes right before its children */
	r = pg_exec(c,
		    PG_MAILBOX_COLUMNS "WHERE m.account_id = $1 ORDER BY "
				       "CASE WHEN m.name = 'INBOX' OR left(m.name, 6) = 'INBOX/' "
				       "THEN 0 ELSE 1 END, replace(m.name, '/', chr(1)) COLLATE \"C\"",
		    &p, err);
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	list = n > 0 ? arena_alloc(arena, sizeof(*list) * (size_t)n) : NULL;
	for (int i = 0; i < n; i++)
		pg_mailbox_row(r, i, arena, &list[i]);
	PQclear(r);
	*mailboxes_r = list;
	*count_r = (size_t)n;
	return 0;
}

/* ---- delete and rename ------------------------------------------------- */

static int pg_mailbox_detach_messages(struct pg_conn *c, int64_t mailbox_id,
				      struct store_error *err)
{
	struct pg_params p = { 0 };
	int64_t account_id, count, bytes, modseq;
	PGresult *r;

	pg_p_int(&p, mailbox_id);
	r = pg_exec(c,
		    "SELECT account_id, message_count, total_bytes, highest_modseq "
		    "FROM mailboxes WHERE id = $1 FOR UPDATE",
		    &p, err);
	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		store_error_set(err, STORE_INTERNAL, "mailbox %lld vanished",
				(long long)mailbox_id);
		return -1;
	}
	account_id = pg_int(r, 0, 0);
	count = pg_int(r, 0, 1);
	bytes = pg_int(r, 0, 2);
	modseq = pg_int(r, 0, 3) + 1;
	PQclear(r);
	if (pg_run_ints(c,
			"UPDATE messages SET expunged_modseq = COALESCE(expunged_modseq, $1), "
			"expunged_at = COALESCE(expunged_at, $2), mailbox_id = NULL "
			"WHERE mailbox_id = $3",
			err, modseq, pg_now(), mailbox_id) < 0 ||
	    pg_run_ints(c,
			"UPDATE accounts SET message_count = message_count - $1, "
			"total_bytes = total_bytes - $2 WHERE id = $3",
			err, count, bytes, account_id) < 0 ||
	    pg_run_ints(c,
			"UPDATE mailboxes SET message_count = 0, unseen_count = 0, "
			"deleted_count = 0, total_bytes = 0, highest_modseq = $1 WHERE id = $2",
			err, modseq, mailbox_id) < 0)
		return -1;
	return 0;
}

static int pg_mailbox_has_children(struct pg_conn *c, int64_t account_id, const char *name,
				   bool *has_r, struct store_error *err)
{
	struct pg_params p = { 0 };
	int64_t one;
	int rc;

	pg_p_int(&p, account_id);
	pg_p_text(&p, name);
	rc = pg_query_int(c,
			  "SELECT 1 FROM mailboxes WHERE account_id = $1 "
			  "AND name >= $2 || '/' AND name < $2 || '0' LIMIT 1",
			  &p, &one, err);
	if (rc < 0)
		return -1;
	*has_r = rc == 1;
	return 0;
}

static int pg_mailbox_delete_in(struct pg_conn *c, int64_t account_id, const char *name,
				struct store_error *err)
{
	bool noselect, has_children;
	int64_t id;
	int rc;

	if (pg_account_lock_tree(c, account_id, err) < 0)
		return -1;
	rc = pg_mailbox_find(c, account_id, name, strlen(name), &id, &noselect, err);
	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "mailbox %s not found", name);
	if (rc != 1 || pg_mailbox_has_children(c, account_id, name, &has_children, err) < 0)
		return -1;
	if (has_children && noselect) {
		store_error_set(err, STORE_INVALID, "mailbox %s has children", name);
		return -1;
	}
	if (pg_mailbox_detach_messages(c, id, err) < 0)
		return -1;
	if (has_children) {
		return pg_run_ints(c,
				   "UPDATE mailboxes SET is_noselect = TRUE, special_use = 0 "
				   "WHERE id = $1",
				   err, id);
	}
	return pg_run_ints(c, "DELETE FROM mailboxes WHERE id = $1", err, id);
}

int pg_mailbox_delete(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_delete_in(c, account_id, name, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

static int pg_mailbox_rename_inbox(struct pg_conn *c, int64_t account_id, const char *new_name,
				   struct store_error *err)
{
	const struct store_uid_range all = { 1, UINT32_MAX };
	struct pg_mailbox src, dst;
	struct store_copy_result res;
	struct arena *arena;
	int64_t inbox_id, dst_id;
	bool noselect;
	int rc;

	rc = pg_mailbox_find(c, account_id, "INBOX", 5, &inbox_id, &noselect, err);
	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "mailbox INBOX not found");
	if (rc != 1 || pg_mailbox_create_in(c, account_id, new_name, 0, &dst_id, err) < 0 ||
	    pg_mailbox_load(c, inbox_id, &src, err) < 0 ||
	    pg_mailbox_load(c, dst_id, &dst, err) < 0)
		return -1;
	arena = arena_new(4096);
	rc = pg_copy_in(c, &src, &all, 1, &dst, true, arena, &res, err);
	if (rc == 0 && res.count > 0 &&
	    (pg_notify_change(c, inbox_id, res.src_modseq, err) < 0 ||
	     pg_notify_change(c, dst_id, dst.highest_modseq, err) < 0))
		rc = -1;
	arena_free(&arena);
	return rc;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* $1 account, $2 new name, $3 characters of the old name + 1, $4 old name. */
static const char *const pg_rename_sql[] = {
	"UPDATE mailboxes SET name = $2 || substr(name, $3::int) WHERE account_id = $1 AND "
		PG_SUBTREE,
	/* a subscription whose new name is subscribed already is dropped */
	"UPDATE subscriptions s SET name = $2 || substr(s.name, $3::int) "
	"WHERE s.account_id = $1 AND (s.name = $4 OR (s.name >= $4 || '/' AND s.name < $4 || '0')) "
	"AND NOT EXISTS (SELECT 1 FROM subscriptions t WHERE t.account_id = $1 "
	"AND t.name = $2 || substr(s.name, $3::int))",
	"DELETE FROM subscriptions WHERE account_id = $1 AND " PG_SUBTREE,
};

static int pg_mailbox_rename_in(struct pg_conn *c, int64_t account_id, const char *old_name,
				const char *new_name, struct store_error *err)
{
	struct pg_params p = { 0 };
	bool noselect;
	int64_t id, one;
	int rc;

	if (pg_account_lock_tree(c, account_id, err) < 0)
		return -1;
	if (store_mailbox_name_is_inbox(old_name))
		return pg_mailbox_rename_inbox(c, account_id, new_name, err);
	rc = pg_mailbox_find(c, account_id, old_name, strlen(old_name), &id, &noselect, err);
	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "mailbox %s not found", old_name);
	if (rc != 1)
		return -1;
	pg_p_int(&p, account_id);
	pg_p_text(&p, new_name);
	pg_p_int(&p, 0);
	pg_p_text(&p, new_name);
	rc = pg_query_int(c,
			  "SELECT 1 FROM mailboxes WHERE account_id = $1 AND $2 = $2 AND $3 = $3 "
			  "AND " PG_SUBTREE " LIMIT 1",
			  &p, &one, err);
	if (rc == 1)
		store_error_set(err, STORE_EXISTS, "mailbox %s exists", new_name);
	if (rc != 0 || pg_mailbox_create_parents(c, account_id, new_name, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(pg_rename_sql); i++) {
		struct pg_params q = { 0 };

		pg_p_int(&q, account_id);
		pg_p_text(&q, new_name);
		pg_p_int(&q, (int64_t)utf8_chars(old_name) + 1);
		pg_p_text(&q, old_name);
		if (pg_run(c, pg_rename_sql[i], &q, NULL, err) < 0)
			return -1;
	}
	return 0;
}

int pg_mailbox_rename(struct store *st, int64_t account_id, const char *old_name,
		      const char *new_name, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_rename_in(c, account_id, old_name, new_name, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

int pg_mailbox_set_special_use(struct store *st, int64_t mailbox_id, unsigned int special_use,
			       struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_mailbox mb;
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_mailbox_lock_ids(c, &mailbox_id, 1, err) < 0 ||
	    pg_mailbox_load(c, mailbox_id, &mb, err) < 0 ||
	    pg_special_use_free(c, mb.account_id, mailbox_id, special_use, err) < 0 ||
	    pg_run_ints(c, "UPDATE mailboxes SET special_use = $1 WHERE id = $2", err,
			(int64_t)special_use, mailbox_id) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

/* ---- status, UIDs, keywords -------------------------------------------- */

static int pg_status_in(struct pg_conn *c, int64_t mailbox_id,
			struct store_mailbox_status *status_r, struct store_error *err)
{
	struct pg_params p = { 0 };
	PGresult *r;
	int ret = -1;

	pg_p_int(&p, mailbox_id);
	r = pg_exec(c,
		    "SELECT uidvalidity, uidnext, highest_modseq, message_count, unseen_count, "
		    "deleted_count, total_bytes, (SELECT MIN(uid) FROM messages "
		    "WHERE mailbox_id = mb.id AND (flags & 1) = 0 AND expunged_modseq IS NULL) "
		    "FROM mailboxes mb WHERE id = $1",
		    &p, err);
	if (r != NULL && PQntuples(r) == 1) {
		*status_r = (struct store_mailbox_status){
			.uidvalidity = (uint32_t)pg_int(r, 0, 0),
			.uidnext = (uint32_t)pg_int(r, 0, 1),
			.highest_modseq = (uint64_t)pg_int(r, 0, 2),
			.messages = (uint32_t)pg_int(r, 0, 3),
			.unseen = (uint32_t)pg_int(r, 0, 4),
			.deleted = (uint32_t)pg_int(r, 0, 5),
			.size = (uint64_t)pg_int(r, 0, 6),
			.first_unseen_uid = (uint32_t)pg_int(r, 0, 7),
		};
		ret = 0;
	} else if (r != NULL) {
		(void)pg_not_found(err, "mailbox", mailbox_id);
	}
	PQclear(r);
	return ret;
}

int pg_mailbox_status(struct store *st, int64_t mailbox_id,
		      struct store_mailbox_status *status_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;
	int ret;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	ret = pg_status_in(c, mailbox_id, status_r, err);
	pg_read_end(pg, c);
	return ret;
}

int pg_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r, size_t *count_r,
		    struct store_mailbox_status *status_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	uint32_t *uids = NULL;
	struct pg_conn *c;
	PGresult *r = NULL;
	int n;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	if (pg_status_in(c, mailbox_id, status_r, err) == 0) {
		pg_p_int(&p, mailbox_id);
		r = pg_exec(c,
			    "SELECT uid FROM messages WHERE mailbox_id = $1 AND "
			    "expunged_modseq IS NULL ORDER BY uid",
			    &p, err);
	}
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	if (n > 0)
		uids = xmalloc(sizeof(*uids) * (size_t)n);
	for (int i = 0; i < n; i++)
		uids[i] = (uint32_t)pg_int(r, i, 0);
	PQclear(r);
	*uids_r = uids;
	*count_r = (size_t)n;
	return 0;
}

/* Reads the first text column of every row into an arena array. */
static void pg_collect_strings(const PGresult *r, struct arena *arena, const char ***list_r,
			       size_t *count_r)
{
	int n = PQntuples(r);
	const char **list = n > 0 ? arena_alloc(arena, sizeof(*list) * (size_t)n) : NULL;

	for (int i = 0; i < n; i++)
		list[i] = pg_dup(arena, r, i, 0);
	*list_r = list;
	*count_r = (size_t)n;
}

int pg_mailbox_keywords(struct store *st, int64_t mailbox_id, struct arena *arena,
			const char ***keywords_r, size_t *count_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	PGresult *r = NULL;
	int64_t one;
	int rc;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	rc = pg_query_ints(c, "SELECT 1 FROM mailboxes WHERE id = $1", &one, err, mailbox_id);
	if (rc == 0)
		(void)pg_not_found(err, "mailbox", mailbox_id);
	if (rc == 1) {
		pg_p_int(&p, mailbox_id);
		r = pg_exec(c,
			    "SELECT keyword FROM mailbox_keywords WHERE mailbox_id = $1 "
			    "ORDER BY lower(keyword)",
			    &p, err);
	}
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	pg_collect_strings(r, arena, keywords_r, count_r);
	PQclear(r);
	return 0;
}

/* ---- subscriptions ----------------------------------------------------- */

int pg_subscription_set(struct store *st, int64_t account_id, const char *name, bool subscribed,
			struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	int64_t one;
	int rc;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	rc = pg_query_ints(c, "SELECT 1 FROM accounts WHERE id = $1", &one, err, account_id);
	if (rc == 0)
		(void)pg_not_found(err, "account", account_id);
	if (rc != 1)
		goto fail;
	pg_p_int(&p, account_id);
	pg_p_text(&p, name);
	if (pg_run(c,
		   subscribed ? "INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) "
				"ON CONFLICT DO NOTHING"
			      : "DELETE FROM subscriptions WHERE account_id = $1 AND name = $2",
		   &p, NULL, err) < 0)
		goto fail;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

int pg_subscription_list(struct store *st, int64_t account_id, struct arena *arena,
			 const char ***names_r, size_t *count_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	PGresult *r;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, account_id);
	r = pg_exec(c, "SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name", &p,
		    err);
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	pg_collect_strings(r, arena, names_r, count_r);
	PQclear(r);
	return 0;
}
