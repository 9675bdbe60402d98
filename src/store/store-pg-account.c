/* PostgreSQL driver: accounts, credentials, Sieve scripts, auth records.
   Same invariants as store-sqlite-account.c: an address belongs to one
   account (UNIQUE), one primary address per account (partial unique
   index), one active Sieve script per account. Where two nodes may race
   (two creations of one address), the unique index decides and its
   violation reads as STORE_EXISTS. */

#include "store/store-pg-private.h"

#include "lib/arena.h"

#include <string.h>

int pg_account_check_live(struct pg_conn *c, int64_t account_id, struct store_error *err)
{
	int64_t deleted = 0;
	int rc = pg_query_ints(c,
			       "SELECT (deleted_at IS NOT NULL)::int FROM accounts WHERE id = $1 "
			       "FOR KEY SHARE",
			       &deleted, err, account_id);

	if (rc < 0)
		return -1;
	if (rc == 0 || deleted != 0)
		return pg_not_found(err, "account", account_id);
	return 0;
}

static int pg_address_unused(struct pg_conn *c, const char *address, struct store_error *err)
{
	struct pg_params p = { 0 };
	int64_t one;
	int rc;

	pg_p_text(&p, address);
	rc = pg_query_int(c, "SELECT 1 FROM credentials WHERE address = $1", &p, &one, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		store_error_set(err, STORE_EXISTS, "address %s is already in use", address);
		return -1;
	}
	return 0;
}

static int pg_credential_insert(struct pg_conn *c, int64_t account_id, const char *address,
				const char *password_hash, bool is_primary,
				struct store_error *err)
{
	struct pg_params p = { 0 };

	pg_p_int(&p, account_id);
	pg_p_text(&p, address);
	pg_p_text(&p, password_hash);
	pg_p_bool(&p, is_primary);
	pg_p_int(&p, pg_now());
	if (pg_run(c,
		   "INSERT INTO credentials (account_id, address, password_hash, is_primary, "
		   "created_at, updated_at) VALUES ($1, $2, $3, $4 <> 0, $5, $5)",
		   &p, NULL, err) < 0) {
		if (err->code == STORE_EXISTS)
			store_error_set(err, STORE_EXISTS, "address %s is already in use", address);
		return -1;
	}
	return 0;
}

int pg_account_create(struct store *st, const char *address, const char *password_hash,
		      int64_t *account_id_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;
	int64_t id = 0, mailbox_id;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_address_unused(c, address, err) < 0 ||
	    pg_query_ints(c, "INSERT INTO accounts (created_at) VALUES ($1) RETURNING id", &id,
			  err, pg_now()) != 1 ||
	    pg_credential_insert(c, id, address, password_hash, true, err) < 0)
		goto fail;
	for (size_t i = 0; i < store_default_mailbox_count; i++) {
		const struct store_default_mailbox *d = &store_default_mailboxes[i];
		struct pg_params p = { 0 };

		if (pg_mailbox_create_in(c, id, d->name, d->special_use, &mailbox_id, err) < 0)
			goto fail;
		pg_p_int(&p, id);
		pg_p_text(&p, d->name);
		if (pg_run(c,
			   "INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) "
			   "ON CONFLICT DO NOTHING",
			   &p, NULL, err) < 0)
			goto fail;
	}
	if (pg_write_commit(pg, c, err) < 0)
		return -1;
	*account_id_r = id;
	return 0;
fail:
	pg_write_rollback(pg, c);
	return -1;
}

#define PG_ACCOUNT_COLUMNS                                                                    \
	"SELECT a.id, a.created_at, a.deleted_at, a.message_count, a.total_bytes, "          \
	"(SELECT address FROM credentials WHERE account_id = a.id AND is_primary), "         \
	"COALESCE(a.quota_storage, 0), COALESCE(a.quota_messages, 0) FROM accounts a "

