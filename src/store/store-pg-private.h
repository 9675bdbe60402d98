#ifndef SORA_STORE_STORE_PG_PRIVATE_H
#define SORA_STORE_STORE_PG_PRIVATE_H

/* Shared by the PostgreSQL driver's files: store-pg.c (connection pools,
   statement cache, transactions, errors, migrations, the LISTEN thread,
   the vtable), store-pg-account.c (accounts, credentials, Sieve, auth
   records), store-pg-mailbox.c (mailboxes, subscriptions, status) and
   store-pg-message.c (append, flags, expunge, copy, fetch, search).

   Same shape as the SQLite driver (store-sqlite-private.h) so that the two
   read side by side; the differences:
   - Two pools of libpq connections: writers ([database.write]) and readers
     ([database.read], the write server when absent). A connection is used
     by one thread at a time. Writers run concurrently; what SQLite gets from
     its single writer, PostgreSQL gets from row locks: every write that
     allocates UIDs or MODSEQs first locks its mailbox rows (SELECT ... FOR
     UPDATE, several in id order so two writers never deadlock).
   - Every statement goes through PQprepare/PQexecPrepared with typed
     parameters (int8 as text, text in binary format with its length), so
     no user data is ever part of the SQL text.
   - A lost connection (server restart, network) fails the call with
     STORE_TEMPORARY and is dropped; the next call reconnects.
   - Changes are also announced with NOTIFY sora_changes, '<mailbox> <modseq>'
     inside the writing transaction; a listener thread turns other
     backends' notifications into store_changed() calls. */

#include "store/store-private.h"

#include "lib/util.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

struct arena;

#define PG_PARAMS_MAX 40
#define PG_NOTIFY_CHANNEL "sora_changes"

struct pg_stmt_slot {
	char *sql; /* owned copy, NULL = free slot */
	uint32_t hash;
	unsigned int id; /* statement name "s<id>" */
};

struct pg_pool;

struct pg_conn {
	PGconn *db; /* NULL: not connected (yet, or after a failure) */
	struct pg_stmt_slot *slots;
	size_t slot_count, slot_used; /* slot_count: power of two */
	unsigned int next_id;
	atomic_int be_pid; /* server process id, for the listener's filter */
	bool in_use;
	struct pg_pool *pool;
};

struct pg_pool {
	const char *what; /* "write" / "read", for messages */
	char *conninfo;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pg_conn *conns;
	unsigned int count;
};

struct store_pg {
	struct store store;
	struct pg_pool writers, readers;
	unsigned int lock_timeout_ms;

	/* store_cleanup_try_lock: a session advisory lock on its own
	   connection, so that it lives exactly as long as that session */
	pthread_mutex_t cleanup_mutex;
	struct pg_conn cleanup_conn;
	bool cleanup_held;

	/* LISTEN thread */
	pthread_t listener;
	bool listener_started;
	int stop_pipe[2];
};

static inline struct store_pg *pg_from(struct store *st)
{
	return (struct store_pg *)st;
}

/* ---- parameters -------------------------------------------------------- */

struct pg_params {
	int n;
	Oid types[PG_PARAMS_MAX];
	const char *values[PG_PARAMS_MAX];
	int lengths[PG_PARAMS_MAX];
	int formats[PG_PARAMS_MAX];
	char nums[PG_PARAMS_MAX][24];
};

/* $n+1 as int8. */
void pg_p_int(struct pg_params *p, int64_t v);
/* $n+1 as text (NULL = SQL NULL); the bytes must live until the call. */
void pg_p_text(struct pg_params *p, const char *s);
void pg_p_textn(struct pg_params *p, const char *s, size_t len);
/* "" for NULL. */
void pg_p_text0(struct pg_params *p, const char *s);
void pg_p_bool(struct pg_params *p, bool v);
/* $n+1 as bytea, binary (NULL = SQL NULL). */
void pg_p_bytea(struct pg_params *p, const void *data, size_t len);
/* An array literal built with pg_arr_*() (text format), of type oid. */
void pg_p_array(struct pg_params *p, const struct buf *literal, Oid oid);

#define PG_INT8ARRAYOID 1016
#define PG_INT4ARRAYOID 1007
#define PG_TEXTARRAYOID 1009

/* "{1,2,3}" / "{\"a\",\"b\"}" literals for pg_p_array. */
void pg_arr_int(struct buf *b, int64_t v);
void pg_arr_text(struct buf *b, const char *s);
void pg_arr_close(struct buf *b);

/* ---- store-pg.c -------------------------------------------------------- */

