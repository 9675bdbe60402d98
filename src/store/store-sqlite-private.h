#ifndef SORA_STORE_STORE_SQLITE_PRIVATE_H
#define SORA_STORE_STORE_SQLITE_PRIVATE_H

/* Shared by the SQLite driver's files: store-sqlite.c (connections,
   statement cache, transactions, errors, migrations, the vtable),
   store-sqlite-account.c (accounts, credentials, Sieve, auth records),
   store-sqlite-mailbox.c (mailboxes, subscriptions, status) and
   store-sqlite-message.c (append, flags, expunge, copy, fetch, search).

   Threads: one write connection guarded by write_lock (SQLite allows one
   writer; in-process serialisation avoids SQLITE_BUSY between our own
   threads), and a fixed pool of read connections handed out under
   pool_lock. A connection is used by one thread at a time, so connections
   are opened SQLITE_OPEN_NOMUTEX. Each connection caches its prepared
   statements, keyed by SQL text. */

#include "store/store-private.h"

#include "lib/util.h"

#include <pthread.h>
#include <sqlite3.h>

struct arena;

struct sq_stmt_slot {
	const char *sql; /* owned copy, NULL = free slot */
	uint32_t hash;
	sqlite3_stmt *stmt;
};

struct sq_conn {
	sqlite3 *db;
	struct sq_stmt_slot *slots;
	size_t slot_count, slot_used; /* slot_count: power of two */
	bool in_use;
};

struct store_sqlite {
	struct store store;
	pthread_mutex_t write_lock;
	struct sq_conn writer;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct sq_conn *readers;
	unsigned int reader_count;
};

static inline struct store_sqlite *sq_from(struct store *st)
{
	return (struct store_sqlite *)st;
}

/* ---- store-sqlite.c --------------------------------------------------- */

/* Write transaction (BEGIN IMMEDIATE on the writer, under write_lock).
   Every begin is followed by exactly one commit or rollback. commit
   releases the lock whatever happens; on failure it has rolled back. */
int sq_write_begin(struct store_sqlite *sq, struct sq_conn **c_r, struct store_error *err);
int sq_write_commit(struct store_sqlite *sq, struct sq_conn *c, struct store_error *err);
void sq_write_rollback(struct store_sqlite *sq, struct sq_conn *c);
/* Read snapshot on a pooled connection; sq_read_end() ends it. */
int sq_read_begin(struct store_sqlite *sq, struct sq_conn **c_r, struct store_error *err);
void sq_read_end(struct store_sqlite *sq, struct sq_conn *c);

/* A cached statement for sql, reset and with bindings cleared; NULL with
   *err set when it cannot be prepared. One statement text is not used
   twice at once on a connection. */
sqlite3_stmt *sq_prepare(struct sq_conn *c, const char *sql, struct store_error *err);
/* Sets *err from rc and the connection's message; returns -1. */
int sq_fail(struct sq_conn *c, int rc, struct store_error *err);
/* One step: 1 = a row, 0 = done, -1 = error (*err set). */
int sq_step(struct sq_conn *c, sqlite3_stmt *s, struct store_error *err);
/* Steps to the end and resets: 0 or -1. */
int sq_exec(struct sq_conn *c, sqlite3_stmt *s, struct store_error *err);
/* Prepares sql, binds args[0..count) as ?1, ?2, ... and runs it to the
   end: the common "UPDATE ... WHERE id = ?" case. 0 or -1. */
int sq_exec_intv(struct sq_conn *c, const char *sql, const int64_t *args, size_t count,
		 struct store_error *err);
/* Same, returning the first column of the first row in *v_r: 1 = found,
   0 = no row, -1 = error. */
int sq_query_intv(struct sq_conn *c, const char *sql, int64_t *v_r, const int64_t *args,
		  size_t count, struct store_error *err);
/* Type-safe front ends: every argument is converted to int64_t by the
   compound literal, never passed through "...". At least one argument. */
#define SQ_INT_ARGS(...)                                                                      \
	(const int64_t[]){ __VA_ARGS__ }, ARRAY_SIZE(((const int64_t[]){ __VA_ARGS__ }))
#define sq_exec_ints(c, sql, err, ...) sq_exec_intv(c, sql, SQ_INT_ARGS(__VA_ARGS__), err)
#define sq_query_int(c, sql, v_r, err, ...)                                                   \
	sq_query_intv(c, sql, v_r, SQ_INT_ARGS(__VA_ARGS__), err)

/* Binding: text NULL binds SQL NULL; bind_text0 binds "" for NULL. The
   strings must live until the statement is reset. */
static inline void sq_bind_int(sqlite3_stmt *s, int i, int64_t v)
{
	/* can only fail for a bad index: a bug the statement then reports */
	(void)sqlite3_bind_int64(s, i, v);
}

static inline void sq_bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t == NULL)
		(void)sqlite3_bind_null(s, i);
	else
		(void)sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}

