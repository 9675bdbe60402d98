/* SQLite driver: mailboxes, subscriptions, keywords, status.

   Names are stored normalised (store.c); the hierarchy is implicit in
   them. The children of "a/b" are the names in ["a/b/", "a/b0"): '0'
   follows '/' in ASCII, and BINARY collation compares bytes, so one index
   range on (account_id, name) finds a whole subtree. */

#include "store/store-sqlite-private.h"

#include "lib/arena.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define SQ_SUBTREE "(name = ?4 OR (name >= ?4 || '/' AND name < ?4 || '0'))"

/* ---- helpers inside write transactions -------------------------------- */

int sq_mailbox_load(struct sq_conn *c, int64_t mailbox_id, struct sq_mailbox *mb,
		    struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c,
				     "SELECT m.account_id, m.uidvalidity, m.uidnext, "
				     "m.highest_modseq, m.is_noselect FROM mailboxes m "
				     "JOIN accounts a ON a.id = m.account_id "
				     "WHERE m.id = ? AND a.deleted_at IS NULL",
				     err);
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, mailbox_id);
	rc = sq_step(c, s, err);
	if (rc == 1) {
		*mb = (struct sq_mailbox){
			.id = mailbox_id,
			.account_id = sqlite3_column_int64(s, 0),
			.uidvalidity = (uint32_t)sqlite3_column_int64(s, 1),
			.uidnext = (uint32_t)sqlite3_column_int64(s, 2),
			.highest_modseq = (uint64_t)sqlite3_column_int64(s, 3),
			.is_noselect = sqlite3_column_int64(s, 4) != 0,
		};
	} else if (rc == 0) {
		(void)sq_not_found(err, "mailbox", mailbox_id);
	}
	(void)sqlite3_reset(s);
	return rc == 1 ? 0 : -1;
}

int sq_mailbox_save(struct sq_conn *c, struct sq_mailbox *mb, struct store_error *err)
{
	if (sq_exec_ints(c,
			 "UPDATE mailboxes SET uidnext = ?, highest_modseq = ?, "
			 "message_count = message_count + ?, unseen_count = unseen_count + ?, "
			 "deleted_count = deleted_count + ?, total_bytes = total_bytes + ? "
			 "WHERE id = ?",
			 err, (int64_t)mb->uidnext, (int64_t)mb->highest_modseq, mb->d_messages,
			 mb->d_unseen, mb->d_deleted, mb->d_bytes, mb->id) < 0)
		return -1;
	if ((mb->d_messages != 0 || mb->d_bytes != 0) &&
	    sq_exec_ints(c,
			 "UPDATE accounts SET message_count = message_count + ?, "
			 "total_bytes = total_bytes + ? WHERE id = ?",
			 err, mb->d_messages, mb->d_bytes, mb->account_id) < 0)
		return -1;
	mb->d_messages = mb->d_unseen = mb->d_deleted = mb->d_bytes = 0;
	return 0;
}

/* UIDVALIDITY: the current time, but always above the last one handed
   out, so a mailbox re-created within a second (or after the clock went
   back) still gets a new value. */
static int sq_next_uidvalidity(struct sq_conn *c, uint32_t *uidvalidity_r,
			       struct store_error *err)
{
	int64_t last = 0, v;

	if (sq_query_intv(c, "SELECT value FROM store_counters WHERE name = 'uidvalidity'", &last,
			 NULL, 0, err) < 0)
		return -1;
	v = MAX(sq_now(), last + 1);
	if (v > UINT32_MAX) {
		store_error_set(err, STORE_INTERNAL, "UIDVALIDITY space exhausted");
		return -1;
	}
	if (sq_exec_ints(c, "UPDATE store_counters SET value = ? WHERE name = 'uidvalidity'",
			 err, v) < 0)
		return -1;
	*uidvalidity_r = (uint32_t)v;
	return 0;
}

/* 1 = found (*id_r, *is_noselect_r), 0 = not found, -1 = error. name is
   the first len bytes. */
