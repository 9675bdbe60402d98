/* SQLite driver: accounts, credentials, Sieve scripts, auth records.
   Invariants kept here: an address belongs to one account (UNIQUE), an
   account has exactly one primary address (a partial unique index allows
   at most one; create/set_primary/delete keep at least one), and at most
   one Sieve script per account is active. */

#include "store/store-sqlite-private.h"

#include "lib/arena.h"

#include <string.h>

/* In a write transaction: STORE_NOT_FOUND unless the account exists and
   is live. */
static int sq_account_check_live(struct sq_conn *c, int64_t account_id, struct store_error *err)
{
	int64_t deleted = 0;
	int rc = sq_query_int(c, "SELECT deleted_at IS NOT NULL FROM accounts WHERE id = ?",
			      &deleted, err, account_id);

	if (rc < 0)
		return -1;
	if (rc == 0 || deleted != 0) {
		(void)sq_not_found(err, "account", account_id);
		return -1;
	}
	return 0;
}

static int sq_address_unused(struct sq_conn *c, const char *address, struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c, "SELECT 1 FROM credentials WHERE address = ?", err);
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_text(s, 1, address);
	rc = sq_step(c, s, err);
	(void)sqlite3_reset(s);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		store_error_set(err, STORE_EXISTS, "address %s is already in use", address);
		return -1;
	}
	return 0;
}

static int sq_credential_insert(struct sq_conn *c, int64_t account_id, const char *address,
				const char *password_hash, bool is_primary,
				struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(c,
				     "INSERT INTO credentials (account_id, address, password_hash, "
				     "is_primary, created_at, updated_at) VALUES (?, ?, ?, ?, ?, "
				     "?)",
				     err);
	int64_t now = sq_now();

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 2, address);
	sq_bind_text(s, 3, password_hash);
	sq_bind_int(s, 4, is_primary);
	sq_bind_int(s, 5, now);
	sq_bind_int(s, 6, now);
	return sq_exec(c, s, err);
}

int sq_account_create(struct store *st, const char *address, const char *password_hash,
		      int64_t *account_id_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t id, mailbox_id;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_address_unused(c, address, err) < 0 ||
	    sq_exec_ints(c, "INSERT INTO accounts (created_at) VALUES (?)", err, sq_now()) < 0)
		goto fail;
	id = sqlite3_last_insert_rowid(c->db);
	if (sq_credential_insert(c, id, address, password_hash, true, err) < 0)
		goto fail;
	for (size_t i = 0; i < store_default_mailbox_count; i++) {
		const struct store_default_mailbox *d = &store_default_mailboxes[i];

		if (sq_mailbox_create_in(c, id, d->name, d->special_use, &mailbox_id, err) < 0)
			goto fail;
		s = sq_prepare(c,
			       "INSERT OR IGNORE INTO subscriptions (account_id, name) "
			       "VALUES (?, ?)",
			       err);
		if (s == NULL)
			goto fail;
		sq_bind_int(s, 1, id);
		sq_bind_text(s, 2, d->name);
		if (sq_exec(c, s, err) < 0)
			goto fail;
	}
	if (sq_write_commit(sq, c, err) < 0)
		return -1;
	*account_id_r = id;
	return 0;
fail:
	sq_write_rollback(sq, c);
	return -1;
}

#define SQ_ACCOUNT_COLUMNS                                                                    \
	"SELECT a.id, a.created_at, a.deleted_at, a.message_count, a.total_bytes, "          \
	"(SELECT address FROM credentials WHERE account_id = a.id AND is_primary = 1), "     \
	"COALESCE(a.quota_storage, 0), COALESCE(a.quota_messages, 0) "                       \
	"FROM accounts a "