/* (Re)connects c to its pool's server. */
int pg_conn_connect(struct store_pg *pg, struct pg_conn *c, struct store_error *err);
void pg_conn_disconnect(struct pg_conn *c);

/* Write transaction on a pooled write connection. Every begin is followed
   by exactly one commit or rollback; commit releases the connection
   whatever happens (rolled back on failure). */
int pg_write_begin(struct store_pg *pg, struct pg_conn **c_r, struct store_error *err);
int pg_write_commit(struct store_pg *pg, struct pg_conn *c, struct store_error *err);
void pg_write_rollback(struct store_pg *pg, struct pg_conn *c);
/* Read-only REPEATABLE READ snapshot on a pooled read connection. */
int pg_read_begin(struct store_pg *pg, struct pg_conn **c_r, struct store_error *err);
void pg_read_end(struct store_pg *pg, struct pg_conn *c);

/* Runs sql (prepared once per connection) with p (NULL = none). The
   result is PGRES_TUPLES_OK or PGRES_COMMAND_OK: PQclear() it. NULL with
   *err set on failure. */
PGresult *pg_exec(struct pg_conn *c, const char *sql, const struct pg_params *p,
		  struct store_error *err);
/* Prepares sql on c unless done already (not in pipeline mode); name
   receives the statement's name. */
int pg_prepare(struct pg_conn *c, const char *sql, const struct pg_params *p, char *name,
	       size_t name_size, struct store_error *err);
/* Sets *err from a failed result (or none) and clears it; -1. */
int pg_fail_result(struct pg_conn *c, PGresult *r, struct store_error *err);
/* pg_exec and PQclear: 0 or -1. *changes_r (may be NULL): rows affected. */
int pg_run(struct pg_conn *c, const char *sql, const struct pg_params *p, uint64_t *changes_r,
	   struct store_error *err);
/* First column of the first row: 1 = found, 0 = no row, -1 = error. */
int pg_query_int(struct pg_conn *c, const char *sql, const struct pg_params *p, int64_t *v_r,
		 struct store_error *err);

/* All-int parameter front ends, as in the SQLite driver. */
int pg_run_intv(struct pg_conn *c, const char *sql, const int64_t *args, size_t count,
		struct store_error *err);
int pg_query_intv(struct pg_conn *c, const char *sql, int64_t *v_r, const int64_t *args,
		  size_t count, struct store_error *err);
#define PG_INT_ARGS(...)                                                                      \
	(const int64_t[]){ __VA_ARGS__ }, ARRAY_SIZE(((const int64_t[]){ __VA_ARGS__ }))
#define pg_run_ints(c, sql, err, ...) pg_run_intv(c, sql, PG_INT_ARGS(__VA_ARGS__), err)
#define pg_query_ints(c, sql, v_r, err, ...)                                                  \
	pg_query_intv(c, sql, v_r, PG_INT_ARGS(__VA_ARGS__), err)

/* Column access: NULL reads as 0 / "". */
int64_t pg_int(const PGresult *r, int row, int col);
bool pg_bool(const PGresult *r, int row, int col);
const char *pg_text(const PGresult *r, int row, int col);
const char *pg_dup(struct arena *arena, const PGresult *r, int row, int col);

/* NOTIFY sora_changes for a committed-with-this-transaction change. */
int pg_notify_change(struct pg_conn *c, int64_t mailbox_id, uint64_t modseq,
		     struct store_error *err);

int64_t pg_now(void);
int pg_not_found(struct store_error *err, const char *what, int64_t id);

/* text as PostgreSQL accepts it: invalid UTF-8 sequences become U+FFFD.
   Returns s itself when it is valid already, else a copy in arena. */
const char *pg_utf8_clean(struct arena *arena, const char *s, size_t len, size_t *len_r);

/* A growable uint32_t array in an arena. */
struct pg_u32vec {
	uint32_t *v;
	size_t n, cap;
};
void pg_u32vec_push(struct arena *arena, struct pg_u32vec *vec, uint32_t x);

/* ---- full-text (store-pg-message.c) ------------------------------------ */

/* Words as the search side sees them (store_search_words), ASCII
   lower-cased and Latin diacritics removed, space-separated: what both
   to_tsvector('simple', ...) and to_tsquery('simple', ...) get, so that
   documents and queries are tokenised the same way. */
void pg_fts_words(const char *text, size_t len, struct buf *out);

/* ---- store-pg-mailbox.c ------------------------------------------------ */

struct pg_mailbox {
	int64_t id;
	int64_t account_id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;
	bool is_noselect;
	int64_t d_messages, d_unseen, d_deleted, d_bytes;
};

