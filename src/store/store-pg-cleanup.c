/* PostgreSQL: cleanup passes and blob bookkeeping (store.h "cleanup and
   blob bookkeeping"), the same statements as store-sqlite-cleanup.c. Only
   one node runs a pass at a time: store_cleanup_try_lock takes a session
   advisory lock on a connection of its own, which the server releases by
   itself if this node dies or loses the connection. */

#include "store/store-pg-private.h"

#include "lib/arena.h"

#include <string.h>

/* "SoraClen": any fixed number, the same on every node */
#define PG_CLEANUP_LOCK 0x536f7261436c656eLL

int pg_cleanup_try_lock(struct store *st, bool *acquired_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c = &pg->cleanup_conn;
	int64_t got = 0;
	int ret = 0;

	REQUIRE(pthread_mutex_lock(&pg->cleanup_mutex) == 0);
	/* a lock held on a connection that died is gone with it */
	if (c->db != NULL && PQstatus(c->db) != CONNECTION_OK) {
		pg_conn_disconnect(c);
		pg->cleanup_held = false;
	}
	if (pg->cleanup_held) {
		*acquired_r = true;
		goto out;
	}
	if (c->db == NULL && pg_conn_connect(pg, c, err) < 0) {
		ret = -1;
		goto out;
	}
	if (pg_query_ints(c, "SELECT pg_try_advisory_lock($1)::int", &got, err,
			  PG_CLEANUP_LOCK) != 1) {
		ret = -1;
		goto out;
	}
	pg->cleanup_held = got != 0;
	*acquired_r = pg->cleanup_held;
out:
	REQUIRE(pthread_mutex_unlock(&pg->cleanup_mutex) == 0);
	return ret;
}

int pg_cleanup_unlock(struct store *st, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c = &pg->cleanup_conn;
	int64_t released = 0;
	int ret = 0;

	REQUIRE(pthread_mutex_lock(&pg->cleanup_mutex) == 0);
	if (pg->cleanup_held && c->db != NULL &&
	    pg_query_ints(c, "SELECT pg_advisory_unlock($1)::int", &released, err,
			  PG_CLEANUP_LOCK) < 0) {
		/* the session is unusable: dropping it releases the lock */
		pg_conn_disconnect(c);
		ret = -1;
	}
	pg->cleanup_held = false;
	REQUIRE(pthread_mutex_unlock(&pg->cleanup_mutex) == 0);
	return ret;
}

