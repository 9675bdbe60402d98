#ifndef SORA_STORE_STORE_PRIVATE_H
#define SORA_STORE_STORE_PRIVATE_H

/* The metadata driver interface. store.c checks and normalises every
   argument, then calls the driver through struct store_vfuncs, so a driver
   may assume:
   - addresses are normalised (store_address_normalize) and at most
     STORE_ADDRESS_MAX bytes; password hashes are non-empty printable text;
   - mailbox names are normalised (store_mailbox_name_normalize);
   - keywords are valid IMAP atoms, unique case-insensitively, at most
     STORE_KEYWORDS_PER_MESSAGE_MAX of them; flags are within
     STORE_FLAG_MASK; special_use within STORE_SPECIAL_MASK;
   - UID sets are sorted, merged (no overlap or adjacency) and have
     1 <= first <= last; a NULL set is passed as the single range
     1:4294967295; set_count may be 0 (nothing matches);
   - ids are > 0, out-parameters are not NULL, err is not NULL;
   - a struct store_message_new has a 64-hex content hash and its
     body_text is already cut to STORE_FTS_TEXT_MAX bytes at a UTF-8
     boundary (body_text_len).

   A driver must be thread-safe, make every write one durable transaction,
   and map its failures onto enum store_err (busy, locks, I/O and lost
   connections are STORE_TEMPORARY). tests/unit/test_store.c is the
   conformance suite every driver passes unchanged. */

#include "store/store.h"

#include "lib/str.h"

#include <stdarg.h>

struct store_vfuncs;

struct store_watcher {
	store_change_cb *cb;
	void *ctx;
};

/* The first member of every driver's handle; drivers allocate it zeroed. */
struct store {
	const struct store_vfuncs *v;
	struct store_watcher watchers[STORE_WATCHERS_MAX];
	/* published with release after the entry is written: a driver's
	   listener thread may already call store_changed() while watchers
	   are being registered */
	_Atomic size_t watcher_count;
};

/* What store.c hands to the driver for one message. */
struct store_message_in {
	const struct store_message_new *msg;
	const char *const *keywords; /* checked, unique case-insensitively */
	size_t keyword_count;
	size_t body_text_len;
};

struct store_vfuncs {
	const char *name;
	int (*open)(const struct store_settings *set, struct store **st_r,
		    struct store_error *err);
	void (*close)(struct store *st);
	int (*migrate_version)(struct store *st, unsigned int *version_r,
			       struct store_error *err);
	int (*migrate_up)(struct store *st, unsigned int *applied_r, struct store_error *err);

	int (*account_create)(struct store *st, const char *address, const char *password_hash,
			      int64_t *account_id_r, struct store_error *err);
	int (*account_get)(struct store *st, int64_t account_id, struct arena *arena,
			   struct store_account *account_r, struct store_error *err);
	int (*account_list)(struct store *st, bool include_deleted, struct arena *arena,
			    struct store_account **accounts_r, size_t *count_r,
			    struct store_error *err);
	/* Exact address only; store.c does the +detail fallback. */
	int (*account_find)(struct store *st, const char *address, bool include_deleted,
			    int64_t *account_id_r, struct store_error *err);
	int (*account_delete)(struct store *st, int64_t account_id, struct store_error *err);
	int (*account_restore)(struct store *st, int64_t account_id, struct store_error *err);
	/* may be NULL (driver without schema version 2) */
	int (*account_set_quota)(struct store *st, int64_t account_id, uint64_t quota_storage,
				 uint64_t quota_messages, struct store_error *err);

	/* Exact address only, live accounts only. */
	int (*credential_lookup)(struct store *st, const char *address, struct arena *arena,
				 struct store_credential *cred_r, struct store_error *err);
	int (*credential_add)(struct store *st, int64_t account_id, const char *address,
			      const char *password_hash, bool make_primary,
			      struct store_error *err);
	int (*credential_delete)(struct store *st, const char *address, struct store_error *err);
	int (*credential_set_password)(struct store *st, const char *address,
				       const char *password_hash, struct store_error *err);
	int (*credential_set_primary)(struct store *st, const char *address,
				      struct store_error *err);
	int (*credential_list)(struct store *st, int64_t account_id, struct arena *arena,
			       struct store_credential **creds_r, size_t *count_r,
			       struct store_error *err);