/* Loads and row-locks a mailbox of a live account: STORE_NOT_FOUND
   otherwise. */
int pg_mailbox_load(struct pg_conn *c, int64_t mailbox_id, struct pg_mailbox *mb,
		    struct store_error *err);
/* Before a write that changes messages and counters: locks the accounts
   of these mailboxes, then the mailboxes, each in id order (ids may
   repeat). Every writer takes account rows before mailbox rows (the
   mailbox tree operations lock the account first too), so two writers
   never wait for each other in a circle. Flag updates, which never touch
   the account row, lock their one mailbox only. */
int pg_mailbox_lock_ids(struct pg_conn *c, const int64_t *ids, size_t count,
			struct store_error *err);
int pg_mailbox_save(struct pg_conn *c, struct pg_mailbox *mb, struct store_error *err);
int pg_mailbox_create_in(struct pg_conn *c, int64_t account_id, const char *name,
			 unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err);
int pg_keywords_canonical(struct pg_conn *c, int64_t mailbox_id, const char *const *kw,
			  size_t count, char (*storage)[STORE_KEYWORD_MAX + 1],
			  const char **canon_r, struct store_error *err);
/* In a write transaction: STORE_NOT_FOUND unless the account is live;
   locks the account row (KEY SHARE) against a concurrent purge. */
int pg_account_check_live(struct pg_conn *c, int64_t account_id, struct store_error *err);

/* ---- store-pg-message.c ------------------------------------------------ */

int pg_copy_in(struct pg_conn *c, struct pg_mailbox *src, const struct store_uid_range *set,
	       size_t set_count, struct pg_mailbox *dst, bool move, struct arena *arena,
	       struct store_copy_result *result_r, struct store_error *err);

/* ---- vtable entries, by file ------------------------------------------- */

int pg_account_create(struct store *st, const char *address, const char *password_hash,
		      int64_t *account_id_r, struct store_error *err);
int pg_account_get(struct store *st, int64_t account_id, struct arena *arena,
		   struct store_account *account_r, struct store_error *err);
int pg_account_list(struct store *st, bool include_deleted, struct arena *arena,
		    struct store_account **accounts_r, size_t *count_r, struct store_error *err);
int pg_account_find(struct store *st, const char *address, bool include_deleted,
		    int64_t *account_id_r, struct store_error *err);
int pg_account_delete(struct store *st, int64_t account_id, struct store_error *err);
int pg_account_restore(struct store *st, int64_t account_id, struct store_error *err);
int pg_account_set_quota(struct store *st, int64_t account_id, uint64_t quota_storage,
			 uint64_t quota_messages, struct store_error *err);
int pg_credential_lookup(struct store *st, const char *address, struct arena *arena,
			 struct store_credential *cred_r, struct store_error *err);
int pg_credential_add(struct store *st, int64_t account_id, const char *address,
		      const char *password_hash, bool make_primary, struct store_error *err);
int pg_credential_delete(struct store *st, const char *address, struct store_error *err);
int pg_credential_set_password(struct store *st, const char *address, const char *password_hash,
			       struct store_error *err);
int pg_credential_set_primary(struct store *st, const char *address, struct store_error *err);
int pg_credential_list(struct store *st, int64_t account_id, struct arena *arena,
		       struct store_credential **creds_r, size_t *count_r,
		       struct store_error *err);
int pg_sieve_put(struct store *st, int64_t account_id, const char *name, const char *content,
		 struct store_error *err);
int pg_sieve_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		 struct store_sieve_script *script_r, struct store_error *err);
int pg_sieve_list(struct store *st, int64_t account_id, struct arena *arena,
		  struct store_sieve_script **scripts_r, size_t *count_r, struct store_error *err);
int pg_sieve_activate(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err);
int pg_sieve_delete(struct store *st, int64_t account_id, const char *name,
		    struct store_error *err);
int pg_sieve_rename(struct store *st, int64_t account_id, const char *old_name,
		    const char *new_name, struct store_error *err);
int pg_auth_attempt_add(struct store *st, const char *ip, const char *username, bool success,
			int64_t at, struct store_error *err);
int pg_auth_failures(struct store *st, const char *ip, const char *username, int64_t since,
		     uint32_t *count_r, struct store_error *err);
int pg_auth_block_set(struct store *st, enum store_block_kind kind, const char *key,
		      int64_t until, struct store_error *err);
int pg_auth_block_get(struct store *st, enum store_block_kind kind, const char *key, int64_t now,
		      int64_t *until_r, struct store_error *err);