static void sq_account_row(sqlite3_stmt *s, struct arena *arena, struct store_account *a)
{
	*a = (struct store_account){
		.id = sqlite3_column_int64(s, 0),
		.created_at = sqlite3_column_int64(s, 1),
		.deleted_at = sqlite3_column_int64(s, 2),
		.message_count = (uint64_t)sqlite3_column_int64(s, 3),
		.total_bytes = (uint64_t)sqlite3_column_int64(s, 4),
		.primary_address = sq_col_dup(arena, s, 5),
		.quota_storage = (uint64_t)sqlite3_column_int64(s, 6),
		.quota_messages = (uint64_t)sqlite3_column_int64(s, 7),
	};
}

int sq_account_get(struct store *st, int64_t account_id, struct arena *arena,
		   struct store_account *account_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c, SQ_ACCOUNT_COLUMNS "WHERE a.id = ?", err);
	if (s != NULL) {
		sq_bind_int(s, 1, account_id);
		rc = sq_step(c, s, err);
		if (rc == 1)
			sq_account_row(s, arena, account_r);
		else if (rc == 0)
			store_error_set(err, STORE_NOT_FOUND, "account %lld not found",
					(long long)account_id);
	}
	sq_read_end(sq, c);
	return rc == 1 ? 0 : -1;
}

int sq_account_list(struct store *st, bool include_deleted, struct arena *arena,
		    struct store_account **accounts_r, size_t *count_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct store_account *list = NULL;
	size_t n = 0, cap = 0;
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c, SQ_ACCOUNT_COLUMNS "WHERE ? OR a.deleted_at IS NULL ORDER BY a.id", err);
	if (s != NULL) {
		sq_bind_int(s, 1, include_deleted);
		while ((rc = sq_step(c, s, err)) == 1) {
			if (n == cap) {
				struct store_account *nl;

				cap = cap == 0 ? 16 : cap * 2;
				nl = arena_alloc(arena, sizeof(*nl) * cap);
				if (n > 0)
					memcpy(nl, list, sizeof(*nl) * n);
				list = nl;
			}
			sq_account_row(s, arena, &list[n++]);
		}
	}
	sq_read_end(sq, c);
	if (rc < 0)
		return -1;
	*accounts_r = list;
	*count_r = n;
	return 0;
}

int sq_account_find(struct store *st, const char *address, bool include_deleted,
		    int64_t *account_id_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c,
		       "SELECT c.account_id FROM credentials c JOIN accounts a ON a.id = "
		       "c.account_id "
		       "WHERE c.address = ? AND (? OR a.deleted_at IS NULL)",
		       err);
	if (s != NULL) {
		sq_bind_text(s, 1, address);
		sq_bind_int(s, 2, include_deleted);
		rc = sq_step(c, s, err);
		if (rc == 1)
			*account_id_r = sqlite3_column_int64(s, 0);
		else if (rc == 0)
			store_error_set(err, STORE_NOT_FOUND, "no account for %s", address);
	}
	sq_read_end(sq, c);
	return rc == 1 ? 0 : -1;
}

