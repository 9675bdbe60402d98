#ifndef SORA_STORE_STORE_H
#define SORA_STORE_STORE_H

/* Mail metadata: accounts, credentials, mailboxes, messages, Sieve scripts
   and auth rate-limit records, behind one interface with one driver per
   database (store-sqlite.c: the embedded default; PostgreSQL next).
   Message bodies live in the blob store (store/blob.h); here a message only
   records its content hash, size and the blob layer's key id.

   Calls are synchronous and may block on I/O: call them from worker
   threads, never from an event loop. A struct store is thread-safe: any
   number of threads may use one handle at once. Every write is one
   transaction, committed durably before the call returns 0, so an
   acknowledged delivery survives kill -9 and power loss.

   Conventions:
   - int functions return 0 on success, or -1 with *err set (err may be
     NULL). Out-parameters (_r) are set on success only.
   - Variable-sized results are allocated from the arena the caller passes
     and live as long as it does. Strings in results are NUL-terminated.
   - Times are Unix seconds (int64_t). Ids are > 0.
   - Input is validated here, before any driver sees it: a bad mailbox
     name, address, keyword or flag is STORE_INVALID, never an abort.
   - Error messages never contain password hashes or message content; a
     mailbox name or an address may appear in them.

   UIDs and MODSEQs (RFC 9051, RFC 7162): each mailbox has UIDVALIDITY,
   UIDNEXT and HIGHESTMODSEQ (1 for a new mailbox). An append takes UID =
   UIDNEXT and MODSEQ = ++HIGHESTMODSEQ in the same transaction; one flag
   update or expunge assigns one new MODSEQ to every message it changes.
   An expunged message stays as a tombstone carrying its expunged MODSEQ
   until cleanup removes it, so QRESYNC can report VANISHED UIDs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct store;

enum store_err {
	STORE_OK = 0,
	STORE_NOT_FOUND,  /* no such account, address, mailbox, script */
	STORE_EXISTS,     /* name or address already taken */
	STORE_INVALID,    /* bad input, or not allowed in this state */
	STORE_TEMPORARY,  /* busy, locked, I/O, disk full, connection lost: retry later */
	STORE_INTERNAL,   /* a bug or a corrupt database */
	STORE_ERR_COUNT
};

#define STORE_ERROR_MSG_MAX 256

struct store_error {
	enum store_err code;
	char msg[STORE_ERROR_MSG_MAX];
};

/* "not_found", "exists", ... for logs. */
const char *store_err_name(enum store_err code);

/* ---- opening ---------------------------------------------------------- */

struct store_settings {
	const char *driver;             /* "sqlite" (NULL = "sqlite") or "postgres" */
	const char *path;               /* sqlite: the database file */
	const char *write_conninfo;     /* postgres: [database.write] */
	const char *read_conninfo;      /* postgres: [database.read]; NULL = write */
	unsigned int read_connections;  /* reader pool size; 0 = 4 */
	unsigned int write_connections; /* postgres: writer pool size; 0 = 4 */
	unsigned int busy_timeout_ms;   /* wait for a lock held elsewhere; 0 = 5000 */
	/* Open without applying migrations (sora-admin migrate version|up).
	   Anything but the store_migrate_*() calls then fails unless the
	   schema is already current. */
	bool skip_migrations;
};

/* Opens (creating when needed) and migrates the database to the latest
   schema version in one transaction. A database written by a newer
   binary (a higher schema version) is refused with STORE_INVALID. */
int store_open(const struct store_settings *set, struct store **st_r, struct store_error *err);
/* Closes, sets *st = NULL; accepts NULL. No call may be in progress. */
void store_close(struct store **st);
const char *store_driver_name(const struct store *st);

/* Schema version applied and the latest this binary knows. */
int store_migrate_version(struct store *st, unsigned int *version_r, unsigned int *latest_r,
			  struct store_error *err);
/* Applies the missing migrations in one transaction; *applied_r = how many. */
int store_migrate_up(struct store *st, unsigned int *applied_r, struct store_error *err);

/* ---- shared validation (no database involved) ------------------------- */

