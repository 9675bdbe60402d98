/* SQLite: cleanup passes and blob bookkeeping (store.h "cleanup and blob
   bookkeeping"). Each call is one transaction; the caller drives a pass. */

#include "store-sqlite-private.h"

#include "lib/arena.h"

#include <string.h>

int sq_cleanup_try_lock(struct store *st, bool *acquired_r, struct store_error *err)
{
	(void)st;
	(void)err;
	/* one machine, and every step is idempotent: nothing to exclude */
	*acquired_r = true;
	return 0;
}

int sq_cleanup_unlock(struct store *st, struct store_error *err)
{
	(void)st;
	(void)err;
	return 0;
}

int sq_cleanup_expunged(struct store *st, int64_t before, uint64_t *removed_r,
			       struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_exec_ints(c, "DELETE FROM messages WHERE expunged_at IS NOT NULL AND "
			    "expunged_at < ?", err, before) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	*removed_r = (uint64_t)sqlite3_changes(c->db);
	return sq_write_commit(sq, c, err);
}

int sq_cleanup_accounts(struct store *st, int64_t before, uint64_t *messages_r,
			       uint64_t *accounts_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	uint64_t messages;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_exec_ints(c, "DELETE FROM messages WHERE account_id IN (SELECT id FROM accounts "
			    "WHERE deleted_at IS NOT NULL AND deleted_at < ?)", err, before) < 0)
		goto fail;
	messages = (uint64_t)sqlite3_changes(c->db);
	/* the counters follow the rows (STATUS and QUOTA after a restore) */
	if (messages > 0 &&
	    (sq_exec_ints(c, "UPDATE mailboxes SET message_count = 0, unseen_count = 0, "
			     "deleted_count = 0, total_bytes = 0 WHERE account_id IN (SELECT id "
			     "FROM accounts WHERE deleted_at IS NOT NULL AND deleted_at < ?)",
			  err, before) < 0 ||
	     sq_exec_ints(c, "UPDATE accounts SET message_count = 0, total_bytes = 0 WHERE "
			     "deleted_at IS NOT NULL AND deleted_at < ?", err, before) < 0))
		goto fail;
	/* rows that cascade (credentials, mailboxes, …) go with the account;
	   one whose bodies are still listed waits for the blob deletes */
	if (sq_exec_ints(c, "DELETE FROM accounts WHERE deleted_at IS NOT NULL AND "
			    "deleted_at < ? AND NOT EXISTS (SELECT 1 FROM message_data d "
			    "WHERE d.account_id = accounts.id)", err, before) < 0)
		goto fail;
	*accounts_r = (uint64_t)sqlite3_changes(c->db);
	*messages_r = messages;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

static int sq_blob_refs(struct store *st, const char *sql, int64_t after_id, size_t limit,
			struct arena *arena, struct store_blob_ref **refs_r, size_t *count_r,
			struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct store_blob_ref *refs;
	struct sq_conn *c;
	sqlite3_stmt *s;
	size_t n = 0;
	int rc;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c, sql, err);
	if (s == NULL) {
		sq_read_end(sq, c);
		return -1;
	}
	refs = arena_alloc(arena, MIN(limit, (size_t)4096) * sizeof(*refs));
	sq_bind_int(s, 1, after_id);
	sq_bind_int(s, 2, (int64_t)MIN(limit, (size_t)INT64_MAX));
	size_t cap = MIN(limit, (size_t)4096);
	while ((rc = sq_step(c, s, err)) == 1) {
		if (n == cap) {
			struct store_blob_ref *bigger = arena_alloc(arena, 2 * cap * sizeof(*refs));

			memcpy(bigger, refs, n * sizeof(*refs));
			refs = bigger;
			cap *= 2;
		}
		refs[n++] = (struct store_blob_ref){
			.data_id = sqlite3_column_int64(s, 0),
			.account_id = sqlite3_column_int64(s, 1),
			.content_hash = sq_col_dup(arena, s, 2),
			.blob_key_id = (uint32_t)sqlite3_column_int64(s, 3),
			.address = sq_col_dup(arena, s, 4),
		};
	}
	(void)sqlite3_reset(s);
	sq_read_end(sq, c);
	if (rc < 0)
		return -1;
	*refs_r = refs;
	*count_r = n;
	return 0;
}

#define SQ_BLOB_REF_COLUMNS                                                            \
	"SELECT d.id, d.account_id, d.content_hash, d.blob_key_id, "                   \
	"COALESCE((SELECT address FROM credentials WHERE account_id = d.account_id "   \
	"AND is_primary = 1), '') FROM message_data d "

int sq_cleanup_unreferenced(struct store *st, int64_t after_id, size_t limit,
				   struct arena *arena, struct store_blob_ref **refs_r,
				   size_t *count_r, struct store_error *err)
{
	return sq_blob_refs(st, SQ_BLOB_REF_COLUMNS
			    "WHERE d.id > ?1 AND NOT EXISTS (SELECT 1 FROM messages m "
			    "WHERE m.data_id = d.id) ORDER BY d.id LIMIT ?2",
			    after_id, limit, arena, refs_r, count_r, err);
}

int sq_blob_list(struct store *st, int64_t after_id, size_t limit, struct arena *arena,
			struct store_blob_ref **refs_r, size_t *count_r, struct store_error *err)
{
	return sq_blob_refs(st, SQ_BLOB_REF_COLUMNS "WHERE d.id > ?1 ORDER BY d.id LIMIT ?2",
			    after_id, limit, arena, refs_r, count_r, err);
}

int sq_cleanup_forget(struct store *st, const int64_t *data_ids, size_t count,
			     uint64_t *forgotten_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	uint64_t n = 0;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (sq_exec_ints(c, "DELETE FROM message_data WHERE id = ?1 AND NOT EXISTS "
				    "(SELECT 1 FROM messages WHERE data_id = ?1)", err,
				 data_ids[i]) < 0)
			goto fail;
		if (sqlite3_changes(c->db) == 0)
			continue; /* referenced again, or gone already */
		n++;
		if (sq_exec_ints(c, "DELETE FROM message_fts WHERE rowid = ?", err,
				 data_ids[i]) < 0)
			goto fail;
	}
	*forgotten_r = n;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_blob_set_key_id(struct store *st, int64_t data_id, uint32_t blob_key_id,
			      struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_exec_ints(c, "UPDATE message_data SET blob_key_id = ? WHERE id = ?", err,
			 (int64_t)blob_key_id, data_id) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	if (sqlite3_changes(c->db) == 0) {
		sq_write_rollback(sq, c);
		return sq_not_found(err, "blob", data_id);
	}
	return sq_write_commit(sq, c, err);
}

int sq_cleanup_hashes_referenced(struct store *st, int64_t account_id,
				 const char *const *hashes, size_t count, bool *referenced_r,
				 struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = 0;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	/* one indexed lookup each (UNIQUE (account_id, content_hash)) */
	s = sq_prepare(c, "SELECT 1 FROM message_data WHERE account_id = ? AND content_hash = ?",
		       err);
	if (s == NULL) {
		sq_read_end(sq, c);
		return -1;
	}
	for (size_t i = 0; i < count && rc >= 0; i++) {
		sq_bind_int(s, 1, account_id);
		sq_bind_text(s, 2, hashes[i]);
		rc = sq_step(c, s, err);
		referenced_r[i] = rc == 1;
		(void)sqlite3_reset(s);
	}
	sq_read_end(sq, c);
	return rc < 0 ? -1 : 0;
}
