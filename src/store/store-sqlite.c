/* SQLite metadata driver: connections, statement cache, transactions,
   error mapping, migrations and the vtable. The operations live in
   store-sqlite-{account,mailbox,message}.c.

   Durability: WAL with synchronous=FULL, so a transaction is on disk (the
   WAL fsynced) when COMMIT returns; a delivery acknowledged after that
   survives kill -9 and power loss. NORMAL would only fsync at checkpoints
   and could lose the last commits on power loss.

   Concurrency: all writes go through one connection under write_lock
   (SQLite has a single writer anyway; queueing on our mutex instead of
   SQLITE_BUSY keeps writers fair and never fails them). Reads run on a
   pool of connections in WAL snapshots and never wait for the writer.
   busy_timeout only matters for other processes (sora-admin) sharing the
   file. */

#include "store/store-sqlite-private.h"
#include "store/store-schema.h"

#include "lib/arena.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SQ_READERS_DEFAULT 4
#define SQ_READERS_MAX 64
#define SQ_BUSY_TIMEOUT_DEFAULT 5000
#define SQ_STMT_SLOTS_INITIAL 64

int64_t sq_now(void)
{
	return (int64_t)time(NULL);
}

int sq_not_found(struct store_error *err, const char *what, int64_t id)
{
	store_error_set(err, STORE_NOT_FOUND, "%s %lld not found", what, (long long)id);
	return -1;
}

const char *sq_col_dup(struct arena *arena, sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	int len = sqlite3_column_bytes(s, i);

	return t == NULL ? "" : arena_strndup(arena, (const char *)t, (size_t)len);
}

void sq_u32vec_push(struct arena *arena, struct sq_u32vec *vec, uint32_t x)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap == 0 ? 64 : vec->cap * 2;
		uint32_t *v = arena_alloc(arena, sizeof(*v) * cap);

		if (vec->n > 0)
			memcpy(v, vec->v, sizeof(*v) * vec->n);
		vec->v = v;
		vec->cap = cap;
	}
	vec->v[vec->n++] = x;
}

/* ---- errors ----------------------------------------------------------- */

static enum store_err sq_err_code(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return STORE_EXISTS;
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_NOMEM:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_READONLY:
		return STORE_TEMPORARY;
	default:
		return STORE_INTERNAL;
	}
}

int sq_fail(struct sq_conn *c, int rc, struct store_error *err)
{
	/* sqlite3_errmsg() names tables and columns, never bound values */
	store_error_set(err, sq_err_code(rc), "sqlite: %s",
			c != NULL && c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
	return -1;
}

/* ---- statement cache -------------------------------------------------- */

static uint32_t sq_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void sq_slots_grow(struct sq_conn *c)
{
	size_t count = c->slot_count == 0 ? SQ_STMT_SLOTS_INITIAL : c->slot_count * 2;
	struct sq_stmt_slot *slots = xcalloc(count, sizeof(*slots));

	for (size_t i = 0; i < c->slot_count; i++) {
		struct sq_stmt_slot *old = &c->slots[i];
		size_t j = old->hash & (count - 1);

		if (old->sql == NULL)
			continue;
		while (slots[j].sql != NULL)
			j = (j + 1) & (count - 1);
		slots[j] = *old;
	}
	free(c->slots);
	c->slots = slots;
	c->slot_count = count;
}

sqlite3_stmt *sq_prepare(struct sq_conn *c, const char *sql, struct store_error *err)
{
	uint32_t h = sq_hash(sql);
	struct sq_stmt_slot *slot;
	sqlite3_stmt *stmt;
	size_t i, mask;
	int rc;

	if (c->slot_used * 2 >= c->slot_count)
		sq_slots_grow(c);
	mask = c->slot_count - 1;
	for (i = h & mask; c->slots[i].sql != NULL; i = (i + 1) & mask) {
		slot = &c->slots[i];
		if (slot->hash == h && strcmp(slot->sql, sql) == 0) {
			(void)sqlite3_reset(slot->stmt);
			(void)sqlite3_clear_bindings(slot->stmt);
			return slot->stmt;
		}
	}
	rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
	if (rc != SQLITE_OK) {
		(void)sq_fail(c, rc, err);
		return NULL;
	}
	c->slots[i] = (struct sq_stmt_slot){ .sql = xstrdup(sql), .hash = h, .stmt = stmt };
	c->slot_used++;
	return stmt;
}

static void sq_conn_reset_all(struct sq_conn *c)
{
	for (sqlite3_stmt *s = sqlite3_next_stmt(c->db, NULL); s != NULL;
	     s = sqlite3_next_stmt(c->db, s)) {
		if (sqlite3_stmt_busy(s))
			(void)sqlite3_reset(s);
	}
}

int sq_step(struct sq_conn *c, sqlite3_stmt *s, struct store_error *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	(void)sqlite3_reset(s);
	return sq_fail(c, rc, err);
}

int sq_exec(struct sq_conn *c, sqlite3_stmt *s, struct store_error *err)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	(void)sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(c, rc, err);
}