#define STORE_ADDRESS_MAX 254       /* RFC 5321 path limit minus brackets */
#define STORE_PASSWORD_HASH_MAX 1024
#define STORE_MAILBOX_NAME_MAX 1000 /* bytes of UTF-8 */
#define STORE_MAILBOX_DEPTH_MAX 32
#define STORE_MAILBOX_DELIMITER '/'
#define STORE_KEYWORD_MAX 128
#define STORE_KEYWORDS_PER_MESSAGE_MAX 50
#define STORE_KEYWORDS_PER_MAILBOX_MAX 1000
#define STORE_SIEVE_NAME_MAX 512
#define STORE_SIEVE_SCRIPT_MAX (1024 * 1024)
#define STORE_FTS_TEXT_MAX (128 * 1024) /* body text beyond this is not indexed */

/* Lower-cases and checks "local@domain": one '@', both parts non-empty, no
   spaces or control characters, at most STORE_ADDRESS_MAX bytes. out must
   hold STORE_ADDRESS_MAX + 1 bytes. */
int store_address_normalize(const char *address, char *out, struct store_error *err);
/* "user+detail@domain" -> "user@domain" in place; false when there is no
   detail to strip (then addr is unchanged). addr must be normalised. */
bool store_address_strip_detail(char *addr);

/* Checks a mailbox name: valid UTF-8 (no overlong forms, surrogates or
   code points past U+10FFFF), no control characters (C0, DEL, C1), no '*'
   or '%' (LIST wildcards), no empty hierarchy level (leading, trailing or
   doubled '/'), at most STORE_MAILBOX_NAME_MAX bytes and
   STORE_MAILBOX_DEPTH_MAX levels. A first level equal to "INBOX" in any
   case is rewritten "INBOX". out must hold STORE_MAILBOX_NAME_MAX + 1. */
int store_mailbox_name_normalize(const char *name, char *out, struct store_error *err);
bool store_mailbox_name_is_inbox(const char *normalized_name);
/* Valid UTF-8 without control characters. */
bool store_utf8_is_valid(const char *s, size_t len);

/* ---- accounts and credentials ----------------------------------------- */

struct store_account {
	int64_t id;
	int64_t created_at;
	int64_t deleted_at;          /* 0 = live */
	const char *primary_address;
	/* Usage for QUOTA (RFC 9208): live (not expunged) messages of all
	   mailboxes, kept exact in the same transactions that change them. */
	uint64_t message_count;
	uint64_t total_bytes;
	/* Per-account QUOTA limits (bytes, messages); 0 = the server default
	   ([servers.imap] quota_storage / quota_messages). */
	uint64_t quota_storage;
	uint64_t quota_messages;
};

struct store_credential {
	int64_t account_id;
	const char *address;       /* normalised */
	const char *password_hash; /* as stored, e.g. "{BLF-CRYPT}$2b$..." */
	bool is_primary;
};

/* Creates an account with address as its primary credential and the
   default mailboxes INBOX, Sent, Drafts, Archive, Junk and Trash (with
   their special-use flags, all subscribed). STORE_EXISTS when the address
   belongs to any account, deleted ones included. */
int store_account_create(struct store *st, const char *address, const char *password_hash,
			 int64_t *account_id_r, struct store_error *err);
int store_account_get(struct store *st, int64_t account_id, struct arena *arena,
		      struct store_account *account_r, struct store_error *err);
/* All accounts ordered by id; deleted ones only when include_deleted. */
int store_account_list(struct store *st, bool include_deleted, struct arena *arena,
		       struct store_account **accounts_r, size_t *count_r, struct store_error *err);
/* The account owning address ("user+detail@domain" falls back to
   "user@domain" when the former is not itself an address). Deleted
   accounts are found only when include_deleted. */
int store_account_find(struct store *st, const char *address, bool include_deleted,
		       int64_t *account_id_r, struct store_error *err);
/* Soft delete: the account can no longer log in or receive mail, its data
   stays until cleanup purges it. STORE_NOT_FOUND when missing or already
   deleted. */