static void pg_account_row(const PGresult *r, int row, struct arena *arena,
			   struct store_account *a)
{
	*a = (struct store_account){
		.id = pg_int(r, row, 0),
		.created_at = pg_int(r, row, 1),
		.deleted_at = pg_int(r, row, 2),
		.message_count = (uint64_t)pg_int(r, row, 3),
		.total_bytes = (uint64_t)pg_int(r, row, 4),
		.primary_address = pg_dup(arena, r, row, 5),
		.quota_storage = (uint64_t)pg_int(r, row, 6),
		.quota_messages = (uint64_t)pg_int(r, row, 7),
	};
}

int pg_account_get(struct store *st, int64_t account_id, struct arena *arena,
		   struct store_account *account_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	PGresult *r;
	int ret = -1;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, account_id);
	r = pg_exec(c, PG_ACCOUNT_COLUMNS "WHERE a.id = $1", &p, err);
	if (r != NULL && PQntuples(r) == 1) {
		pg_account_row(r, 0, arena, account_r);
		ret = 0;
	} else if (r != NULL) {
		(void)pg_not_found(err, "account", account_id);
	}
	PQclear(r);
	pg_read_end(pg, c);
	return ret;
}

int pg_account_list(struct store *st, bool include_deleted, struct arena *arena,
		    struct store_account **accounts_r, size_t *count_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct store_account *list;
	struct pg_conn *c;
	PGresult *r;
	int n;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_bool(&p, include_deleted);
	r = pg_exec(c, PG_ACCOUNT_COLUMNS "WHERE $1 <> 0 OR a.deleted_at IS NULL ORDER BY a.id",
		    &p, err);
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	list = n > 0 ? arena_alloc(arena, sizeof(*list) * (size_t)n) : NULL;
	for (int i = 0; i < n; i++)
		pg_account_row(r, i, arena, &list[i]);
	PQclear(r);
	*accounts_r = list;
	*count_r = (size_t)n;
	return 0;
}

int pg_account_find(struct store *st, const char *address, bool include_deleted,
		    int64_t *account_id_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	int rc;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_text(&p, address);
	pg_p_bool(&p, include_deleted);
	rc = pg_query_int(c,
			  "SELECT c.account_id FROM credentials c JOIN accounts a ON a.id = "
			  "c.account_id WHERE c.address = $1 AND ($2 <> 0 OR a.deleted_at IS NULL)",
			  &p, account_id_r, err);
	pg_read_end(pg, c);
	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "no account for %s", address);
	return rc == 1 ? 0 : -1;
}