static inline void sq_bind_text0(sqlite3_stmt *s, int i, const char *t)
{
	(void)sqlite3_bind_text(s, i, t != NULL ? t : "", -1, SQLITE_STATIC);
}

static inline void sq_bind_textn(sqlite3_stmt *s, int i, const char *t, size_t len)
{
	(void)sqlite3_bind_text(s, i, t, (int)len, SQLITE_STATIC);
}

static inline const char *sq_col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t != NULL ? (const char *)t : "";
}

/* Copy of a text column into arena ("" for NULL). */
const char *sq_col_dup(struct arena *arena, sqlite3_stmt *s, int i);

int64_t sq_now(void);
/* Sets STORE_NOT_FOUND "<what> <id> not found"; returns -1. */
int sq_not_found(struct store_error *err, const char *what, int64_t id);

/* A growable uint32_t array in an arena (doubling). */
struct sq_u32vec {
	uint32_t *v;
	size_t n, cap;
};
void sq_u32vec_push(struct arena *arena, struct sq_u32vec *vec, uint32_t x);

/* ---- store-sqlite-mailbox.c ------------------------------------------- */

/* The mutable state of a mailbox inside a write transaction. */
struct sq_mailbox {
	int64_t id;
	int64_t account_id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;
	bool is_noselect;
	/* deltas to write back */
	int64_t d_messages, d_unseen, d_deleted, d_bytes;
};

/* Loads a mailbox of a live account: STORE_NOT_FOUND otherwise. */
int sq_mailbox_load(struct sq_conn *c, int64_t mailbox_id, struct sq_mailbox *mb,
		    struct store_error *err);
/* Writes uidnext, highest_modseq and the counter deltas (then zeroes them),
   and adds the message/byte deltas to the account's usage. */
int sq_mailbox_save(struct sq_conn *c, struct sq_mailbox *mb, struct store_error *err);
/* Creates name (and missing parents) inside the current write transaction. */
int sq_mailbox_create_in(struct sq_conn *c, int64_t account_id, const char *name,
			 unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err);
/* Resolves keywords to the mailbox's spelling, registering new ones.
   canon_r[i] points into storage (room for count). */
int sq_keywords_canonical(struct sq_conn *c, int64_t mailbox_id, const char *const *kw,
			  size_t count, char (*storage)[STORE_KEYWORD_MAX + 1],
			  const char **canon_r, struct store_error *err);

/* ---- store-sqlite-message.c ------------------------------------------- */

/* Copies (or moves) the live messages of set from src to dst inside the
   current write transaction; both already loaded. Saves both mailboxes. */
int sq_copy_in(struct sq_conn *c, struct sq_mailbox *src, const struct store_uid_range *set,
	       size_t set_count, struct sq_mailbox *dst, bool move, struct arena *arena,
	       struct store_copy_result *result_r, struct store_error *err);

/* ---- vtable entries, by file ------------------------------------------ */

int sq_account_create(struct store *st, const char *address, const char *password_hash,
		      int64_t *account_id_r, struct store_error *err);
int sq_account_get(struct store *st, int64_t account_id, struct arena *arena,
		   struct store_account *account_r, struct store_error *err);
int sq_account_list(struct store *st, bool include_deleted, struct arena *arena,
		    struct store_account **accounts_r, size_t *count_r, struct store_error *err);
int sq_account_find(struct store *st, const char *address, bool include_deleted,
		    int64_t *account_id_r, struct store_error *err);
int sq_account_delete(struct store *st, int64_t account_id, struct store_error *err);
int sq_account_restore(struct store *st, int64_t account_id, struct store_error *err);
int sq_account_set_quota(struct store *st, int64_t account_id, uint64_t quota_storage,
			 uint64_t quota_messages, struct store_error *err);
int sq_credential_lookup(struct store *st, const char *address, struct arena *arena,
			 struct store_credential *cred_r, struct store_error *err);
int sq_credential_add(struct store *st, int64_t account_id, const char *address,
		      const char *password_hash, bool make_primary, struct store_error *err);
int sq_credential_delete(struct store *st, const char *address, struct store_error *err);
int sq_credential_set_password(struct store *st, const char *address, const char *password_hash,
			       struct store_error *err);
int sq_credential_set_primary(struct store *st, const char *address, struct store_error *err);
int sq_credential_list(struct store *st, int64_t account_id, struct arena *arena,
		       struct store_credential **creds_r, size_t *count_r,
		       struct store_error *err);
int sq_sieve_put(struct store *st, int64_t account_id, const char *name, const char *content,
		 struct store_error *err);
int sq_sieve_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		 struct store_sieve_script *script_r, struct store_error *err);
int sq_sieve_list(struct store *st, int64_t account_id, struct arena *arena,
		  struct store_sieve_script **scripts_r, size_t *count_r, struct store_error *err);
int sq_sieve_activate(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err);
int sq_sieve_delete(struct store *st, int64_t account_id, const char *name,
		    struct store_error *err);
int sq_sieve_rename(struct store *st, int64_t account_id, const char *old_name,
		    const char *new_name, struct store_error *err);