int store_account_delete(struct store *st, int64_t account_id, struct store_error *err);
/* Undoes store_account_delete(); STORE_INVALID when not deleted. */
int store_account_restore(struct store *st, int64_t account_id, struct store_error *err);
/* Sets the account's QUOTA limits; 0 = back to the server default.
   STORE_NOT_FOUND when there is no such account. */
int store_account_set_quota(struct store *st, int64_t account_id, uint64_t quota_storage,
			    uint64_t quota_messages, struct store_error *err);

/* For authentication: the credential for address (with the +detail
   fallback) of a live account. STORE_NOT_FOUND for unknown addresses and
   for deleted accounts alike. */
int store_credential_lookup(struct store *st, const char *address, struct arena *arena,
			    struct store_credential *cred_r, struct store_error *err);
/* Adds an address to an account; with make_primary it becomes the primary
   one (the old primary stays as a secondary address). */
int store_credential_add(struct store *st, int64_t account_id, const char *address,
			 const char *password_hash, bool make_primary, struct store_error *err);
/* STORE_INVALID for the primary address: make another one primary first. */
int store_credential_delete(struct store *st, const char *address, struct store_error *err);
int store_credential_set_password(struct store *st, const char *address,
				  const char *password_hash, struct store_error *err);
int store_credential_set_primary(struct store *st, const char *address,
				 struct store_error *err);
/* Primary first, then by address. */
int store_credential_list(struct store *st, int64_t account_id, struct arena *arena,
			  struct store_credential **creds_r, size_t *count_r,
			  struct store_error *err);

/* ---- mailboxes -------------------------------------------------------- */

/* RFC 6154 (and RFC 8457 \Important) special-use attributes. */
enum store_special_use {
	STORE_SPECIAL_ALL = 1 << 0,
	STORE_SPECIAL_ARCHIVE = 1 << 1,
	STORE_SPECIAL_DRAFTS = 1 << 2,
	STORE_SPECIAL_FLAGGED = 1 << 3,
	STORE_SPECIAL_JUNK = 1 << 4,
	STORE_SPECIAL_SENT = 1 << 5,
	STORE_SPECIAL_TRASH = 1 << 6,
	STORE_SPECIAL_IMPORTANT = 1 << 7,
	STORE_SPECIAL_MASK = (1 << 8) - 1
};

struct store_mailbox {
	int64_t id; /* also the RFC 8474 MAILBOXID; kept across RENAME */
	int64_t account_id;
	const char *name; /* normalised, '/'-separated */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;
	unsigned int special_use; /* enum store_special_use bits */
	bool is_subscribed;
	/* RFC 9051 DELETE of a mailbox with children: it stays as a \Noselect
	   name holding no messages. */
	bool is_noselect;
};

/* RFC 9051 STATUS items, from counters kept with every change (no scan).
   There is no \Recent: RECENT is always 0 for IMAP4rev1 clients. */
struct store_mailbox_status {
	uint32_t messages;
	uint32_t unseen;
	uint32_t deleted;         /* messages with \Deleted (STATUS DELETED) */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t first_unseen_uid; /* 0 = all seen */
	uint64_t size;            /* sum of message sizes (STATUS SIZE) */
	uint64_t highest_modseq;
};

/* Creates name and any missing parents (parents get no special-use).
   Creating a \Noselect name makes it selectable again with a new
   UIDVALIDITY. STORE_EXISTS when it exists; STORE_INVALID when a
   special-use bit is already carried by another mailbox of the account
   (RFC 6154 USEATTR). */
int store_mailbox_create(struct store *st, int64_t account_id, const char *name,
			 unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err);
/* By name; INBOX in any case. */
int store_mailbox_get(struct store *st, int64_t account_id, const char *name,
		      struct arena *arena, struct store_mailbox *mailbox_r,
		      struct store_error *err);
int store_mailbox_get_by_id(struct store *st, int64_t mailbox_id, struct arena *arena,
			    struct store_mailbox *mailbox_r, struct store_error *err);
/* Every mailbox of the account in tree order: INBOX and its children
   first, then by name bytewise with '/' sorting lowest, so each parent
   comes right before its children ("a", "a/b", "a b"). LIST patterns are
   the IMAP layer's business. */