int pg_account_delete(struct store *st, int64_t account_id, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_account_check_live(c, account_id, err) < 0 ||
	    pg_run_ints(c, "UPDATE accounts SET deleted_at = $1 WHERE id = $2", err, pg_now(),
			account_id) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

int pg_account_restore(struct store *st, int64_t account_id, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;
	int64_t deleted = 0;
	int rc;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	rc = pg_query_ints(c,
			   "SELECT (deleted_at IS NOT NULL)::int FROM accounts WHERE id = $1 "
			   "FOR UPDATE",
			   &deleted, err, account_id);
	if (rc == 0)
		(void)pg_not_found(err, "account", account_id);
	else if (rc == 1 && deleted == 0)
		store_error_set(err, STORE_INVALID, "account %lld is not deleted",
				(long long)account_id);
	if (rc != 1 || deleted == 0 ||
	    pg_run_ints(c, "UPDATE accounts SET deleted_at = NULL WHERE id = $1", err,
			account_id) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

int pg_account_set_quota(struct store *st, int64_t account_id, uint64_t quota_storage,
			 uint64_t quota_messages, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	uint64_t changes = 0;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	/* NULL, not 0, for "server default", as in the SQLite schema */
	pg_p_int(&p, (int64_t)quota_storage);
	pg_p_int(&p, (int64_t)quota_messages);
	pg_p_int(&p, account_id);
	if (pg_run(c,
		   "UPDATE accounts SET quota_storage = NULLIF($1, 0), "
		   "quota_messages = NULLIF($2, 0) WHERE id = $3",
		   &p, &changes, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	if (changes == 0) {
		pg_write_rollback(pg, c);
		return pg_not_found(err, "account", account_id);
	}
	return pg_write_commit(pg, c, err);
}

/* ---- credentials ------------------------------------------------------- */

static void pg_credential_row(const PGresult *r, int row, struct arena *arena,
			      struct store_credential *cr)
{
	*cr = (struct store_credential){
		.account_id = pg_int(r, row, 0),
		.address = pg_dup(arena, r, row, 1),
		.password_hash = pg_dup(arena, r, row, 2),
		.is_primary = pg_bool(r, row, 3),
	};
}

int pg_credential_lookup(struct store *st, const char *address, struct arena *arena,
			 struct store_credential *cred_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	PGresult *r;
	int ret = -1;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_text(&p, address);
	r = pg_exec(c,
		    "SELECT c.account_id, c.address, c.password_hash, c.is_primary "
		    "FROM credentials c JOIN accounts a ON a.id = c.account_id "
		    "WHERE c.address = $1 AND a.deleted_at IS NULL",
		    &p, err);
	pg_read_end(pg, c);
	if (r != NULL && PQntuples(r) == 1) {
		pg_credential_row(r, 0, arena, cred_r);
		ret = 0;
	} else if (r != NULL) {
		store_error_set(err, STORE_NOT_FOUND, "no account for %s", address);
	}
	PQclear(r);
	return ret;
}

int pg_credential_add(struct store *st, int64_t account_id, const char *address,
		      const char *password_hash, bool make_primary, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_account_check_live(c, account_id, err) < 0 || pg_address_unused(c, address, err) < 0)
		goto fail;
	if (make_primary &&
	    pg_run_ints(c,
			"UPDATE credentials SET is_primary = FALSE WHERE account_id = $1 AND "
			"is_primary",
			err, account_id) < 0)
		goto fail;
	if (pg_credential_insert(c, account_id, address, password_hash, make_primary, err) < 0)
		goto fail;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

/* In a write transaction, locking the row: its account and primary flag. */
static int pg_credential_find(struct pg_conn *c, const char *address, int64_t *account_id_r,
			      bool *is_primary_r, struct store_error *err)
{
	struct pg_params p = { 0 };
	PGresult *r;
	int ret = -1;

	pg_p_text(&p, address);
	r = pg_exec(c,
		    "SELECT account_id, is_primary FROM credentials WHERE address = $1 "
		    "FOR UPDATE",
		    &p, err);
	if (r != NULL && PQntuples(r) == 1) {
		*account_id_r = pg_int(r, 0, 0);
		*is_primary_r = pg_bool(r, 0, 1);
		ret = 0;
	} else if (r != NULL) {
		store_error_set(err, STORE_NOT_FOUND, "no such address %s", address);
	}
	PQclear(r);
	return ret;
}

int pg_credential_delete(struct store *st, const char *address, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	int64_t account_id;
	bool is_primary;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_credential_find(c, address, &account_id, &is_primary, err) < 0)
		goto fail;
	if (is_primary) {
		store_error_set(err, STORE_INVALID,
				"%s is the primary address: make another one primary first",
				address);
		goto fail;
	}
	pg_p_text(&p, address);
	if (pg_run(c, "DELETE FROM credentials WHERE address = $1", &p, NULL, err) < 0)
		goto fail;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

int pg_credential_set_password(struct store *st, const char *address, const char *password_hash,
			       struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	uint64_t changes = 0;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	pg_p_text(&p, password_hash);
	pg_p_int(&p, pg_now());
	pg_p_text(&p, address);
	if (pg_run(c, "UPDATE credentials SET password_hash = $1, updated_at = $2 WHERE address = $3",
		   &p, &changes, err) < 0)
		goto fail;
	if (changes == 0) {
		store_error_set(err, STORE_NOT_FOUND, "no such address %s", address);
		goto fail;
	}
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

int pg_credential_set_primary(struct store *st, const char *address, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	int64_t account_id;
	bool is_primary;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_credential_find(c, address, &account_id, &is_primary, err) < 0)
		goto fail;
	if (is_primary)
		return pg_write_commit(pg, c, err);
	if (pg_run_ints(c,
			"UPDATE credentials SET is_primary = FALSE WHERE account_id = $1 AND "
			"is_primary",
			err, account_id) < 0)
		goto fail;
	pg_p_int(&p, pg_now());
	pg_p_text(&p, address);
	if (pg_run(c,
		   "UPDATE credentials SET is_primary = TRUE, updated_at = $1 WHERE address = $2",
		   &p, NULL, err) < 0)
		goto fail;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

int pg_credential_list(struct store *st, int64_t account_id, struct arena *arena,
		       struct store_credential **creds_r, size_t *count_r,
		       struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct store_credential *list;
	struct pg_conn *c;
	PGresult *r = NULL;
	int64_t exists = 0;
	int rc, n;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	rc = pg_query_ints(c, "SELECT 1 FROM accounts WHERE id = $1", &exists, err, account_id);
	if (rc == 0)
		rc = pg_not_found(err, "account", account_id);
	if (rc == 1) {
		pg_p_int(&p, account_id);
		r = pg_exec(c,
			    "SELECT account_id, address, password_hash, is_primary "
			    "FROM credentials WHERE account_id = $1 "
			    "ORDER BY is_primary DESC, address",
			    &p, err);
	}
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	list = n > 0 ? arena_alloc(arena, sizeof(*list) * (size_t)n) : NULL;
	for (int i = 0; i < n; i++)
		pg_credential_row(r, i, arena, &list[i]);
	PQclear(r);
	*creds_r = list;
	*count_r = (size_t)n;
	return 0;
}

/* ---- Sieve scripts ----------------------------------------------------- */

int pg_sieve_put(struct store *st, int64_t account_id, const char *name, const char *content,
		 struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_account_check_live(c, account_id, err) < 0)
		goto fail;
	pg_p_int(&p, account_id);
	pg_p_text(&p, name);
	pg_p_text(&p, content);
	pg_p_int(&p, pg_now());
	if (pg_run(c,
		   "INSERT INTO sieve_scripts (account_id, name, content, created_at, updated_at) "
		   "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (account_id, name) DO UPDATE SET "
		   "content = excluded.content, updated_at = excluded.updated_at",
		   &p, NULL, err) < 0)
		goto fail;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

int pg_sieve_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		 struct store_sieve_script *script_r, struct store_error *err)
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
	r = pg_exec(c,
		    "SELECT name, content, is_active, updated_at FROM sieve_scripts "
		    "WHERE account_id = $1 AND (($2::text IS NULL AND is_active) OR name = $2)",
		    &p, err);
	pg_read_end(pg, c);
	if (r != NULL && PQntuples(r) == 1) {
		*script_r = (struct store_sieve_script){
			.name = pg_dup(arena, r, 0, 0),
			.content = pg_dup(arena, r, 0, 1),
			.is_active = pg_bool(r, 0, 2),
			.updated_at = pg_int(r, 0, 3),
		};
		ret = 0;
	} else if (r != NULL) {
		store_error_set(err, STORE_NOT_FOUND,
				name == NULL ? "no active script" : "no such script");
	}
	PQclear(r);
	return ret;
}

int pg_sieve_list(struct store *st, int64_t account_id, struct arena *arena,
		  struct store_sieve_script **scripts_r, size_t *count_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct store_sieve_script *list;
	struct pg_conn *c;
	PGresult *r;
	int n;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, account_id);
	r = pg_exec(c,
		    "SELECT name, is_active, updated_at FROM sieve_scripts WHERE account_id = $1 "
		    "ORDER BY name",
		    &p, err);
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	list = n > 0 ? arena_alloc(arena, sizeof(*list) * (size_t)n) : NULL;
	for (int i = 0; i < n; i++) {
		list[i] = (struct store_sieve_script){
			.name = pg_dup(arena, r, i, 0),
			.is_active = pg_bool(r, i, 1),
			.updated_at = pg_int(r, i, 2),
		};
	}
	PQclear(r);
	*scripts_r = list;
	*count_r = (size_t)n;
	return 0;
}

/* In a write transaction: 1 = found (*is_active_r), 0 = not, -1 = error. */
static int pg_sieve_find(struct pg_conn *c, int64_t account_id, const char *name,
			 bool *is_active_r, struct store_error *err)
{
	struct pg_params p = { 0 };
	PGresult *r;
	int rc;

	pg_p_int(&p, account_id);
	pg_p_text(&p, name);
	r = pg_exec(c,
		    "SELECT is_active FROM sieve_scripts WHERE account_id = $1 AND name = $2 "
		    "FOR UPDATE",
		    &p, err);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 1;
	if (rc == 1)
		*is_active_r = pg_bool(r, 0, 0);
	PQclear(r);
	return rc;
}

static int pg_sieve_must_exist(struct pg_conn *c, int64_t account_id, const char *name,
			       bool *is_active_r, struct store_error *err)
{
	int rc = pg_sieve_find(c, account_id, name, is_active_r, err);

	if (rc == 0)
		store_error_set(err, STORE_NOT_FOUND, "no such script");
	return rc == 1 ? 0 : -1;
}

int pg_sieve_activate(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	bool is_active;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (name != NULL && pg_sieve_must_exist(c, account_id, name, &is_active, err) < 0)
		goto fail;
	if (pg_run_ints(c,
			"UPDATE sieve_scripts SET is_active = FALSE WHERE account_id = $1 AND "
			"is_active",
			err, account_id) < 0)
		goto fail;
	if (name != NULL) {
		pg_p_int(&p, account_id);
		pg_p_text(&p, name);
		if (pg_run(c,
			   "UPDATE sieve_scripts SET is_active = TRUE WHERE account_id = $1 AND "
			   "name = $2",
			   &p, NULL, err) < 0)
			goto fail;
	}
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

int pg_sieve_delete(struct store *st, int64_t account_id, const char *name,
		    struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	bool is_active;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_sieve_must_exist(c, account_id, name, &is_active, err) < 0)
		goto fail;
	if (is_active) {
		store_error_set(err, STORE_INVALID, "the active script cannot be deleted");
		goto fail;
	}
	pg_p_int(&p, account_id);
	pg_p_text(&p, name);
	if (pg_run(c, "DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2", &p, NULL,
		   err) < 0)
		goto fail;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

int pg_sieve_rename(struct store *st, int64_t account_id, const char *old_name,
		    const char *new_name, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	bool is_active;
	int rc;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_sieve_must_exist(c, account_id, old_name, &is_active, err) < 0)
		goto fail;
	rc = pg_sieve_find(c, account_id, new_name, &is_active, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		store_error_set(err, STORE_EXISTS, "a script with that name exists");
		goto fail;
	}
	pg_p_text(&p, new_name);
	pg_p_int(&p, pg_now());
	pg_p_int(&p, account_id);
	pg_p_text(&p, old_name);
	if (pg_run(c,
		   "UPDATE sieve_scripts SET name = $1, updated_at = $2 "
		   "WHERE account_id = $3 AND name = $4",
		   &p, NULL, err) < 0)
		goto fail;
	return pg_write_commit(pg, c, err);
fail:
	pg_write_rollback(pg, c);
	return -1;
}

/* ---- auth attempts and blocks ------------------------------------------ */

int pg_auth_attempt_add(struct store *st, const char *ip, const char *username, bool success,
			int64_t at, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	pg_p_text(&p, ip);
	pg_p_text(&p, username);
	pg_p_bool(&p, success);
	pg_p_int(&p, at);
	if (pg_run(c,
		   "INSERT INTO auth_attempts (ip, username, success, at) "
		   "VALUES ($1, $2, $3 <> 0, $4)",
		   &p, NULL, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

int pg_auth_failures(struct store *st, const char *ip, const char *username, int64_t since,
		     uint32_t *count_r, struct store_error *err)
{
	/* one statement per shape, so each can use its index */
	static const char *const sql[] = {
		"SELECT COUNT(*) FROM auth_attempts WHERE ip = $1 AND at >= $2 AND NOT success",
		"SELECT COUNT(*) FROM auth_attempts WHERE username = $1 AND at >= $2 "
		"AND NOT success",
		"SELECT COUNT(*) FROM auth_attempts WHERE ip = $1 AND username = $3 AND at >= $2 "
		"AND NOT success",
	};
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	int64_t n = 0;
	int shape = ip == NULL ? 1 : username == NULL ? 0 : 2;
	int rc;

	pg_p_text(&p, shape == 1 ? username : ip);
	pg_p_int(&p, since);
	if (shape == 2)
		pg_p_text(&p, username);
	/* on the write server: a failure recorded a moment ago by another
	   node must count, whatever a read replica's lag */
	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	rc = pg_query_int(c, sql[shape], &p, &n, err);
	pg_write_rollback(pg, c);
	if (rc < 0)
		return -1;
	*count_r = (uint32_t)n;
	return 0;
}

int pg_auth_block_set(struct store *st, enum store_block_kind kind, const char *key,
		      int64_t until, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, kind);
	pg_p_text(&p, key);
	if (until != 0)
		pg_p_int(&p, until);
	if (pg_run(c,
		   until == 0 ? "DELETE FROM auth_blocks WHERE kind = $1 AND key = $2"
			      : "INSERT INTO auth_blocks (kind, key, until) VALUES ($1, $2, $3) "
				"ON CONFLICT (kind, key) DO UPDATE SET until = excluded.until",
		   &p, NULL, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

int pg_auth_block_get(struct store *st, enum store_block_kind kind, const char *key, int64_t now,
		      int64_t *until_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_params p = { 0 };
	struct pg_conn *c;
	int64_t until = 0;
	int rc;

	pg_p_int(&p, kind);
	pg_p_text(&p, key);
	pg_p_int(&p, now);
	/* write server, as for pg_auth_failures: a block set on another node
	   holds here at once */
	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	rc = pg_query_int(c, "SELECT until FROM auth_blocks WHERE kind = $1 AND key = $2 AND "
			     "until > $3",
			  &p, &until, err);
	pg_write_rollback(pg, c);
	if (rc < 0)
		return -1;
	*until_r = rc == 1 ? until : 0;
	return 0;
}

int pg_auth_block_list(struct store *st, int64_t now, struct arena *arena,
		       struct store_auth_block **blocks_r, size_t *count_r,
		       struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct store_auth_block *list;
	struct pg_params p = { 0 };
	struct pg_conn *c;
	PGresult *r;
	int n;

	if (pg_read_begin(pg, &c, err) < 0)
		return -1;
	pg_p_int(&p, now);
	r = pg_exec(c, "SELECT kind, key, until FROM auth_blocks WHERE until > $1 "
		       "ORDER BY until, kind, key",
		    &p, err);
	pg_read_end(pg, c);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	list = n > 0 ? arena_alloc(arena, sizeof(*list) * (size_t)n) : NULL;
	for (int i = 0; i < n; i++) {
		list[i] = (struct store_auth_block){
			.kind = (enum store_block_kind)pg_int(r, i, 0),
			.key = pg_dup(arena, r, i, 1),
			.until = pg_int(r, i, 2),
		};
	}
	PQclear(r);
	*blocks_r = list;
	*count_r = (size_t)n;
	return 0;
}

int pg_auth_prune(struct store *st, int64_t before, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_run_ints(c, "DELETE FROM auth_attempts WHERE at < $1", err, before) < 0 ||
	    pg_run_ints(c, "DELETE FROM auth_blocks WHERE until < $1", err, before) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}