	int (*mailbox_create)(struct store *st, int64_t account_id, const char *name,
			      unsigned int special_use, int64_t *mailbox_id_r,
			      struct store_error *err);
	int (*mailbox_get)(struct store *st, int64_t account_id, const char *name,
			   struct arena *arena, struct store_mailbox *mailbox_r,
			   struct store_error *err);
	int (*mailbox_get_by_id)(struct store *st, int64_t mailbox_id, struct arena *arena,
				 struct store_mailbox *mailbox_r, struct store_error *err);
	int (*mailbox_list)(struct store *st, int64_t account_id, struct arena *arena,
			    struct store_mailbox **mailboxes_r, size_t *count_r,
			    struct store_error *err);
	int (*mailbox_delete)(struct store *st, int64_t account_id, const char *name,
			      struct store_error *err);
	int (*mailbox_rename)(struct store *st, int64_t account_id, const char *old_name,
			      const char *new_name, struct store_error *err);
	int (*mailbox_set_special_use)(struct store *st, int64_t mailbox_id,
				       unsigned int special_use, struct store_error *err);
	int (*mailbox_status)(struct store *st, int64_t mailbox_id,
			      struct store_mailbox_status *status_r, struct store_error *err);
	int (*mailbox_uids)(struct store *st, int64_t mailbox_id, uint32_t **uids_r,
			    size_t *count_r, struct store_mailbox_status *status_r,
			    struct store_error *err);
	int (*mailbox_keywords)(struct store *st, int64_t mailbox_id, struct arena *arena,
				const char ***keywords_r, size_t *count_r,
				struct store_error *err);
	int (*subscription_set)(struct store *st, int64_t account_id, const char *name,
				bool subscribed, struct store_error *err);
	int (*subscription_list)(struct store *st, int64_t account_id, struct arena *arena,
				 const char ***names_r, size_t *count_r,
				 struct store_error *err);

	/* in[i] describes items[i].msg. */
	int (*append_batch)(struct store *st, struct store_append *items,
			    const struct store_message_in *in, size_t count,
			    struct store_error *err);
	/* Keywords of upd are checked and deduplicated already. */
	int (*flags_update)(struct store *st, int64_t mailbox_id,
			    const struct store_uid_range *set, size_t set_count,
			    const struct store_flags_update *upd, struct arena *arena,
			    struct store_flags_result **results_r, size_t *result_count_r,
			    uint32_t **failed_uids_r, size_t *failed_count_r,
			    struct store_error *err);
	int (*expunge)(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		       size_t set_count, bool deleted_only, struct arena *arena,
		       uint32_t **uids_r, size_t *count_r, uint64_t *modseq_r,
		       struct store_error *err);
	int (*copy)(struct store *st, int64_t src_mailbox_id, const struct store_uid_range *set,
		    size_t set_count, int64_t dst_mailbox_id, bool move, struct arena *arena,
		    struct store_copy_result *result_r, struct store_error *err);
	int (*fetch)(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		     size_t set_count, unsigned int fields, uint64_t changed_since,
		     store_fetch_cb *cb, void *ctx, struct store_error *err);
	int (*changes_since)(struct store *st, int64_t mailbox_id, uint64_t modseq,
			     struct arena *arena, struct store_flags_result **changed_r,
			     size_t *changed_count_r, uint32_t **vanished_r,
			     size_t *vanished_count_r, struct store_error *err);
	/* words: the value split by store_search_words(); word_count 0
	   means "every live message". */
	int (*search)(struct store *st, int64_t mailbox_id, enum store_search_key key,
		      const char *value, const char *const *words, size_t word_count,
		      struct arena *arena, uint32_t **uids_r, size_t *count_r,
		      struct store_error *err);

	int (*sieve_put)(struct store *st, int64_t account_id, const char *name,
			 const char *content, struct store_error *err);
	/* name == NULL: the active script. */
	int (*sieve_get)(struct store *st, int64_t account_id, const char *name,
			 struct arena *arena, struct store_sieve_script *script_r,
			 struct store_error *err);
	int (*sieve_list)(struct store *st, int64_t account_id, struct arena *arena,
			  struct store_sieve_script **scripts_r, size_t *count_r,
			  struct store_error *err);
	int (*sieve_activate)(struct store *st, int64_t account_id, const char *name,
			      struct store_error *err);
	int (*sieve_delete)(struct store *st, int64_t account_id, const char *name,
			    struct store_error *err);
	int (*sieve_rename)(struct store *st, int64_t account_id, const char *old_name,
			    const char *new_name, struct store_error *err);