int store_mailbox_list(struct store *st, int64_t account_id, struct arena *arena,
		       struct store_mailbox **mailboxes_r, size_t *count_r,
		       struct store_error *err);
/* RFC 9051: INBOX cannot be deleted (STORE_INVALID). A mailbox with
   children loses its messages and becomes \Noselect; a \Noselect mailbox
   with children cannot be deleted (STORE_INVALID, IMAP [HASCHILDREN]).
   Messages of a deleted mailbox are expunged (kept for cleanup).
   Subscriptions are not touched (RFC 9051 SUBSCRIBE). */
int store_mailbox_delete(struct store *st, int64_t account_id, const char *name,
			 struct store_error *err);
/* Renames a mailbox with all its children, keeping UIDVALIDITY, UIDs and
   subscriptions; missing parents of new_name are created. Renaming INBOX
   creates new_name, moves every INBOX message there (new UIDs) and leaves
   INBOX empty with its children in place (RFC 9051). STORE_EXISTS when
   new_name exists; STORE_INVALID when new_name is inside old_name. */
int store_mailbox_rename(struct store *st, int64_t account_id, const char *old_name,
			 const char *new_name, struct store_error *err);
/* Sets the special-use bits of a mailbox (same uniqueness rule as create). */
int store_mailbox_set_special_use(struct store *st, int64_t mailbox_id, unsigned int special_use,
				  struct store_error *err);
int store_mailbox_status(struct store *st, int64_t mailbox_id,
			 struct store_mailbox_status *status_r, struct store_error *err);
/* For SELECT: the UIDs of all live messages, ascending, and the status
   read in the same snapshot. uids is malloc()ed (free() it; NULL when the
   mailbox is empty) so that a session can keep and grow it: sequence
   number n is (*uids_r)[n - 1]. 100,000 messages take 400 KB. */
int store_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r, size_t *count_r,
		       struct store_mailbox_status *status_r, struct store_error *err);
/* Keywords ever used in the mailbox (FLAGS / PERMANENTFLAGS), in their
   first spelling, sorted case-insensitively. */
int store_mailbox_keywords(struct store *st, int64_t mailbox_id, struct arena *arena,
			   const char ***keywords_r, size_t *count_r, struct store_error *err);

/* Subscriptions are by name and may name mailboxes that do not exist
   (RFC 9051 SUBSCRIBE). Subscribing twice or unsubscribing a name that
   is not subscribed succeeds. */
int store_subscription_set(struct store *st, int64_t account_id, const char *name,
			   bool subscribed, struct store_error *err);
int store_subscription_list(struct store *st, int64_t account_id, struct arena *arena,
			    const char ***names_r, size_t *count_r, struct store_error *err);

/* ---- messages --------------------------------------------------------- */

enum store_flag {
	STORE_FLAG_SEEN = 1 << 0,
	STORE_FLAG_ANSWERED = 1 << 1,
	STORE_FLAG_FLAGGED = 1 << 2,
	STORE_FLAG_DELETED = 1 << 3,
	STORE_FLAG_DRAFT = 1 << 4,
	STORE_FLAG_MASK = (1 << 5) - 1
};

/* Parsed once by the MIME layer at delivery; stored as given and served
   back without re-parsing. Any pointer may be NULL (stored as empty). */
struct store_headers {
	const char *envelope;      /* IMAP ENVELOPE, ready to send */
	const char *bodystructure; /* IMAP BODYSTRUCTURE, ready to send */
	const char *subject;       /* decoded Subject (SEARCH SUBJECT) */
	const char *base_subject;  /* RFC 5256 base subject (SORT, THREAD) */
	const char *from;          /* decoded From, all addresses (SEARCH FROM) */
	const char *to;
	const char *cc;
	const char *bcc;
	const char *sort_from;     /* RFC 5256 sort keys: first address's mailbox */
	const char *sort_to;
	const char *sort_cc;
	const char *display_from;  /* RFC 5957 SORT=DISPLAY */
	const char *display_to;
	const char *message_id;
	const char *in_reply_to;
	const char *references;
	const char *preview;       /* RFC 8970 PREVIEW */
	int64_t sent_date;         /* Date: header; 0 = none */
	/* mime_parts_encode() of the part tree (offsets, sizes, lines), so
	   FETCH reads only the bytes of a section; NULL = not stored (mail
	   stored before schema version 2): FETCH parses the body. */
	const void *parts;
	size_t parts_len;
};