int sq_account_delete(struct store *st, int64_t account_id, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_account_check_live(c, account_id, err) < 0 ||
	    sq_exec_ints(c, "UPDATE accounts SET deleted_at = ? WHERE id = ?", err, sq_now(),
			 account_id) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

int sq_account_restore(struct store *st, int64_t account_id, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	int64_t deleted = 0;
	int rc;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	rc = sq_query_int(c, "SELECT deleted_at IS NOT NULL FROM accounts WHERE id = ?", &deleted,
			  err, account_id);
	if (rc == 0)
		(void)sq_not_found(err, "account", account_id);
	else if (rc == 1 && deleted == 0)
		store_error_set(err, STORE_INVALID, "account %lld is not deleted",
				(long long)account_id);
	if (rc != 1 || deleted == 0 ||
	    sq_exec_ints(c, "UPDATE accounts SET deleted_at = NULL WHERE id = ?", err,
			 account_id) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

int sq_account_set_quota(struct store *st, int64_t account_id, uint64_t quota_storage,
			 uint64_t quota_messages, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	/* NULL, not 0, for "server default": the column says so by itself */
	s = sq_prepare(c, "UPDATE accounts SET quota_storage = NULLIF(?1, 0), "
			  "quota_messages = NULLIF(?2, 0) WHERE id = ?3", err);
	if (s == NULL) {
		sq_write_rollback(sq, c);
		return -1;
	}
	sq_bind_int(s, 1, (int64_t)quota_storage);
	sq_bind_int(s, 2, (int64_t)quota_messages);
	sq_bind_int(s, 3, account_id);
	if (sq_exec(c, s, err) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	if (sqlite3_changes(c->db) == 0) {
		(void)sq_not_found(err, "account", account_id);
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}

/* ---- credentials ------------------------------------------------------ */

static void sq_credential_row(sqlite3_stmt *s, struct arena *arena, struct store_credential *cr)
{
	*cr = (struct store_credential){
		.account_id = sqlite3_column_int64(s, 0),
		.address = sq_col_dup(arena, s, 1),
		.password_hash = sq_col_dup(arena, s, 2),
		.is_primary = sqlite3_column_int64(s, 3) != 0,
	};
}

int sq_credential_lookup(struct store *st, const char *address, struct arena *arena,
			 struct store_credential *cred_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c,
		       "SELECT c.account_id, c.address, c.password_hash, c.is_primary "
		       "FROM credentials c JOIN accounts a ON a.id = c.account_id "
		       "WHERE c.address = ? AND a.deleted_at IS NULL",
		       err);
	if (s != NULL) {
		sq_bind_text(s, 1, address);
		rc = sq_step(c, s, err);
		if (rc == 1)
			sq_credential_row(s, arena, cred_r);
		else if (rc == 0)
			store_error_set(err, STORE_NOT_FOUND, "no account for %s", address);
	}
	sq_read_end(sq, c);
	return rc == 1 ? 0 : -1;
}

int sq_credential_add(struct store *st, int64_t account_id, const char *address,
		      const char *password_hash, bool make_primary, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_account_check_live(c, account_id, err) < 0 || sq_address_unused(c, address, err) < 0)
		goto fail;
	if (make_primary &&
	    sq_exec_ints(c,
			 "UPDATE credentials SET is_primary = 0 WHERE account_id = ? AND "
			 "is_primary = 1",
			 err, account_id) < 0)
		goto fail;
	if (sq_credential_insert(c, account_id, address, password_hash, make_primary, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

/* In a write transaction: the credential's account and primary flag. */
static int sq_credential_find(struct sq_conn *c, const char *address, int64_t *account_id_r,
			      bool *is_primary_r, struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(
		c, "SELECT account_id, is_primary FROM credentials WHERE address = ?", err);
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_text(s, 1, address);
	rc = sq_step(c, s, err);
	if (rc == 1) {
		*account_id_r = sqlite3_column_int64(s, 0);
		*is_primary_r = sqlite3_column_int64(s, 1) != 0;
	} else if (rc == 0) {
		store_error_set(err, STORE_NOT_FOUND, "no such address %s", address);
	}
	(void)sqlite3_reset(s);
	return rc == 1 ? 0 : -1;
}

int sq_credential_delete(struct store *st, const char *address, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t account_id;
	bool is_primary;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_credential_find(c, address, &account_id, &is_primary, err) < 0)
		goto fail;
	if (is_primary) {
		store_error_set(err, STORE_INVALID,
				"%s is the primary address: make another one primary first",
				address);
		goto fail;
	}
	s = sq_prepare(c, "DELETE FROM credentials WHERE address = ?", err);
	if (s == NULL)
		goto fail;
	sq_bind_text(s, 1, address);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_credential_set_password(struct store *st, const char *address, const char *password_hash,
			       struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c,
		       "UPDATE credentials SET password_hash = ?, updated_at = ? WHERE address = ?",
		       err);
	if (s == NULL)
		goto fail;
	sq_bind_text(s, 1, password_hash);
	sq_bind_int(s, 2, sq_now());
	sq_bind_text(s, 3, address);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	if (sqlite3_changes(c->db) == 0) {
		store_error_set(err, STORE_NOT_FOUND, "no such address %s", address);
		goto fail;
	}
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_credential_set_primary(struct store *st, const char *address, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t account_id;
	bool is_primary;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_credential_find(c, address, &account_id, &is_primary, err) < 0)
		goto fail;
	if (is_primary)
		return sq_write_commit(sq, c, err);
	if (sq_exec_ints(c,
			 "UPDATE credentials SET is_primary = 0 WHERE account_id = ? AND "
			 "is_primary = 1",
			 err, account_id) < 0)
		goto fail;
	s = sq_prepare(c, "UPDATE credentials SET is_primary = 1, updated_at = ? WHERE address = ?",
		       err);
	if (s == NULL)
		goto fail;
	sq_bind_int(s, 1, sq_now());
	sq_bind_text(s, 2, address);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_credential_list(struct store *st, int64_t account_id, struct arena *arena,
		       struct store_credential **creds_r, size_t *count_r,
		       struct store_error *err)
{
	static const char sql[] = "SELECT account_id, address, password_hash, is_primary "
				  "FROM credentials WHERE account_id = ? "
				  "ORDER BY is_primary DESC, address";
	struct store_sqlite *sq = sq_from(st);
	struct store_credential *list = NULL;
	size_t n = 0, cap = 0;
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t exists = 0;
	int rc;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	rc = sq_query_int(c, "SELECT 1 FROM accounts WHERE id = ?", &exists, err, account_id);
	if (rc == 0)
		rc = sq_not_found(err, "account", account_id);
	s = rc < 0 ? NULL : sq_prepare(c, sql, err);
	if (s == NULL)
		goto out;
	sq_bind_int(s, 1, account_id);
	while ((rc = sq_step(c, s, err)) == 1) {
		if (n == cap) {
			struct store_credential *nl;

			cap = cap == 0 ? 8 : cap * 2;
			nl = arena_alloc(arena, sizeof(*nl) * cap);
			if (n > 0)
				memcpy(nl, list, sizeof(*nl) * n);
			list = nl;
		}
		sq_credential_row(s, arena, &list[n++]);
	}
out:
	sq_read_end(sq, c);
	if (s == NULL || rc < 0)
		return -1;
	*creds_r = list;
	*count_r = n;
	return 0;
}

/* ---- Sieve scripts ---------------------------------------------------- */

int sq_sieve_put(struct store *st, int64_t account_id, const char *name, const char *content,
		 struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int64_t now = sq_now();

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_account_check_live(c, account_id, err) < 0)
		goto fail;
	s = sq_prepare(c,
		       "INSERT INTO sieve_scripts (account_id, name, content, created_at, "
		       "updated_at) "
		       "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (account_id, name) DO UPDATE SET "
		       "content = excluded.content, updated_at = excluded.updated_at",
		       err);
	if (s == NULL)
		goto fail;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 2, name);
	sq_bind_text(s, 3, content);
	sq_bind_int(s, 4, now);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_sieve_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		 struct store_sieve_script *script_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c,
		       "SELECT name, content, is_active, updated_at FROM sieve_scripts "
		       "WHERE account_id = ?1 AND ((?2 IS NULL AND is_active = 1) OR name = ?2)",
		       err);
	if (s != NULL) {
		sq_bind_int(s, 1, account_id);
		sq_bind_text(s, 2, name);
		rc = sq_step(c, s, err);
		if (rc == 1) {
			*script_r = (struct store_sieve_script){
				.name = sq_col_dup(arena, s, 0),
				.content = sq_col_dup(arena, s, 1),
				.is_active = sqlite3_column_int64(s, 2) != 0,
				.updated_at = sqlite3_column_int64(s, 3),
			};
		} else if (rc == 0) {
			store_error_set(err, STORE_NOT_FOUND,
					name == NULL ? "no active script" : "no such script");
		}
	}
	sq_read_end(sq, c);
	return rc == 1 ? 0 : -1;
}

int sq_sieve_list(struct store *st, int64_t account_id, struct arena *arena,
		  struct store_sieve_script **scripts_r, size_t *count_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct store_sieve_script *list = NULL;
	size_t n = 0, cap = 0;
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c,
		       "SELECT name, is_active, updated_at FROM sieve_scripts WHERE account_id = ? "
		       "ORDER BY name",
		       err);
	if (s != NULL) {
		sq_bind_int(s, 1, account_id);
		while ((rc = sq_step(c, s, err)) == 1) {
			if (n == cap) {
				struct store_sieve_script *nl;

				cap = cap == 0 ? 8 : cap * 2;
				nl = arena_alloc(arena, sizeof(*nl) * cap);
				if (n > 0)
					memcpy(nl, list, sizeof(*nl) * n);
				list = nl;
			}
			list[n++] = (struct store_sieve_script){
				.name = sq_col_dup(arena, s, 0),
				.is_active = sqlite3_column_int64(s, 1) != 0,
				.updated_at = sqlite3_column_int64(s, 2),
			};
		}
	}
	sq_read_end(sq, c);
	if (rc < 0)
		return -1;
	*scripts_r = list;
	*count_r = n;
	return 0;
}

/* In a write transaction: the script's active flag, STORE_NOT_FOUND. */
static int sq_sieve_find(struct sq_conn *c, int64_t account_id, const char *name,
			 bool *is_active_r, struct store_error *err)
{
	sqlite3_stmt *s = sq_prepare(
		c, "SELECT is_active FROM sieve_scripts WHERE account_id = ? AND name = ?", err);
	int rc;

	if (s == NULL)
		return -1;
	sq_bind_int(s, 1, account_id);
	sq_bind_text(s, 2, name);
	rc = sq_step(c, s, err);
	if (rc == 1)
		*is_active_r = sqlite3_column_int64(s, 0) != 0;
	else if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "no such script");
	(void)sqlite3_reset(s);
	return rc == 1 ? 0 : -1;
}

int sq_sieve_activate(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	bool is_active;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (name != NULL && sq_sieve_find(c, account_id, name, &is_active, err) < 0)
		goto fail;
	if (sq_exec_ints(c,
			 "UPDATE sieve_scripts SET is_active = 0 WHERE account_id = ? AND "
			 "is_active = 1",
			 err, account_id) < 0)
		goto fail;
	if (name != NULL) {
		s = sq_prepare(c,
			       "UPDATE sieve_scripts SET is_active = 1 WHERE account_id = ? AND "
			       "name = ?",
			       err);
		if (s == NULL)
			goto fail;
		sq_bind_int(s, 1, account_id);
		sq_bind_text(s, 2, name);
		if (sq_exec(c, s, err) < 0)
			goto fail;
	}
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_sieve_delete(struct store *st, int64_t account_id, const char *name,
		    struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	bool is_active;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_sieve_find(c, account_id, name, &is_active, err) < 0)
		goto fail;
	if (is_active) {
		store_error_set(err, STORE_INVALID, "the active script cannot be deleted");
		goto fail;
	}
	s = sq_prepare(c, "DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?", err);
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

int sq_sieve_rename(struct store *st, int64_t account_id, const char *old_name,
		    const char *new_name, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	bool is_active;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_sieve_find(c, account_id, old_name, &is_active, err) < 0)
		goto fail;
	if (sq_sieve_find(c, account_id, new_name, &is_active, err) == 0) {
		store_error_set(err, STORE_EXISTS, "a script with that name exists");
		goto fail;
	}
	if (err->code != STORE_NOT_FOUND)
		goto fail;
	s = sq_prepare(c,
		       "UPDATE sieve_scripts SET name = ?, updated_at = ? "
		       "WHERE account_id = ? AND name = ?",
		       err);
	if (s == NULL)
		goto fail;
	sq_bind_text(s, 1, new_name);
	sq_bind_int(s, 2, sq_now());
	sq_bind_int(s, 3, account_id);
	sq_bind_text(s, 4, old_name);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

/* ---- auth attempts and blocks ----------------------------------------- */

int sq_auth_attempt_add(struct store *st, const char *ip, const char *username, bool success,
			int64_t at, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c,
		       "INSERT INTO auth_attempts (ip, username, success, at) VALUES (?, ?, ?, ?)",
		       err);
	if (s == NULL)
		goto fail;
	sq_bind_text(s, 1, ip);
	sq_bind_text(s, 2, username);
	sq_bind_int(s, 3, success);
	sq_bind_int(s, 4, at);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_auth_failures(struct store *st, const char *ip, const char *username, int64_t since,
		     uint32_t *count_r, struct store_error *err)
{
	/* one statement per shape, so each can use its index */
	static const char *const sql[] = {
		"SELECT COUNT(*) FROM auth_attempts WHERE ip = ?1 AND at >= ?3 AND success = 0",
		"SELECT COUNT(*) FROM auth_attempts WHERE username = ?2 AND at >= ?3 "
		"AND success = 0",
		"SELECT COUNT(*) FROM auth_attempts WHERE ip = ?1 AND username = ?2 AND at >= ?3 "
		"AND success = 0",
	};
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c, sql[ip == NULL ? 1 : username == NULL ? 0 : 2], err);
	if (s != NULL) {
		sq_bind_text(s, 1, ip);
		sq_bind_text(s, 2, username);
		sq_bind_int(s, 3, since);
		rc = sq_step(c, s, err);
		if (rc == 1)
			*count_r = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sq_read_end(sq, c);
	return rc == 1 ? 0 : -1;
}

int sq_auth_block_set(struct store *st, enum store_block_kind kind, const char *key,
		      int64_t until, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c,
		       until == 0 ? "DELETE FROM auth_blocks WHERE kind = ?1 AND key = ?2"
				  : "INSERT OR REPLACE INTO auth_blocks (kind, key, until) "
				    "VALUES (?1, ?2, ?3)",
		       err);
	if (s == NULL)
		goto fail;
	sq_bind_int(s, 1, kind);
	sq_bind_text(s, 2, key);
	if (until != 0)
		sq_bind_int(s, 3, until);
	if (sq_exec(c, s, err) < 0)
		goto fail;
	return sq_write_commit(sq, c, err);
fail:
	sq_write_rollback(sq, c);
	return -1;
}

int sq_auth_block_get(struct store *st, enum store_block_kind kind, const char *key, int64_t now,
		      int64_t *until_r, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;
	sqlite3_stmt *s;
	int rc = -1;

	if (sq_read_begin(sq, &c, err) < 0)
		return -1;
	s = sq_prepare(c, "SELECT until FROM auth_blocks WHERE kind = ? AND key = ? AND until > ?",
		       err);
	if (s != NULL) {
		sq_bind_int(s, 1, kind);
		sq_bind_text(s, 2, key);
		sq_bind_int(s, 3, now);
		rc = sq_step(c, s, err);
		if (rc >= 0)
			*until_r = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
	}
	sq_read_end(sq, c);
	return rc < 0 ? -1 : 0;
}

int sq_auth_prune(struct store *st, int64_t before, struct store_error *err)
{
	struct store_sqlite *sq = sq_from(st);
	struct sq_conn *c;

	if (sq_write_begin(sq, &c, err) < 0)
		return -1;
	if (sq_exec_ints(c, "DELETE FROM auth_attempts WHERE at < ?", err, before) < 0 ||
	    sq_exec_ints(c, "DELETE FROM auth_blocks WHERE until < ?", err, before) < 0) {
		sq_write_rollback(sq, c);
		return -1;
	}
	return sq_write_commit(sq, c, err);
}