int sq_exec_intv(struct sq_conn *c, const char *sql, const int64_t *args, size_t count,
		 struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c, sql, err);

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		sq_bind_int(s, (int)i + 1, args[i]);
	return sq_exec(c, s, err);
}

int sq_query_intv(struct sq_conn *c, const char *sql, int64_t *v_r, const int64_t *args,
		  size_t count, struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		sq_bind_int(s, (int)i + 1, args[i]);
	rc = sq_step(c, s, err);
	if (rc == 1)
		*v_r = sqlite3_column_int64(s, 0);
	(void)sqlite3_reset(s);
	return rc;
}

/* ---- connections ------------------------------------------------------ */

static int sq_exec_sql(struct sq_conn *c, const char *sql, struct store_error *err)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_fail(c, rc, err);
}

static void sq_conn_close(struct sq_conn *c)
{
	for (size_t i = 0; i < c->slot_count; i++) {
		if (c->slots[i].sql == NULL)
			continue;
		(void)sqlite3_finalize(c->slots[i].stmt);
		free((char *)c->slots[i].sql);
	}
	free(c->slots);
	c->slots = NULL;
	c->slot_count = c->slot_used = 0;
	if (c->db != NULL)
		(void)sqlite3_close(c->db);
	c->db = NULL;
}

static int sq_conn_open(struct sq_conn *c, const char *path, bool is_writer,
			unsigned int busy_timeout_ms, struct store_error *err)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (is_writer ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(path, &c->db, flags, NULL);

	if (rc != SQLITE_OK) {
		store_error_set(err, STORE_TEMPORARY, "sqlite: cannot open the database: %s",
				sqlite3_errstr(rc));
		sq_conn_close(c);
		return -1;
	}
	(void)sqlite3_extended_result_codes(c->db, 1);
	(void)sqlite3_busy_timeout(c->db, (int)busy_timeout_ms);
	sq_slots_grow(c);
	if (is_writer && sq_exec_sql(c, "PRAGMA journal_mode = WAL", err) < 0)
		goto fail;
	if (sq_exec_sql(c,
			"PRAGMA synchronous = FULL;"
			"PRAGMA foreign_keys = ON;"
			"PRAGMA temp_store = MEMORY;"
			"PRAGMA cache_size = -16384;"
			"PRAGMA journal_size_limit = 67108864;",
			err) < 0)
		goto fail;
	if (!is_writer && sq_exec_sql(c, "PRAGMA query_only = ON", err) < 0)
		goto fail;
	return 0;
fail:
	sq_conn_close(c);
	return -1;
}

/* ---- transactions ----------------------------------------------------- */

int sq_write_begin(struct store_sqlite *sq, struct sq_conn **c_r, struct store_error *err)
{
	struct sq_conn *c = &sq->writer;

	REQUIRE(pthread_mutex_lock(&sq->write_lock) == 0);
	if (sq_exec_sql(c, "BEGIN IMMEDIATE", err) < 0) {
		REQUIRE(pthread_mutex_unlock(&sq->write_lock) == 0);
		return -1;
	}
	*c_r = c;
	return 0;
}

void sq_write_rollback(struct store_sqlite *sq, struct sq_conn *c)
{
	sq_conn_reset_all(c);
	if (sqlite3_get_autocommit(c->db) == 0)
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	REQUIRE(pthread_mutex_unlock(&sq->write_lock) == 0);
}