struct store_message_new {
	uint32_t flags;                 /* enum store_flag bits */
	const char *const *keywords;    /* IMAP atoms, not starting with '\' */
	size_t keyword_count;
	int64_t internal_date;
	uint64_t size;
	const char *content_hash;       /* 64 hex digits (BLAKE3 or SHA-256), opaque */
	uint32_t blob_key_id;           /* the blob layer's key id; opaque here */
	struct store_headers headers;
	/* Text the MIME layer extracted for SEARCH BODY/TEXT; NULL = none.
	   Indexed up to STORE_FTS_TEXT_MAX bytes. */
	const char *body_text;
};

/* Metadata is shared by every copy of the same content in an account:
   the first append of a content hash stores headers and body text, later
   ones (and COPY/MOVE) refer to them. */
struct store_append {
	int64_t mailbox_id;
	const struct store_message_new *msg;
	/* set on success: */
	uint32_t uid_r;
	uint32_t uidvalidity_r;
	uint64_t modseq_r;
};

/* Appends count messages in one transaction: all or none (MULTIAPPEND,
   RFC 3502). Items may go to different mailboxes and accounts (LMTP).
   STORE_NOT_FOUND for a missing mailbox, STORE_INVALID for a \Noselect
   one or bad input. */
int store_append_batch(struct store *st, struct store_append *items, size_t count,
		       struct store_error *err);
int store_append(struct store *st, int64_t mailbox_id, const struct store_message_new *msg,
		 uint32_t *uid_r, uint64_t *modseq_r, struct store_error *err);

/* UID sets are arrays of inclusive ranges; first <= last, any order. */
struct store_uid_range {
	uint32_t first;
	uint32_t last;
};

enum store_flags_op {
	STORE_FLAGS_ADD,     /* +FLAGS */
	STORE_FLAGS_REMOVE,  /* -FLAGS */
	STORE_FLAGS_REPLACE, /* FLAGS */
};

struct store_flags_update {
	enum store_flags_op op;
	uint32_t flags;
	const char *const *keywords;
	size_t keyword_count;
	/* RFC 7162 UNCHANGEDSINCE; 0 = unconditional. A message whose MODSEQ
	   is higher is left alone and reported in failed_uids. */
	uint64_t unchanged_since;
};

struct store_flags_result {
	uint32_t uid;
	uint32_t flags;
	uint64_t modseq;
	const char *keywords; /* space-separated, "" when none */
	bool changed;         /* false: already as asked, MODSEQ kept */
};

/* Changes the flags of the live messages of a UID set. Each message
   actually changed gets the one new MODSEQ of this call. results: every
   live message of the set that was not refused, ascending by UID.
   failed_uids: refused by UNCHANGEDSINCE (RFC 7162 [MODIFIED]). */
int store_flags_update(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		       size_t set_count, const struct store_flags_update *upd,
		       struct arena *arena, struct store_flags_result **results_r,
		       size_t *result_count_r, uint32_t **failed_uids_r, size_t *failed_count_r,
		       struct store_error *err);

/* Expunges live messages: those of the UID set (set == NULL: all), only
   those with \Deleted when deleted_only. They become tombstones carrying
   the one new MODSEQ (*modseq_r, 0 when nothing was expunged). uids:
   ascending. */
int store_expunge(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		  size_t set_count, bool deleted_only, struct arena *arena, uint32_t **uids_r,
		  size_t *count_r, uint64_t *modseq_r, struct store_error *err);

/* RFC 4315 COPYUID / RFC 6851 MOVE data. */
struct store_copy_result {
	uint32_t dst_uidvalidity;
	size_t count;
	uint32_t *src_uids; /* ascending */
	uint32_t *dst_uids; /* dst_uids[i] is the copy of src_uids[i] */
	uint64_t src_modseq; /* move: the expunge MODSEQ in the source */
};