int pg_cleanup_expunged(struct store *st, int64_t before, uint64_t *removed_r,
			struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, before);
	if (pg_run(c, "DELETE FROM messages WHERE expunged_at IS NOT NULL AND expunged_at < $1",
		   &p, removed_r, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

int pg_cleanup_accounts(struct store *st, int64_t before, uint64_t *messages_r,
			uint64_t *accounts_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	uint64_t messages = 0, accounts = 0;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, before);
	if (pg_run(c,
		   "DELETE FROM messages WHERE account_id IN (SELECT id FROM accounts "
		   "WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
		   &p, &messages, err) < 0)
		goto fail;
	/* the counters follow the rows (STATUS and QUOTA after a restore) */
	if (messages > 0 &&
	    (pg_run(c,
		    "UPDATE mailboxes SET message_count = 0, unseen_count = 0, deleted_count = 0, "
		    "total_bytes = 0 WHERE account_id IN (SELECT id FROM accounts "
		    "WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
		    &p, NULL, err) < 0 ||
	     pg_run(c,
		    "UPDATE accounts SET message_count = 0, total_bytes = 0 "
		    "WHERE deleted_at IS NOT NULL AND deleted_at < $1",
		    &p, NULL, err) < 0))
		goto fail;
	/* one whose bodies are still listed waits for the blob deletes */
	if (pg_run(c,
		   "DELETE FROM accounts a WHERE deleted_at IS NOT NULL AND deleted_at < $1 "
		   "AND NOT EXISTS (SELECT 1 FROM message_data d WHERE d.account_id = a.id)",
		   &p, &accounts, err) < 0)
		goto fail;
	*messages_r = messages;
	*accounts_r = accounts;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

#define PG_BLOB_REF_COLUMNS                                                                   \
	"SELECT d.id, d.account_id, d.content_hash, d.blob_key_id, "                         \
	"COALESCE((SELECT address FROM credentials WHERE account_id = d.account_id "         \
	"AND is_primary), '') FROM message_data d "

static int pg_blob_refs(struct store *st, const char *sql, int64_t after_id, size_t limit,
			struct arena *arena, struct store_blob_ref **refs_r, size_t *count_r,
			struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct store_blob_ref *refs;
	struct pg_conn *c;
	PGresult *r;
	int n;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, after_id);
	pg_p_int(&p, (int64_t)MIN(limit, (size_t)INT64_MAX));
	r = pg_exec(c, sql, &p, err);
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	refs = arena_alloc(arena, sizeof(*refs) * (size_t)(n > 0 ? n : 1));
	for (int i = 0; i < n; i++) {
		refs[i] = (struct store_blob_ref){
			.data_id = pg_int(r, i, 0),
			.account_id = pg_int(r, i, 1),
			.content_hash = pg_dup(arena, r, i, 2),
			.blob_key_id = (uint32_t)pg_int(r, i, 3),
			.address = pg_dup(arena, r, i, 4),
		};
	}
	PQclear(r);
	*refs_r = refs;
	*count_r = (size_t)n;
	return 0;
}

int pg_cleanup_unreferenced(struct store *st, int64_t after_id, size_t limit,
			    struct arena *arena, struct store_blob_ref **refs_r, size_t *count_r,
			    struct store_error *err)
{
	return pg_blob_refs(st,
			    PG_BLOB_REF_COLUMNS "WHERE d.id > $1 AND NOT EXISTS (SELECT 1 FROM "
						"messages m WHERE m.data_id = d.id) ORDER BY d.id "
						"LIMIT $2",
			    after_id, limit, arena, refs_r, count_r, err);
}

int pg_blob_list(struct store *st, int64_t after_id, size_t limit, struct arena *arena,
		 struct store_blob_ref **refs_r, size_t *count_r, struct store_error *err)
{
	return pg_blob_refs(st, PG_BLOB_REF_COLUMNS "WHERE d.id > $1 ORDER BY d.id LIMIT $2",
			    after_id, limit, arena, refs_r, count_r, err);
}

int pg_cleanup_forget(struct store *st, const int64_t *data_ids, size_t count,
		      uint64_t *forgotten_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	struct buf ids;
	int ret;

	buf_init(&ids, 0);
	for (size_t i = 0; i < count; i++)
		pg_arr_int(&ids, data_ids[i]);
	pg_arr_close(&ids);
	pg_p_array(&p, &ids, PG_INT8ARRAYOID);
	if (pg_write_begin(pg, &c, err) < 0) {
		buf_free(&ids);
		return -1;
	}
	/* the rows are locked by the DELETE; one referenced again since it
	   was listed stays (message_fts rows go by ON DELETE CASCADE) */
	ret = pg_run(c,
		     "DELETE FROM message_data d WHERE d.id = ANY($1::int8[]) AND NOT EXISTS "
		     "(SELECT 1 FROM messages m WHERE m.data_id = d.id)",
		     &p, forgotten_r, err);
	buf_free(&ids);
	if (ret < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

int pg_blob_set_key_id(struct store *st, int64_t data_id, uint32_t blob_key_id,
		       struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	uint64_t changes = 0;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, blob_key_id);
	pg_p_int(&p, data_id);
	if (pg_run(c, "UPDATE message_data SET blob_key_id = $1 WHERE id = $2", &p, &changes,
		   err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	if (changes == 0) {
		pg_write_rollback(pg, c);
		return pg_not_found(err, "blob", data_id);
	}
	return pg_write_commit(pg, c, err);
}

int pg_cleanup_hashes_referenced(struct store *st, int64_t account_id,
				 const char *const *hashes, size_t count, bool *referenced_r,
				 struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	struct buf arr;
	PGresult *r;
	int n;

	buf_init(&arr, 0);
	for (size_t i = 0; i < count; i++)
		pg_arr_text(&arr, hashes[i]);
	pg_arr_close(&arr);
	pg_p_int(&p, account_id);
	pg_p_array(&p, &arr, PG_TEXTARRAYOID);
	if (pg_read_begin(pg, &c, err) < 0) {
		buf_free(&arr);
		return -1;
	}
	r = pg_exec(c,
		    "SELECT content_hash FROM message_data WHERE account_id = $1 "
		    "AND content_hash = ANY($2::text[])",
		    &p, err);
	pg_read_end(pg, c);
	buf_free(&arr);
	if (r == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		referenced_r[i] = false;
	n = PQntuples(r);
	for (int row = 0; row < n; row++) {
		const char *h = PQgetvalue(r, row, 0);

		for (size_t i = 0; i < count; i++) {
			if (strcmp(h, hashes[i]) == 0)
				referenced_r[i] = true;
		}
	}
	PQclear(r);
	return 0;
}