static int sq_mailbox_find(struct sq_conn *c, int64_t account_id, const char *name, size_t len,
			   int64_t *id_r, bool *is_noselect_r, struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(
		c, "SELECT id, is_noselect FROM mailboxes WHERE account_id = ? AND name = ?", err);
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_textn(s, 2, name, len);
	rc = sq_step(c, s, err);
	if (rc == 1) {
		*id_r = sqlite3_column_int64(s, 0);
		*is_noselect_r = sqlite3_column_int64(s, 1) != 0;
	}
	(void)sqlite3_reset(s);
	return rc;
}

static int sq_special_use_free(struct sq_conn *c, int64_t account_id, int64_t except_id,
			       unsigned int special_use, struct store_error *err)
{
	int64_t other;
	int rc;

	if (special_use == 0)
		return 0;
	rc = sq_query_int(c,
			  "SELECT id FROM mailboxes WHERE account_id = ? AND id != ? "
			  "AND (special_use & ?) != 0 LIMIT 1",
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

static int sq_mailbox_insert(struct sq_conn *c, int64_t account_id, const char *name, size_t len,
			     unsigned int special_use, int64_t *id_r, struct store_error *err)
{
	sqlite3_stmt *s;
	uint32_t uidvalidity;

	if (sq_next_uidvalidity(c, &uidvalidity, err) < 0)
		return -1;
	s = sq_prepare(c,
		       "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use, "
		       "created_at) VALUES (?, ?, ?, ?, ?)",
		       err);
	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_textn(s, 2, name, len);
	sq_bind_int(s, 3, uidvalidity);
	sq_bind_int(s, 4, special_use);
	sq_bind_int(s, 5, sq_now());
	if (sq_exec(c, s, err) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(c->db);
	return 0;
}

/* Creates the missing ancestors of name. */
static int sq_mailbox_create_parents(struct sq_conn *c, int64_t account_id, const char *name,
				     struct store_error *err)
{
	int64_t id;
	bool noselect;

	for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		size_t len = (size_t)(p - name);
		int rc = sq_mailbox_find(c, account_id, name, len, &id, &noselect, err);

		if (rc < 0)
			return -1;
		if (rc == 0 && sq_mailbox_insert(c, account_id, name, len, 0, &id, err) < 0)
			return -1;
	}
	return 0;
}

int sq_mailbox_create_in(struct sq_conn *c, int64_t account_id, const char *name,
			 unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err)
{
	uint32_t uidvalidity;
	bool noselect;
	int64_t id;
	int rc;

	if (sq_special_use_free(c, account_id, 0, special_use, err) < 0)
		return -1;
	rc = sq_mailbox_find(c, account_id, name, strlen(name), &id, &noselect, err);
	if (rc < 0)
		return -1;
	if (rc == 1 && !noselect) {
		store_error_set(err, STORE_EXISTS, "mailbox %s exists", name);
		return -1;
	}
	if (rc == 1) {
		/* a \Noselect name becomes a mailbox again, afresh: its old
		   messages were detached when it was deleted */
		if (sq_next_uidvalidity(c, &uidvalidity, err) < 0 ||
		    sq_exec_ints(c,
				 "UPDATE mailboxes SET is_noselect = 0, uidvalidity = ?, "
				 "uidnext = 1, highest_modseq = 1, special_use = ? WHERE id = ?",
				 err, (int64_t)uidvalidity, (int64_t)special_use, id) < 0)
			return -1;
		*mailbox_id_r = id;
		return 0;
	}
	if (sq_mailbox_create_parents(c, account_id, name, err) < 0)
		return -1;
	if (sq_mailbox_insert(c, account_id, name, strlen(name), special_use, mailbox_id_r,
			      err) < 0)
		return -1;
	return 0;
}

int sq_keywords_canonical(struct sq_conn *c, int64_t mailbox_id, const char *const *kw,
			  size_t count, char (*storage)[STORE_KEYWORD_MAX + 1],
			  const char **canon_r, struct store_error *err)
{
	for (size_t i = 0; i < count; i++) {
		sqlite3_stmt *s = sq_prepare(c,
					     "SELECT keyword FROM mailbox_keywords "
					     "WHERE mailbox_id = ? AND keyword = ?",
					     err);
		const char *src;
		int64_t n = 0;
		size_t len;
		int rc;

		if (s == NULL)
			return -1;
		sq_bind_int(s, 1, mailbox_id);
		sq_bind_text(s, 2, kw[i]);
		rc = sq_step(c, s, err);
		if (rc < 0)
			return -1;
		/* first spelling wins; the lookup is NOCASE */
		src = rc == 1 ? sq_col_text(s, 0) : kw[i];
		len = strnlen(src, STORE_KEYWORD_MAX);
		memcpy(storage[i], src, len);
		storage[i][len] = '\0';
		(void)sqlite3_reset(s);
		canon_r[i] = storage[i];
		if (rc == 1)
			continue;
		if (sq_query_int(c, "SELECT COUNT(*) FROM mailbox_keywords WHERE mailbox_id = ?",
				 &n, err, mailbox_id) < 0)
			return -1;
		if (n >= STORE_KEYWORDS_PER_MAILBOX_MAX) {
			store_error_set(err, STORE_INVALID, "too many keywords in this mailbox");
			return -1;
		}
		s = sq_prepare(c,
			       "INSERT INTO mailbox_keywords (mailbox_id, keyword) VALUES (?, ?)",
			       err);
		if (s == NULL)
			return -1;
		sq_bind_int(s, 1, mailbox_id);
		sq_bind_text(s, 2, storage[i]);
		if (sq_exec(c, s, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- create, get, list ------------------------------------------------ */

int sq_mailbox_create(struct store *st, int64_t account_id, const char *name,
		      unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	int64_t deleted = 0;
	int rc;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	rc = sq_query_int(c, "SELECT deleted_at IS NOT NULL FROM accounts WHERE id = ?", &deleted,
			  err, account_id);
	if (rc == 0 || (rc == 1 && deleted != 0))
		(void)sq_not_found(err, "account", account_id);
	if (rc != 1 || deleted != 0 ||
	    sq_mailbox_create_in(c, account_id, name, special_use, mailbox_id_r, err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

#define SQ_MAILBOX_COLUMNS                                                                    \
	"SELECT m.id, m.account_id, m.name, m.uidvalidity, m.uidnext, m.highest_modseq, "    \
	"m.special_use, m.is_noselect, EXISTS (SELECT 1 FROM subscriptions s "               \
	"WHERE s.account_id = m.account_id AND s.name = m.name) FROM mailboxes m "

static void sq_mailbox_row(sqlite3_stmt *s, struct arena *arena, struct store_mailbox *mb)
{
	*mb = (struct store_mailbox){
		.id = sqlite3_column_int64(s, 0),
		.account_id = sqlite3_column_int64(s, 1),
		.name = sq_col_dup(arena, s, 2),
		.uidvalidity = (uint32_t)sqlite3_column_int64(s, 3),
		.uidnext = (uint32_t)sqlite3_column_int64(s, 4),
		.highest_modseq = (uint64_t)sqlite3_column_int64(s, 5),
		.special_use = (unsigned int)sqlite3_column_int64(s, 6),
		.is_noselect = sqlite3_column_int64(s, 7) != 0,
		.is_subscribed = sqlite3_column_int64(s, 8) != 0,
	};
}

static int sq_mailbox_get_one(struct store *st, const char *sql, int64_t id, const char *name,
			      struct arena *arena, struct store_mailbox *mailbox_r,
			      struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c, sql, err);
	if (s != NULL) {
		sq_bind_int(s, 1, id);
		if (name != NULL)
			sq_bind_text(s, 2, name);
		rc = sq_step(c, s, err);
		if (rc == 1)
			sq_mailbox_row(s, arena, mailbox_r);
		else if (rc == 0 && name != NULL)
			store_error_set(err, STORE_NOT_FOUND, "mailbox %s not found", name);
		else if (rc == 0)
			(void)sq_not_found(err, "mailbox", id);
	}
	sq_read_end(sq, c);
	return rc == 1 ? 0 : -1;
}

int sq_mailbox_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		   struct store_mailbox *mailbox_r, struct store_error *err)
{
	return sq_mailbox_get_one(st, SQ_MAILBOX_COLUMNS "WHERE m.account_id = ? AND m.name = ?",
				  account_id, name, arena, mailbox_r, err);
}

int sq_mailbox_get_by_id(struct store *st, int64_t mailbox_id, struct arena *arena,
			 struct store_mailbox *mailbox_r, struct store_error *err)
{
	return sq_mailbox_get_one(st, SQ_MAILBOX_COLUMNS "WHERE m.id = ?", mailbox_id, NULL, arena,
				  mailbox_r, err);
}

int sq_mailbox_list(struct store *st, int64_t account_id, struct arena *arena,
		    struct store_mailbox **mailboxes_r, size_t *count_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct store_mailbox *list = NULL;
	size_t n = 0, cap = 0;
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	/* tree order: INBOX and its children first; '/' sorted as the lowest
	   character so that each parent comes right before its children */
	s = sq_prepare(c,
		       SQ_MAILBOX_COLUMNS "WHERE m.account_id = ? ORDER BY "
		       "CASE WHEN m.name = 'INBOX' OR substr(m.name, 1, 6) = 'INBOX/' THEN 0 ELSE "
		       "1 "
		       "END, replace(m.name, '/', char(1))",
		       err);
	if (s != NULL) {
		sq_bind_int(s, 1, account_id);
		while ((rc = sq_step(c, s, err)) == 1) {
			if (n == cap) {
				struct store_mailbox *nl;

				cap = cap == 0 ? 16 : cap * 2;
				nl = arena_alloc(arena, sizeof(*nl) * cap);
				if (n > 0)
					memcpy(nl, list, sizeof(*nl) * n);
				list = nl;
			}
			sq_mailbox_row(s, arena, &list[n++]);
		}
	}
	sq_read_end(sq, c);
	if (rc < 0)
		return -1;
	*mailboxes_r = list;
	*count_r = n;
	return 0;
}

/* ---- delete and rename ------------------------------------------------ */

/* Expunges every message of the mailbox and detaches it (mailbox_id NULL;
   cleanup finds it by account), taking it off the account's usage. */
static int sq_mailbox_detach_messages(struct sq_conn *c, int64_t mailbox_id,
				      struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c,
				     "SELECT account_id, message_count, total_bytes, "
				     "highest_modseq "
				     "FROM mailboxes WHERE id = ?",
				     err);
	int64_t account_id, count, bytes, modseq;
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, mailbox_id);
	rc = sq_step(c, s, err);
	if (rc == 0)
		store_error_set(err, STORE_INTERNAL, "mailbox %lld vanished",
				(long long)mailbox_id);
	if (rc != 1)
		return -1;
	account_id = sqlite3_column_int64(s, 0);
	count = sqlite3_column_int64(s, 1);
	bytes = sqlite3_column_int64(s, 2);
	modseq = sqlite3_column_int64(s, 3) + 1;
	(void)sqlite3_reset(s);
	if (sq_exec_ints(c,
			 "UPDATE messages SET expunged_modseq = COALESCE(expunged_modseq, ?), "
			 "expunged_at = COALESCE(expunged_at, ?), mailbox_id = NULL "
			 "WHERE mailbox_id = ?",
			 err, modseq, sq_now(), mailbox_id) < 0 ||
	    sq_exec_ints(c,
			 "UPDATE accounts SET message_count = message_count - ?, "
			 "total_bytes = total_bytes - ? WHERE id = ?",
			 err, count, bytes, account_id) < 0 ||
	    sq_exec_ints(c,
			 "UPDATE mailboxes SET message_count = 0, unseen_count = 0, "
			 "deleted_count = 0, total_bytes = 0, highest_modseq = ? WHERE id = ?",
			 err, modseq, mailbox_id) < 0)
		return -1;
	return 0;
}

static int sq_mailbox_has_children(struct sq_conn *c, int64_t account_id, const char *name,
				   bool *has_r, struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c,
				     "SELECT 1 FROM mailboxes WHERE account_id = ?1 "
				     "AND name >= ?2 || '/' AND name < ?2 || '0' LIMIT 1",
				     err);
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 2, name);
	rc = sq_step(c, s, err);
	(void)sqlite3_reset(s);
	if (rc < 0)
		return -1;
	*has_r = rc == 1;
	return 0;
}

static int sq_mailbox_delete_in(struct sq_conn *c, int64_t account_id, const char *name,
				struct store_error *err)
{
	bool noselect, has_children;
	int64_t id;
	int rc = sq_mailbox_find(c, account_id, name, strlen(name), &id, &noselect, err);

	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "mailbox %s not found", name);
	if (rc != 1 || sq_mailbox_has_children(c, account_id, name, &has_children, err) < 0)
		return -1;
	if (has_children && noselect) {
		/* RFC 9051 6.3.4 */
		store_error_set(err, STORE_INVALID, "mailbox %s has children", name);
		return -1;
	}
	if (sq_mailbox_detach_messages(c, id, err) < 0)
		return -1;
	if (has_children) {
		/* RFC 9051: the name stays, \Noselect, for its children */
		return sq_exec_ints(c,
				    "UPDATE mailboxes SET is_noselect = 1, special_use = 0 "
				    "WHERE id = ?",
				    err, id);
	}
	return sq_exec_ints(c, "DELETE FROM mailboxes WHERE id = ?", err, id);
}

int sq_mailbox_delete(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_delete_in(c, account_id, name, err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

/* RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox and
   leaves INBOX (and its children) in place. */
static int sq_mailbox_rename_inbox(struct sq_conn *c, int64_t account_id, const char *new_name,
				   struct store_error *err)
{
	const struct store_uid_range all = { 1, UINT32_MAX };
	struct sq_mailbox src, dst;
	struct store_copy_result res;
	struct arena *arena;
	int64_t inbox_id, dst_id;
	bool noselect;
	int rc;

	rc = sq_mailbox_find(c, account_id, "INBOX", 5, &inbox_id, &noselect, err);
	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "mailbox INBOX not found");
	if (rc != 1 || sq_mailbox_create_in(c, account_id, new_name, 0, &dst_id, err) < 0 ||
	    sq_mailbox_load(c, inbox_id, &src, err) < 0 ||
	    sq_mailbox_load(c, dst_id, &dst, err) < 0)
		return -1;
	arena = arena_new(4096);
	rc = sq_copy_in(c, &src, &all, 1, &dst, true, arena, &res, err);
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

/* The subtree moves: the name and every child's prefix. ?1 account,
   ?2 new name, ?3 characters of the old name + 1, ?4 old name. */
static const char *const sq_rename_sql[] = {
	"UPDATE mailboxes SET name = ?2 || substr(name, ?3) WHERE account_id = ?1 AND " SQ_SUBTREE,
	"UPDATE OR IGNORE subscriptions SET name = ?2 || substr(name, ?3) "
	"WHERE account_id = ?1 AND " SQ_SUBTREE,
	/* what is left had its new name subscribed already */
	"DELETE FROM subscriptions WHERE account_id = ?1 AND " SQ_SUBTREE,
};

static int sq_mailbox_rename_in(struct sq_conn *c, int64_t account_id, const char *old_name,
				const char *new_name, struct store_error *err)
{
	sqlite3_stmt *s;
	bool noselect;
	int64_t id;
	int rc;

	if (store_mailbox_name_is_inbox(old_name))
		return sq_mailbox_rename_inbox(c, account_id, new_name, err);
	rc = sq_mailbox_find(c, account_id, old_name, strlen(old_name), &id, &noselect, err);
	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "mailbox %s not found", old_name);
	if (rc != 1)
		return -1;
	s = sq_prepare(c,
		       "SELECT 1 FROM mailboxes WHERE account_id = ?1 AND " SQ_SUBTREE " LIMIT 1",
		       err);
	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 4, new_name);
	rc = sq_step(c, s, err);
	(void)sqlite3_reset(s);
	if (rc == 1)
		store_error_set(err, STORE_EXISTS, "mailbox %s exists", new_name);
	if (rc != 0 || sq_mailbox_create_parents(c, account_id, new_name, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(sq_rename_sql); i++) {
		s = sq_prepare(c, sq_rename_sql[i], err);
		if (s == NULL)
			return -1;
		sq_bind_int(s, 1, account_id);
		sq_bind_text(s, 2, new_name);
		sq_bind_int(s, 3, (int64_t)utf8_chars(old_name) + 1);
		sq_bind_text(s, 4, old_name);
		if (sq_exec(c, s, err) < 0)
			return -1;
	}
	return 0;
}

int sq_mailbox_rename(struct store *st, int64_t account_id, const char *old_name,
		      const char *new_name, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_rename_in(c, account_id, old_name, new_name, err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

int sq_mailbox_set_special_use(struct store *st, int64_t mailbox_id, unsigned int special_use,
			       struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_mailbox mb;
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_load(c, mailbox_id, &mb, err) < 0 ||
	    sq_special_use_free(c, mb.account_id, mailbox_id, special_use, err) < 0 ||
	    sq_exec_ints(c, "UPDATE mailboxes SET special_use = ? WHERE id = ?", err,
			 (int64_t)special_use, mailbox_id) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

/* ---- status, UIDs, keywords ------------------------------------------- */

static int sq_status_in(struct sq_conn *c, int64_t mailbox_id,
			struct store_mailbox_status *status_r, struct store_error *err)
{
	static const char sql[] =
		"SELECT uidvalidity, uidnext, highest_modseq, message_count, unseen_count, "
		"deleted_count, total_bytes, (SELECT MIN(uid) FROM messages "
		"INDEXED BY messages_unseen WHERE mailbox_id = mb.id AND (flags & 1) = 0 "
		"AND expunged_modseq IS NULL) FROM mailboxes mb WHERE id = ?";
	sqlite3_stmt *s = sq_prepare(c, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, mailbox_id);
	rc = sq_step(c, s, err);
	if (rc == 1) {
		*status_r = (struct store_mailbox_status){
			.uidvalidity = (uint32_t)sqlite3_column_int64(s, 0),
			.uidnext = (uint32_t)sqlite3_column_int64(s, 1),
			.highest_modseq = (uint64_t)sqlite3_column_int64(s, 2),
			.messages = (uint32_t)sqlite3_column_int64(s, 3),
			.unseen = (uint32_t)sqlite3_column_int64(s, 4),
			.deleted = (uint32_t)sqlite3_column_int64(s, 5),
			.size = (uint64_t)sqlite3_column_int64(s, 6),
			.first_unseen_uid = (uint32_t)sqlite3_column_int64(s, 7),
		};
	} else if (rc == 0) {
		(void)sq_not_found(err, "mailbox", mailbox_id);
	}
	(void)sqlite3_reset(s);
	return rc == 1 ? 0 : -1;
}

int sq_mailbox_status(struct store *st, int64_t mailbox_id,
		      struct store_mailbox_status *status_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	int ret;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	ret = sq_status_in(c, mailbox_id, status_r, err);
	sq_read_end(sq, c);
	return ret;
}

int sq_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r, size_t *count_r,
		    struct store_mailbox_status *status_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	uint32_t *uids = NULL;
	size_t n = 0, cap;
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	if (sq_status_in(c, mailbox_id, status_r, err) < 0)
		goto out;
	cap = status_r->messages;
	if (cap > 0)
		uids = xmalloc(sizeof(*uids) * cap);
	s = sq_prepare(c,
		       "SELECT uid FROM messages WHERE mailbox_id = ? AND expunged_modseq IS NULL "
		       "ORDER BY uid",
		       err);
	if (s == NULL)
		goto out;
	sq_bind_int(s, 1, mailbox_id);
	while ((rc = sq_step(c, s, err)) == 1) {
		if (n == cap) {
			/* counters disagree with rows: trust the rows */
			cap = cap == 0 ? 64 : cap * 2;
			uids = xrealloc(uids, sizeof(*uids) * cap);
		}
		uids[n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
out:
	sq_read_end(sq, c);
	if (rc < 0) {
		free(uids);
		return -1;
	}
	*uids_r = uids;
	*count_r = n;
	return 0;
}

static int sq_mailbox_exists(struct sq_conn *c, int64_t mailbox_id, struct store_error *err)
{
	int64_t one;
	int rc = sq_query_int(c, "SELECT 1 FROM mailboxes WHERE id = ?", &one, err, mailbox_id);

	if (rc == 0)
		(void)sq_not_found(err, "mailbox", mailbox_id);
	return rc == 1 ? 0 : -1;
}

/* Reads the first text column of every row into an arena array. */
static int sq_collect_strings(struct sq_conn *c, sqlite3_stmt *s, struct arena *arena,
			      const char ***list_r, size_t *count_r, struct store_error *err)
{
	const char **list = NULL;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = sq_step(c, s, err)) == 1) {
		if (n == cap) {
			const char **nl;

			cap = cap == 0 ? 16 : cap * 2;
			nl = arena_alloc(arena, sizeof(*nl) * cap);
			if (n > 0)
				memcpy(nl, list, sizeof(*nl) * n);
			list = nl;
		}
		list[n++] = sq_col_dup(arena, s, 0);
	}
	if (rc < 0)
		return -1;
	*list_r = list;
	*count_r = n;
	return 0;
}

int sq_mailbox_keywords(struct store *st, int64_t mailbox_id, struct arena *arena,
			const char ***keywords_r, size_t *count_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int ret = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	if (sq_mailbox_exists(c, mailbox_id, err) == 0) {
		s = sq_prepare(c,
			       "SELECT keyword FROM mailbox_keywords WHERE mailbox_id = ? "
			       "ORDER BY keyword",
			       err);
		if (s != NULL) {
			sq_bind_int(s, 1, mailbox_id);
			ret = sq_collect_strings(c, s, arena, keywords_r, count_r, err);
		}
	}
	sq_read_end(sq, c);
	return ret;
}

/* ---- subscriptions ---------------------------------------------------- */

int sq_subscription_set(struct store *st, int64_t account_id, const char *name, bool subscribed,
			struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t one;
	int rc;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	rc = sq_query_int(c, "SELECT 1 FROM accounts WHERE id = ?", &one, err, account_id);
	if (rc == 0)
		(void)sq_not_found(err, "account", account_id);
	if (rc != 1)
		goto fail;
	s = sq_prepare(c,
		       subscribed ? "INSERT OR IGNORE INTO subscriptions (account_id, name) "
				    "VALUES (?, ?)"
				  : "DELETE FROM subscriptions WHERE account_id = ? AND name = ?",
		       err);
	if (s == NULL)
		goto fail;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 2, name);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_subscription_list(struct store *st, int64_t account_id, struct arena *arena,
			 const char ***names_r, size_t *count_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int ret = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c, "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name", err);
	if (s != NULL) {
		sq_bind_int(s, 1, account_id);
		ret = sq_collect_strings(c, s, arena, names_r, count_r, err);
	}
	sq_read_end(sq, c);
	return ret;
}