/* Copies (or moves) the live messages of a UID set into dst, keeping
   flags, keywords and INTERNALDATE. A move expunges the sources in the
   same transaction. Both mailboxes must belong to one account
   (STORE_INVALID otherwise); dst must not be \Noselect; src == dst is
   allowed for copy only. */
int store_copy(struct store *st, int64_t src_mailbox_id, const struct store_uid_range *set,
	       size_t set_count, int64_t dst_mailbox_id, bool move, struct arena *arena,
	       struct store_copy_result *result_r, struct store_error *err);

enum store_fetch_field {
	STORE_FETCH_KEYWORDS = 1 << 0,     /* keywords (uid, modseq, flags always) */
	STORE_FETCH_DATES = 1 << 1,        /* internal_date, save_date */
	STORE_FETCH_SIZE = 1 << 2,
	STORE_FETCH_BLOB = 1 << 3,         /* content_hash, blob_key_id */
	STORE_FETCH_ENVELOPE = 1 << 4,
	STORE_FETCH_BODYSTRUCTURE = 1 << 5,
	STORE_FETCH_HEADERS = 1 << 6,      /* the store_headers sort/search fields */
	STORE_FETCH_PREVIEW = 1 << 7,
	STORE_FETCH_PARTS = 1 << 8,        /* headers.parts */
	STORE_FETCH_ALL = (1 << 9) - 1
};

/* Fields not asked for are 0 / NULL. */
struct store_message {
	uint32_t uid;
	uint32_t flags;
	uint64_t modseq;
	int64_t email_id; /* RFC 8474 EMAILID: same for copies of the same content */
	const char *keywords;
	int64_t internal_date;
	int64_t save_date; /* RFC 8514 SAVEDATE */
	uint64_t size;
	const char *content_hash;
	uint32_t blob_key_id;
	struct store_headers headers; /* envelope, bodystructure, preview, sort fields */
};

/* Called for each message in ascending UID order. msg and its strings
   are valid during the call only. Return 0 to go on, anything else to
   stop (store_fetch then returns 0). Must not call into the store. */
typedef int store_fetch_cb(const struct store_message *msg, void *ctx);

/* Streams the live messages of a UID set (set == NULL: all) with the
   fields asked for, from one snapshot. changed_since > 0 restricts to
   messages whose MODSEQ is higher (RFC 7162 CHANGEDSINCE) and walks the
   MODSEQ index instead of the UID set. */
int store_fetch(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		size_t set_count, unsigned int fields, uint64_t changed_since, store_fetch_cb *cb,
		void *ctx, struct store_error *err);

/* RFC 7162 / QRESYNC: live messages with MODSEQ > modseq (new or changed),
   and UIDs expunged after modseq, both ascending by UID. Index lookups:
   the cost depends on the number of changes, not the mailbox size. */
int store_changes_since(struct store *st, int64_t mailbox_id, uint64_t modseq,
			struct arena *arena, struct store_flags_result **changed_r,
			size_t *changed_count_r, uint32_t **vanished_r, size_t *vanished_count_r,
			struct store_error *err);

enum store_search_key {
	STORE_SEARCH_TEXT,    /* headers and body, full-text index */
	STORE_SEARCH_BODY,    /* body text, full-text index */
	STORE_SEARCH_SUBJECT, /* substring of these columns, ASCII case-insensitive */
	STORE_SEARCH_FROM,
	STORE_SEARCH_TO,
	STORE_SEARCH_CC,
	STORE_SEARCH_BCC,
	STORE_SEARCH_MESSAGE_ID,
	STORE_SEARCH_KEY_COUNT
};

/* UIDs of the live messages of a mailbox matching one criterion,
   ascending. The IMAP layer combines criteria (AND/OR/NOT) and evaluates
   flags, dates and sizes from store_fetch(). Full-text queries match the
   words of value as a phrase, the last word as a prefix; an empty value
   (no words) matches every message. */
int store_search(struct store *st, int64_t mailbox_id, enum store_search_key key,
		 const char *value, struct arena *arena, uint32_t **uids_r, size_t *count_r,
		 struct store_error *err);

/* ---- Sieve scripts ---------------------------------------------------- */