int pg_auth_prune(struct store *st, int64_t before, struct store_error *err);
int pg_auth_block_list(struct store *st, int64_t now, struct arena *arena,
		       struct store_auth_block **blocks_r, size_t *count_r,
		       struct store_error *err);

int pg_cleanup_try_lock(struct store *st, bool *acquired_r, struct store_error *err);
int pg_cleanup_unlock(struct store *st, struct store_error *err);
int pg_cleanup_expunged(struct store *st, int64_t before, uint64_t *removed_r,
			struct store_error *err);
int pg_cleanup_accounts(struct store *st, int64_t before, uint64_t *messages_r,
			uint64_t *accounts_r, struct store_error *err);
int pg_cleanup_unreferenced(struct store *st, int64_t after_id, size_t limit,
			    struct arena *arena, struct store_blob_ref **refs_r, size_t *count_r,
			    struct store_error *err);
int pg_cleanup_forget(struct store *st, const int64_t *data_ids, size_t count,
		      uint64_t *forgotten_r, struct store_error *err);
int pg_blob_list(struct store *st, int64_t after_id, size_t limit, struct arena *arena,
		 struct store_blob_ref **refs_r, size_t *count_r, struct store_error *err);
int pg_blob_set_key_id(struct store *st, int64_t data_id, uint32_t blob_key_id,
		       struct store_error *err);
int pg_cleanup_hashes_referenced(struct store *st, int64_t account_id,
				 const char *const *hashes, size_t count, bool *referenced_r,
				 struct store_error *err);

int pg_mailbox_create(struct store *st, int64_t account_id, const char *name,
		      unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err);
int pg_mailbox_get(struct store *st, int64_t account_id, const char *name, struct arena *arena,
		   struct store_mailbox *mailbox_r, struct store_error *err);
int pg_mailbox_get_by_id(struct store *st, int64_t mailbox_id, struct arena *arena,
			 struct store_mailbox *mailbox_r, struct store_error *err);
int pg_mailbox_list(struct store *st, int64_t account_id, struct arena *arena,
		    struct store_mailbox **mailboxes_r, size_t *count_r, struct store_error *err);
int pg_mailbox_delete(struct store *st, int64_t account_id, const char *name,
		      struct store_error *err);
int pg_mailbox_rename(struct store *st, int64_t account_id, const char *old_name,
		      const char *new_name, struct store_error *err);
int pg_mailbox_set_special_use(struct store *st, int64_t mailbox_id, unsigned int special_use,
			       struct store_error *err);
int pg_mailbox_status(struct store *st, int64_t mailbox_id,
		      struct store_mailbox_status *status_r, struct store_error *err);
int pg_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r, size_t *count_r,
		    struct store_mailbox_status *status_r, struct store_error *err);
int pg_mailbox_keywords(struct store *st, int64_t mailbox_id, struct arena *arena,
			const char ***keywords_r, size_t *count_r, struct store_error *err);
int pg_subscription_set(struct store *st, int64_t account_id, const char *name, bool subscribed,
			struct store_error *err);
int pg_subscription_list(struct store *st, int64_t account_id, struct arena *arena,
			 const char ***names_r, size_t *count_r, struct store_error *err);

int pg_append_batch(struct store *st, struct store_append *items,
		    const struct store_message_in *in, size_t count, struct store_error *err);
int pg_flags_update(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		    size_t set_count, const struct store_flags_update *upd, struct arena *arena,
		    struct store_flags_result **results_r, size_t *result_count_r,
		    uint32_t **failed_uids_r, size_t *failed_count_r, struct store_error *err);
int pg_expunge(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	       size_t set_count, bool deleted_only, struct arena *arena, uint32_t **uids_r,
	       size_t *count_r, uint64_t *modseq_r, struct store_error *err);
int pg_copy(struct store *st, int64_t src_mailbox_id, const struct store_uid_range *set,
	    size_t set_count, int64_t dst_mailbox_id, bool move, struct arena *arena,
	    struct store_copy_result *result_r, struct store_error *err);
int pg_fetch(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
	     size_t set_count, unsigned int fields, uint64_t changed_since, store_fetch_cb *cb,
	     void *ctx, struct store_error *err);
int pg_changes_since(struct store *st, int64_t mailbox_id, uint64_t modseq, struct arena *arena,
		     struct store_flags_result **changed_r, size_t *changed_count_r,
		     uint32_t **vanished_r, size_t *vanished_count_r, struct store_error *err);
int pg_search(struct store *st, int64_t mailbox_id, enum store_search_key key, const char *value,
	      const char *const *words, size_t word_count, struct arena *arena, uint32_t **uids_r,
	      size_t *count_r, struct store_error *err);

#endif