int sq_auth_attempt_add(struct store *st, const char *ip, const char *username, bool success,
			int64_t at, struct store_error *err);
int sq_auth_failures(struct store *st, const char *ip, const char *username, int64_t since,
		     uint32_t *count_r, struct store_error *err);
int sq_auth_block_set(struct store *st, enum store_block_kind kind, const char *key,
		      int64_t until, struct store_error *err);
int sq_auth_block_get(struct store *st, enum store_block_kind kind, const char *key, int64_t now,
		      int64_t *until_r, struct store_error *err);
int sq_auth_prune(struct store *st, int64_t before, struct store_error *err);

int sq_mailbox_create(struct store *st, int64_t account_id, const char *name,
		      unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err);
int sq_mailbox_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		   struct store_mailbox *mailbox_r, struct store_error *err);
int sq_mailbox_get_by_id(struct store *st, int64_t mailbox_id, struct arena *arena,
			 struct store_mailbox *mailbox_r, struct store_error *err);
int sq_mailbox_list(struct store *st, int64_t account_id, struct arena *arena,
		    struct store_mailbox **mailboxes_r, size_t *count_r, struct store_error *err);
int sq_mailbox_delete(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err);
int sq_mailbox_rename(struct store *st, int64_t account_id, const char *old_name,
		      const char *new_name, struct store_error *err);
int sq_mailbox_set_special_use(struct store *st, int64_t mailbox_id, unsigned int special_use,
			       struct store_error *err);
int sq_mailbox_status(struct store *st, int64_t mailbox_id,
		      struct store_mailbox_status *status_r, struct store_error *err);
int sq_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r, size_t *count_r,
		    struct store_mailbox_status *status_r, struct store_error *err);
int sq_mailbox_keywords(struct store *st, int64_t mailbox_id, struct arena *arena,
			const char ***keywords_r, size_t *count_r, struct store_error *err);
int sq_subscription_set(struct store *st, int64_t account_id, const char *name, bool subscribed,
			struct store_error *err);
int sq_subscription_list(struct store *st, int64_t account_id, struct arena *arena,
			 const char ***names_r, size_t *count_r, struct store_error *err);

int sq_append_batch(struct store *st, struct store_append *items,
		    const struct store_message_in *in, size_t count, struct store_error *err);
int sq_flags_update(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		    size_t set_count, const struct store_flags_update *upd, struct arena *arena,
		    struct store_flags_result **results_r, size_t *result_count_r,
		    uint32_t **failed_uids_r, size_t *failed_count_r, struct store_error *err);
int sq_expunge(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	       size_t set_count, bool deleted_only, struct arena *arena, uint32_t **uids_r,
	       size_t *count_r, uint64_t *modseq_r, struct store_error *err);
int sq_copy(struct store *st, int64_t src_mailbox_id, const struct store_uid_range *set,
	    size_t set_count, int64_t dst_mailbox_id, bool move, struct arena *arena,
	    struct store_copy_result *result_r, struct store_error *err);
int sq_fetch(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	     size_t set_count, unsigned int fields, uint64_t changed_since, store_fetch_cb *cb,
	     void *ctx, struct store_error *err);
int sq_changes_since(struct store *st, int64_t mailbox_id, uint64_t modseq, struct arena *arena,
		     struct store_flags_result **changed_r, size_t *changed_count_r,
		     uint32_t **vanished_r, size_t *vanished_count_r, struct store_error *err);
int sq_search(struct store *st, int64_t mailbox_id, enum store_search_key key, const char *value,
	      const char *const *words, size_t word_count, struct arena *arena, uint32_t **uids_r,
	      size_t *count_r, struct store_error *err);

/* ---- store-sqlite-cleanup.c ------------------------------------------- */

int sq_cleanup_try_lock(struct store *st, bool *acquired_r, struct store_error *err);
int sq_cleanup_unlock(struct store *st, struct store_error *err);
int sq_cleanup_expunged(struct store *st, int64_t before, uint64_t *removed_r,
			struct store_error *err);
int sq_cleanup_accounts(struct store *st, int64_t before, uint64_t *messages_r,
			uint64_t *accounts_r, struct store_error *err);
int sq_cleanup_unreferenced(struct store *st, int64_t after_id, size_t limit,
			    struct arena *arena, struct store_blob_ref **refs_r, size_t *count_r,
			    struct store_error *err);
int sq_cleanup_forget(struct store *st, const int64_t *data_ids, size_t count,
		      uint64_t *forgotten_r, struct store_error *err);
int sq_blob_list(struct store *st, int64_t after_id, size_t limit, struct arena *arena,
		 struct store_blob_ref **refs_r, size_t *count_r, struct store_error *err);
int sq_blob_set_key_id(struct store *st, int64_t data_id, uint32_t blob_key_id,
		       struct store_error *err);
int sq_cleanup_hashes_referenced(struct store *st, int64_t account_id,
				 const char *const *hashes, size_t count, bool *referenced_r,
				 struct store_error *err);

#endif