struct store_sieve_script {
	const char *name;
	const char *content; /* NULL in list results */
	bool is_active;
	int64_t updated_at;
};

/* Creates or replaces the script's content (its active state is kept). */
int store_sieve_put(struct store *st, int64_t account_id, const char *name,
		    const char *content, struct store_error *err);
int store_sieve_get(struct store *st, int64_t account_id, const char *name,
		    struct arena *arena, struct store_sieve_script *script_r,
		    struct store_error *err);
/* STORE_NOT_FOUND when no script is active. */
int store_sieve_get_active(struct store *st, int64_t account_id, struct arena *arena,
			   struct store_sieve_script *script_r, struct store_error *err);
/* By name. */
int store_sieve_list(struct store *st, int64_t account_id, struct arena *arena,
		     struct store_sieve_script **scripts_r, size_t *count_r,
		     struct store_error *err);
/* Makes name the only active script; name == NULL deactivates all. */
int store_sieve_activate(struct store *st, int64_t account_id, const char *name,
			 struct store_error *err);
/* STORE_INVALID for the active script (RFC 5804 DELETESCRIPT). */
int store_sieve_delete(struct store *st, int64_t account_id, const char *name,
		       struct store_error *err);
int store_sieve_rename(struct store *st, int64_t account_id, const char *old_name,
		       const char *new_name, struct store_error *err);

/* ---- change events (push) --------------------------------------------- */

/* A committed change to the messages of a mailbox: an append, a flag
   update, an expunge, or either side of a copy/move. modseq is the
   mailbox's HIGHESTMODSEQ after the change when known, 0 otherwise. */
struct store_change {
	int64_t mailbox_id;
	uint64_t modseq;
};

/* Called after every committed change made through this handle and, on
   PostgreSQL, by other nodes (LISTEN/NOTIFY). It runs on the thread that
   made the change (or the driver's listener thread): it must be quick,
   must not block and must not call into the store. Subscribers re-read
   what changed; an event may be delivered more than once. */
typedef void store_change_cb(const struct store_change *change, void *ctx);

#define STORE_WATCHERS_MAX 8

/* Registers cb. Not thread-safe against itself or against changes: call it
   while setting up, before the handle is shared. -1 when
   STORE_WATCHERS_MAX callbacks are registered already. */
int store_watch(struct store *st, store_change_cb *cb, void *ctx);

/* ---- auth rate limiting ----------------------------------------------- */

/* Usernames are lower-cased before they are stored or compared, so that
   changing case does not escape a limit. */
enum store_block_kind {
	STORE_BLOCK_IP,
	STORE_BLOCK_USER,
	STORE_BLOCK_KIND_COUNT
};

/* ip: printable text (IPv4, IPv6, or a prefix); username may be NULL. */
int store_auth_attempt_add(struct store *st, const char *ip, const char *username, bool success,
			   int64_t at, struct store_error *err);
/* Failed attempts at or after since, from ip (if not NULL) and by username
   (if not NULL); at least one must be given. */
int store_auth_failures(struct store *st, const char *ip, const char *username, int64_t since,
			uint32_t *count_r, struct store_error *err);
/* Blocks key until the given time (replacing an earlier block). */
int store_auth_block_set(struct store *st, enum store_block_kind kind, const char *key,
			 int64_t until, struct store_error *err);
/* *until_r = end of the block, or 0 when key is not blocked at now. */
int store_auth_block_get(struct store *st, enum store_block_kind kind, const char *key,
			 int64_t now, int64_t *until_r, struct store_error *err);
int store_auth_block_clear(struct store *st, enum store_block_kind kind, const char *key,
			   struct store_error *err);
/* Deletes attempts before `before` and blocks that ended before it. */
int store_auth_prune(struct store *st, int64_t before, struct store_error *err);

struct store_auth_block {
	enum store_block_kind kind;
	const char *key;
	int64_t until;
};
/* The blocks in force at now, by end, then kind and key (sora-admin auth
   blocked). STORE_INTERNAL "not supported" from a driver without it. */
int store_auth_block_list(struct store *st, int64_t now, struct arena *arena,
			  struct store_auth_block **blocks_r, size_t *count_r,
			  struct store_error *err);