int sq_write_commit(struct store_sqlite *sq, struct sq_conn *c, struct store_error *err)
{
	sq_conn_reset_all(c);
	if (sq_exec_sql(c, "COMMIT", err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	REQUIRE(pthread_mutex_unlock(&sq->write_lock) == 0);
	return 0;
}

int sq_read_begin(struct store_sqlite *sq, struct sq_conn **c_r, struct store_error *err)
{
	struct sq_conn *c = NULL;

	REQUIRE(pthread_mutex_lock(&sq->pool_lock) == 0);
	for (;;) {
		for (unsigned int i = 0; i < sq->reader_count && c == NULL; i++) {
			if (!sq->readers[i].in_use)
				c = &sq->readers[i];
		}
		if (c != NULL)
			break;
		REQUIRE(pthread_cond_wait(&sq->pool_cond, &sq->pool_lock) == 0);
	}
	c->in_use = true;
	REQUIRE(pthread_mutex_unlock(&sq->pool_lock) == 0);
	if (sq_exec_sql(c, "BEGIN", err) < 0) {
		sq_read_end(sq, c);
		return -1;
	}
	*c_r = c;
	return 0;
}

void sq_read_end(struct store_sqlite *sq, struct sq_conn *c)
{
	sq_conn_reset_all(c);
	if (sqlite3_get_autocommit(c->db) == 0)
		(void)sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	REQUIRE(pthread_mutex_lock(&sq->pool_lock) == 0);
	c->in_use = false;
	REQUIRE(pthread_cond_signal(&sq->pool_cond) == 0);
	REQUIRE(pthread_mutex_unlock(&sq->pool_lock) == 0);
}

/* ---- migrations ------------------------------------------------------- */

static int sq_schema_version(struct sq_conn *c, unsigned int *version_r, struct store_error *err)
{
	int64_t v = 0;

	if (sq_query_intv(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &v,
			 NULL, 0, err) < 0)
		return -1;
	*version_r = (unsigned int)v;
	return 0;
}

/* In the caller's write transaction. */
static int sq_migrate_in(struct sq_conn *c, unsigned int *applied_r, struct store_error *err)
{
	unsigned int version, applied = 0;
	sqlite3_stmt *s;

	if (sq_exec_sql(c, store_schema_sqlite_bootstrap, err) < 0 ||
	    sq_schema_version(c, &version, err) < 0)
		return -1;
	if (version > STORE_SCHEMA_VERSION) {
		store_error_set(err, STORE_INVALID,
				"database schema version %u is newer than this binary's %u",
				version, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (size_t i = 0; i < store_schema_sqlite_count; i++) {
		const struct store_migration *m = &store_schema_sqlite[i];

		if (m->version <= version)
			continue;
		if (sq_exec_sql(c, m->sql, err) < 0) {
			char msg[STORE_ERROR_MSG_MAX];

			memcpy(msg, err->msg, sizeof(msg));
			store_error_set(err, err->code, "migration %u (%s): %s", m->version,
					m->name, msg);
			return -1;
		}
		s = sq_prepare(c,
			       "INSERT INTO schema_migrations (version, name, applied_at) "
			       "VALUES (?, ?, ?)",
			       err);
		if (s == NULL)
			return -1;
		sq_bind_int(s, 1, m->version);
		sq_bind_text(s, 2, m->name);
		sq_bind_int(s, 3, sq_now());
		if (sq_exec(c, s, err) < 0)
			return -1;
		applied++;
	}
	*applied_r = applied;
	return 0;
}

static int sq_migrate_up(struct store *st, unsigned int *applied_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_migrate_in(c, applied_r, err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

static int sq_migrate_version(struct store *st, unsigned int *version_r,
			      struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	int64_t exists = 0;
	int ret;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	ret = sq_query_intv(c,
			   "SELECT COUNT(*) FROM sqlite_master "
			   "WHERE type = 'table' AND name = 'schema_migrations'",
			   &exists, NULL, 0, err);
	if (ret >= 0) {
		*version_r = 0;
		ret = exists == 0 ? 0 : sq_schema_version(c, version_r, err);
	}
	sq_read_end(sq, c);
	return ret < 0 ? -1 : 0;
}

/* ---- open and close --------------------------------------------------- */

static void sq_close(struct store *st)
{
	struct store_sqlite *sq = sq_from(st);

	for (unsigned int i = 0; i < sq->reader_count; i++)
		sq_conn_close(&sq->readers[i]);
	free(sq->readers);
	sq_conn_close(&sq->writer);
	REQUIRE(pthread_mutex_destroy(&sq->write_lock) == 0);
	REQUIRE(pthread_mutex_destroy(&sq->pool_lock) == 0);
	REQUIRE(pthread_cond_destroy(&sq->pool_cond) == 0);
	free(sq);
}

static int sq_open(const struct store_settings *set, struct store **st_r,
		   struct store_error *err)
{
	unsigned int busy = set->busy_timeout_ms > 0 ? set->busy_timeout_ms
						     : SQ_BUSY_TIMEOUT_DEFAULT;
	struct store_sqlite *sq;
	unsigned int applied;

	if (set->path == NULL || set->path[0] == '\0') {
		store_error_set(err, STORE_INVALID, "sqlite: no database path");
		return -1;
	}
	if (set->read_connections > SQ_READERS_MAX) {
		store_error_set(err, STORE_INVALID, "sqlite: more than %d read connections",
				SQ_READERS_MAX);
		return -1;
	}
	if (sqlite3_threadsafe() == 0) {
		store_error_set(err, STORE_INTERNAL, "sqlite: library built without threads");
		return -1;
	}
	sq = xcalloc(1, sizeof(*sq));
	sq->store.v = &store_sqlite_vfuncs;
	REQUIRE(pthread_mutex_init(&sq->write_lock, NULL) == 0);
	REQUIRE(pthread_mutex_init(&sq->pool_lock, NULL) == 0);
	REQUIRE(pthread_cond_init(&sq->pool_cond, NULL) == 0);
	sq->reader_count = set->read_connections > 0 ? set->read_connections : SQ_READERS_DEFAULT;
	sq->readers = xcalloc(sq->reader_count, sizeof(*sq->readers));

	if (sq_conn_open(&sq->writer, set->path, true, busy, err) < 0)
		goto fail;
	if (!set->skip_migrations && sq_migrate_up(&sq->store, &applied, err) < 0)
		goto fail;
	for (unsigned int i = 0; i < sq->reader_count; i++) {
		if (sq_conn_open(&sq->readers[i], set->path, false, busy, err) < 0)
			goto fail;
	}
	*st_r = &sq->store;
	return 0;
fail:
	sq_close(&sq->store);
	return -1;
}

const struct store_vfuncs store_sqlite_vfuncs = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.migrate_version = sq_migrate_version,
	.migrate_up = sq_migrate_up,

	.account_create = sq_account_create,
	.account_get = sq_account_get,
	.account_list = sq_account_list,
	.account_find = sq_account_find,
	.account_delete = sq_account_delete,
	.account_restore = sq_account_restore,
	.account_set_quota = sq_account_set_quota,
	.credential_lookup = sq_credential_lookup,
	.credential_add = sq_credential_add,
	.credential_delete = sq_credential_delete,
	.credential_set_password = sq_credential_set_password,
	.credential_set_primary = sq_credential_set_primary,
	.credential_list = sq_credential_list,

	.mailbox_create = sq_mailbox_create,
	.mailbox_get = sq_mailbox_get,
	.mailbox_get_by_id = sq_mailbox_get_by_id,
	.mailbox_list = sq_mailbox_list,
	.mailbox_delete = sq_mailbox_delete,
	.mailbox_rename = sq_mailbox_rename,
	.mailbox_set_special_use = sq_mailbox_set_special_use,
	.mailbox_status = sq_mailbox_status,
	.mailbox_uids = sq_mailbox_uids,
	.mailbox_keywords = sq_mailbox_keywords,
	.subscription_set = sq_subscription_set,
	.subscription_list = sq_subscription_list,

	.append_batch = sq_append_batch,
	.flags_update = sq_flags_update,
	.expunge = sq_expunge,
	.copy = sq_copy,
	.fetch = sq_fetch,
	.changes_since = sq_changes_since,
	.search = sq_search,

	.sieve_put = sq_sieve_put,
	.sieve_get = sq_sieve_get,
	.sieve_list = sq_sieve_list,
	.sieve_activate = sq_sieve_activate,
	.sieve_delete = sq_sieve_delete,
	.sieve_rename = sq_sieve_rename,

	.auth_attempt_add = sq_auth_attempt_add,
	.auth_failures = sq_auth_failures,
	.auth_block_set = sq_auth_block_set,
	.auth_block_get = sq_auth_block_get,
	.auth_prune = sq_auth_prune,

	.cleanup_try_lock = sq_cleanup_try_lock,
	.cleanup_unlock = sq_cleanup_unlock,
	.cleanup_expunged = sq_cleanup_expunged,
	.cleanup_accounts = sq_cleanup_accounts,
	.cleanup_unreferenced = sq_cleanup_unreferenced,
	.cleanup_forget = sq_cleanup_forget,
	.blob_list = sq_blob_list,
	.blob_set_key_id = sq_blob_set_key_id,
	.cleanup_hashes_referenced = sq_cleanup_hashes_referenced,
};