	/* username already lower-cased (or NULL). */
	int (*auth_attempt_add)(struct store *st, const char *ip, const char *username,
				bool success, int64_t at, struct store_error *err);
	int (*auth_failures)(struct store *st, const char *ip, const char *username,
			     int64_t since, uint32_t *count_r, struct store_error *err);
	/* until == 0: clear. */
	int (*auth_block_set)(struct store *st, enum store_block_kind kind, const char *key,
			      int64_t until, struct store_error *err);
	int (*auth_block_get)(struct store *st, enum store_block_kind kind, const char *key,
			      int64_t now, int64_t *until_r, struct store_error *err);
	int (*auth_prune)(struct store *st, int64_t before, struct store_error *err);

	/* cleanup and blob bookkeeping (store.h); appended for the drivers */
	int (*cleanup_try_lock)(struct store *st, bool *acquired_r, struct store_error *err);
	int (*cleanup_unlock)(struct store *st, struct store_error *err);
	int (*cleanup_expunged)(struct store *st, int64_t before, uint64_t *removed_r,
				struct store_error *err);
	int (*cleanup_accounts)(struct store *st, int64_t before, uint64_t *messages_r,
				uint64_t *accounts_r, struct store_error *err);
	int (*cleanup_unreferenced)(struct store *st, int64_t after_id, size_t limit,
				    struct arena *arena, struct store_blob_ref **refs_r,
				    size_t *count_r, struct store_error *err);
	/* data_ids: count >= 1 */
	int (*cleanup_forget)(struct store *st, const int64_t *data_ids, size_t count,
			      uint64_t *forgotten_r, struct store_error *err);
	int (*blob_list)(struct store *st, int64_t after_id, size_t limit, struct arena *arena,
			 struct store_blob_ref **refs_r, size_t *count_r, struct store_error *err);
	int (*blob_set_key_id)(struct store *st, int64_t data_id, uint32_t blob_key_id,
			       struct store_error *err);
	/* NULL: not supported (store.c says so) */
	int (*auth_block_list)(struct store *st, int64_t now, struct arena *arena,
			       struct store_auth_block **blocks_r, size_t *count_r,
			       struct store_error *err);
	/* 1 <= count <= STORE_CLEANUP_HASHES_MAX, hashes checked by store.c */
	int (*cleanup_hashes_referenced)(struct store *st, int64_t account_id,
					 const char *const *hashes, size_t count,
					 bool *referenced_r, struct store_error *err);
};

extern const struct store_vfuncs store_sqlite_vfuncs;
extern const struct store_vfuncs store_pg_vfuncs;

/* ---- helpers for drivers (store.c) ------------------------------------ */

/* Tells every watcher about a change. store.c calls it after each
   successful write; a driver calls it for changes made elsewhere (the
   PostgreSQL listener thread for other nodes' NOTIFY). */
void store_changed(struct store *st, int64_t mailbox_id, uint64_t modseq);

void store_error_set(struct store_error *err, enum store_err code, const char *fmt, ...)
	PRINTF_FMT(3, 4);

struct store_default_mailbox {
	const char *name;
	unsigned int special_use;
};
/* INBOX, Sent, Drafts, Archive, Junk, Trash: what a new account gets. */
extern const struct store_default_mailbox store_default_mailboxes[];
extern const size_t store_default_mailbox_count;

/* Length of the parent of a normalised name ("a/b/c" -> 3 for "a/b"), or
   0 for a top-level name. */
size_t store_mailbox_name_parent_len(const char *name);

/* Applies op with keywords kw (canonical spellings) to the stored keyword
   string current ("" or space-separated, sorted case-insensitively) and
   writes the result, in the same form, to out (cleared first). -1 when
   the result would hold more than STORE_KEYWORDS_PER_MESSAGE_MAX. */
int store_keywords_apply(const char *current, enum store_flags_op op, const char *const *kw,
			 size_t kw_count, struct buf *out);
/* The stored form of a keyword list (REPLACE onto ""). */
int store_keywords_join(const char *const *kw, size_t kw_count, struct buf *out);

/* New flags after op; flags outside STORE_FLAG_MASK are kept as they are. */
uint32_t store_flags_apply(uint32_t current, enum store_flags_op op, uint32_t flags);

/* The header text indexed for SEARCH TEXT: subject, from, to, cc, bcc
   and message-id, newline-separated, appended to out. */
void store_fts_headers(const struct store_headers *h, struct buf *out);

/* Splits a search value into words as full-text tokenizers see them
   (runs of letters and digits; any byte >= 0x80 counts as a letter). */
void store_search_words(const char *value, struct arena *arena, const char ***words_r,
			size_t *count_r);

/* Every range of set, in order. */
static inline uint64_t store_uid_set_size(const struct store_uid_range *set, size_t count)
{
	uint64_t n = 0;

	for (size_t i = 0; i < count; i++)
		n += (uint64_t)set[i].last - set[i].first + 1;
	return n;
}

#endif