/* ---- cleanup and blob bookkeeping (src/deliver/cleanup.c) -------------- */

/* Removing data for good happens in passes that the caller drives:

     store_cleanup_try_lock                one pass at a time, cluster-wide
     store_cleanup_accounts(before)        messages of accounts deleted before
     store_cleanup_expunged(before)        tombstones expunged before
     store_cleanup_unreferenced → delete each body from the blob store →
       store_cleanup_forget                the bodies' metadata rows
     store_cleanup_accounts(before)        account rows left with no data
     store_cleanup_unlock

   A body's metadata row goes only after its blob was deleted, so a failed
   blob delete is retried by the next pass instead of leaking the object.
   Every step is idempotent: two passes running at once (e.g. sora and
   sora-admin on one SQLite file) do the same deletes twice, harmlessly. */

/* One stored body: its metadata row (message_data) and what its blob key
   is built from. */
struct store_blob_ref {
	int64_t data_id;
	int64_t account_id;
	const char *address;      /* the account's primary address ("" if none) */
	const char *content_hash;
	uint32_t blob_key_id;     /* as recorded at append or by store_blob_set_key_id */
};

/* Takes the cleanup lock without waiting: *acquired_r false when another
   process or node holds it. Held until store_cleanup_unlock() or until the
   handle closes (PostgreSQL: a session advisory lock on one connection).
   SQLite: always acquired (one machine; passes are idempotent). */
int store_cleanup_try_lock(struct store *st, bool *acquired_r, struct store_error *err);
int store_cleanup_unlock(struct store *st, struct store_error *err);

/* Removes the tombstones (expunged message rows) whose expunged_at is
   before `before`, in every mailbox, detached ones included. QRESYNC then
   no longer reports them as VANISHED (clients resynchronise fully). */
int store_cleanup_expunged(struct store *st, int64_t before, uint64_t *removed_r,
			   struct store_error *err);

/* For accounts soft-deleted before `before`: removes all their message
   rows (their bodies then show up in store_cleanup_unreferenced), and
   deletes the account rows (credentials, mailboxes, Sieve scripts…) of
   those that have no body metadata left. *accounts_r: accounts deleted. */
int store_cleanup_accounts(struct store *st, int64_t before, uint64_t *messages_r,
			   uint64_t *accounts_r, struct store_error *err);

/* Up to limit bodies no message refers to any more, with data_id >
   after_id, ascending by data_id (page on with the last one's data_id). */
int store_cleanup_unreferenced(struct store *st, int64_t after_id, size_t limit,
			       struct arena *arena, struct store_blob_ref **refs_r,
			       size_t *count_r, struct store_error *err);

/* Deletes the metadata rows (and full-text rows) of these bodies, each
   only if still unreferenced. *forgotten_r: how many went. */
int store_cleanup_forget(struct store *st, const int64_t *data_ids, size_t count,
			 uint64_t *forgotten_r, struct store_error *err);

/* Every body, referenced or not, with data_id > after_id, ascending, up
   to limit (for re-encryption and verification tools). */
int store_blob_list(struct store *st, int64_t after_id, size_t limit, struct arena *arena,
		    struct store_blob_ref **refs_r, size_t *count_r, struct store_error *err);

/* Records the key a body is now encrypted with. STORE_NOT_FOUND when the
   row is gone. */
int store_blob_set_key_id(struct store *st, int64_t data_id, uint32_t blob_key_id,
			  struct store_error *err);

/* For the orphan sweep (bodies in the blob store that no metadata row
   names, left by a crash between a body's write and its metadata's
   commit): referenced_r[i] = whether account_id has a body metadata row
   (message_data) for hashes[i] (64 lowercase hex digits). A row counts
   even when no message refers to it any more: store_cleanup_unreferenced
   deletes that body. 1 <= count <= STORE_CLEANUP_HASHES_MAX. */
#define STORE_CLEANUP_HASHES_MAX 1000
int store_cleanup_hashes_referenced(struct store *st, int64_t account_id,
				    const char *const *hashes, size_t count, bool *referenced_r,
				    struct store_error *err);

#endif
