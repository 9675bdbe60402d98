#ifndef SORA_STORE_BLOB_H
#define SORA_STORE_BLOB_H

/* Message bodies ("blobs"): one interface, several drivers.

   A struct blob is an opened driver instance: "fs" (a local directory),
   "s3" (an S3-compatible object store, SigV4, path-style) or a wrapper
   around another instance: "crypt" (AES-256-GCM, Sora's object layout)
   and "failing" (fails chosen calls, for storage tests). Wrappers own the
   instance they wrap; blob_close() closes the whole chain.

   Threads: every function here may be called from any number of worker
   threads at once on the same struct blob, except blob_close() and the
   blob_failing_*() setters, which the owner calls when no call is running.

   Keys are '/'-separated paths, see blob_key_valid(). Message bodies live
   under blob_key_build()'s "domain/localpart/<sha256 hex>".

   Errors: -1 fills a caller-owned struct blob_error with a code the caller
   can act on and a message for the log. Messages never contain secrets
   (keys, passwords, signatures) nor body bytes. Nothing here logs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"

struct blob;

enum blob_err {
	BLOB_OK = 0,
	BLOB_NOT_FOUND, /* no such object */
	BLOB_TEMPORARY, /* network, timeout, 5xx, throttling: try again later */
	BLOB_PERMANENT, /* 4xx (auth, bad request), bad key or settings: retry won't help */
	BLOB_CORRUPT,   /* stored bytes are not what we wrote (decryption failed, truncated) */
	BLOB_IO,        /* local I/O error (disk full, permissions) */
	BLOB_ERR_COUNT
};

struct blob_error {
	enum blob_err code;
	char msg[256];
};

enum blob_op {
	BLOB_OP_PUT,
	BLOB_OP_GET,
	BLOB_OP_HEAD,
	BLOB_OP_DELETE,
	BLOB_OP_COPY,
	BLOB_OP_LIST,
	BLOB_OP_COUNT
};

/* "NOT_FOUND", "TEMPORARY", … and "put", "get", … */
const char *blob_err_name(enum blob_err code);
const char *blob_op_name(enum blob_op op);

/* ---- opening ------------------------------------------------------------ */

struct blob_s3_settings {
	const char *endpoint;   /* "host[:port]"; an "http://" or "https://" prefix wins
				   over disable_tls */
	const char *bucket;
	const char *access_key;
	const char *secret_key; /* copied, wiped at close */
	const char *region;     /* NULL → "us-east-1" */
	bool disable_tls;
	uint64_t timeout_ms;    /* per request; for bodies: longest stall. 0 → 30 s */
	uint32_t max_attempts;  /* TEMPORARY errors are retried: 0 → 4 attempts in all */
	uint64_t retry_base_ms; /* backoff base, doubled each attempt, jittered: 0 → 200 ms */
	uint32_t pool_size;     /* curl handles kept (one connection each): 0 → 16 */
	uint32_t list_page_size; /* ListObjectsV2 max-keys: 0 → 1000 */
	const char *ca_file;    /* NULL → the system's (and curl's environment) */
};

struct blob_crypt_settings {
	bool encrypt;
	const char *encryption_key;                   /* 64 hex characters */
	const char *const *previous_encryption_keys;  /* read-only, tried in order */
	size_t previous_count;
	uint64_t max_object_size; /* bodies are decrypted in memory: 0 → 256 MiB */
};

struct blob_settings {
	const char *driver; /* "fs" (NULL too) or "s3" */
	const char *fs_path;
	struct blob_s3_settings s3;
	struct blob_crypt_settings crypt; /* wraps either driver when encrypt */
};

/* Opens the configured driver (and the crypt wrapper when crypt.encrypt).
   Checks the settings but does not contact S3: see blob_crypt_verify_key()
   for a startup check that does. 0, or -1 with *err set (BLOB_PERMANENT
   naming the bad setting, e.g. "encryption_key: …"). */
int blob_open(const struct blob_settings *set, struct blob **blob_r, struct blob_error *err);
/* Closes the chain; sets *blob = NULL; accepts NULL. */
void blob_close(struct blob **blob);

/* The drivers one by one (blob_open() composes these). */
int blob_fs_open(const char *root, struct blob **blob_r, struct blob_error *err);
int blob_s3_open(const struct blob_s3_settings *set, struct blob **blob_r,
		 struct blob_error *err);

/* ---- keys --------------------------------------------------------------- */

#define BLOB_KEY_MAX 1024
#define BLOB_HASH_HEX_LEN 64

/* A usable key: 1..BLOB_KEY_MAX bytes, segments separated by single '/',
   no leading or trailing '/', no segment "." or "..", no byte below 0x20
   nor 0x7f, no segment starting with ".blobtmp-" (the fs driver's). */
bool blob_key_valid(const char *key);

/* "domain/localpart/hash" into out (cleared first). The domain is
   lowercased; the localpart is kept as given (Sora stores both per message
   row) but must not contain '/', "..", control characters, nor be empty or
   "."; hash must be 64 hex digits (lowercased here). -1 (*err PERMANENT)
   otherwise or when out's ceiling is hit. */
int blob_key_build(const char *domain, const char *localpart, const char *hash, struct buf *out,
		   struct blob_error *err);
/* The same from "localpart@domain" (split at the last '@'). */
int blob_key_from_address(const char *address, const char *hash, struct buf *out,
			  struct blob_error *err);
/* RFC 3986 percent-encoding of a key for an S3 URL path: A-Z a-z 0-9 - _ . ~
   and '/' are kept, every other byte becomes %XX (uppercase). curl 7.88
   copies the path verbatim into the SigV4 canonical request, so this must
   be exactly AWS's canonical URI encoding. Appends to out; -1 at its ceiling. */
int blob_key_url_encode(const char *key, struct buf *out);

/* ---- operations --------------------------------------------------------- */

struct blob_stat {
	uint64_t size;        /* bytes a get returns (plaintext) */
	uint64_t stored_size; /* bytes at rest (ciphertext when encrypted) */
};

/* What a read learned besides the bytes (optional: pass NULL). */
#define BLOB_KEY_ID_LEN 8
struct blob_read_info {
	uint64_t size;                     /* bytes delivered */
	char key_id[BLOB_KEY_ID_LEN + 1];  /* key that decrypted it, "" when not encrypted */
	bool used_previous_key;            /* one of previous_encryption_keys: re-encrypt it */
};

/* Writes an object, replacing any previous one. The object is either
   absent/old or complete under its key, never partial. The fs driver
   skips the write when the key already holds the same bytes (keys are
   content hashes). */
int blob_put(struct blob *b, const char *key, const void *data, size_t len,
	     struct blob_error *err);
/* The same from a regular file, read with pread() from offset 0 to its
   size at the time of the call (staged bodies are immutable). The body is
   streamed, never loaded whole; S3 reads it twice (hash, then upload). */
int blob_put_fd(struct blob *b, const char *key, int fd, struct blob_error *err);

/* Reads an object into out (cleared first). An object larger than out's
   ceiling is a BLOB_PERMANENT error. On any error out is left empty. */
int blob_get(struct blob *b, const char *key, struct buf *out, struct blob_read_info *info_r,
	     struct blob_error *err);

/* Streaming read: data is handed to fn in chunks, in order. fn returns 0,
   or -1 to stop (blob_get_stream then fails with BLOB_IO and fn's message,
   if it set one in err). The chunks reach fn only from a successful
   response; when a transfer breaks after some chunks, the read fails
   (BLOB_TEMPORARY) rather than restart, because fn cannot take bytes back:
   the caller discards what it got. Encrypted objects are decrypted and
   authenticated in memory first, so fn never sees unauthenticated bytes. */
typedef int blob_chunk_fn(void *ctx, const void *data, size_t len, struct blob_error *err);
int blob_get_stream(struct blob *b, const char *key, blob_chunk_fn *fn, void *ctx,
		    struct blob_read_info *info_r, struct blob_error *err);
/* Streaming read into fd at its current offset. When fd is seekable, a
   broken transfer is retried from the start (truncate + seek back). On
   error, what was written stays: write into a temp file and rename. */
int blob_get_fd(struct blob *b, const char *key, int fd, struct blob_read_info *info_r,
		struct blob_error *err);

/* Range reads: bytes [offset, offset + len) of an object (fewer at its
   end, none past it) into out (cleared first) or handed to fn in chunks.
   fs reads them with pread(), s3 with an HTTP Range request, staged and
   cache from their local copy else from the layer below. Encrypted
   objects: AES-GCM authenticates the object as a whole, so a range of one
   cannot be checked without reading all of it; the crypt layer reads and
   decrypts the whole object and verifies the tag before any byte of the
   range is handed out (callers wanting several ranges of an encrypted
   object should read their span once). A driver without a range read
   streams the object and keeps only the range: memory stays bounded. */
int blob_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
		   struct buf *out, struct blob_read_info *info_r, struct blob_error *err);
int blob_get_range_stream(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			  blob_chunk_fn *fn, void *ctx, struct blob_read_info *info_r,
			  struct blob_error *err);

/* Size of an object; BLOB_NOT_FOUND when there is none. */
int blob_head(struct blob *b, const char *key, struct blob_stat *st_r, struct blob_error *err);
/* 0 with *exists_r set, or -1 when the store could not tell. */
int blob_exists(struct blob *b, const char *key, bool *exists_r, struct blob_error *err);
/* Removes an object; removing one that does not exist succeeds. */
int blob_delete(struct blob *b, const char *key, struct blob_error *err);
/* Server-side copy (S3 CopyObject; fs hard link or copy). Encrypted
   objects are copied as they are stored. BLOB_NOT_FOUND when src is missing. */
int blob_copy(struct blob *b, const char *src_key, const char *dst_key, struct blob_error *err);

/* Every key starting with prefix ("" = all), in byte order, with its size
   (as blob_head's st.size). fn returns 0 to go on, 1 to stop (blob_list
   then returns 0), -1 to fail (BLOB_IO unless fn set err). S3 pages
   through ListObjectsV2 with list_page_size keys per request; keys added
   meanwhile may or may not show up. The crypt wrapper hides its key
   check object. */
typedef int blob_list_fn(void *ctx, const char *key, uint64_t size, struct blob_error *err);
int blob_list(struct blob *b, const char *prefix, blob_list_fn *fn, void *ctx,
	      struct blob_error *err);
/* The same with each object's modification time (Unix seconds): fs the
   file's mtime, S3 its LastModified, staged objects their staged file's.
   mtime is 0 when the store did not say: callers deciding by age (cleanup's
   orphan sweep) must then treat the object as new. */
struct blob_list_entry {
	const char *key;
	uint64_t size;
	int64_t mtime;
};
typedef int blob_list_entry_fn(void *ctx, const struct blob_list_entry *e,
			       struct blob_error *err);
int blob_list_entries(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
		      struct blob_error *err);

/* ---- encryption (blob-crypt.c) ------------------------------------------ */

#define BLOB_CRYPT_KEY_LEN 32
#define BLOB_CRYPT_NONCE_LEN 12
#define BLOB_CRYPT_TAG_LEN 16
#define BLOB_CRYPT_OVERHEAD (BLOB_CRYPT_NONCE_LEN + BLOB_CRYPT_TAG_LEN)
/* The key check object, at the bucket root (a key no message can have). */
#define BLOB_CRYPT_CHECK_KEY ".sora-key-check"

/* Parses 64 hex characters into 32 bytes. On error *err (PERMANENT) names
   the setting (name, e.g. "encryption_key") and what is wrong with it,
   never its value. */
int blob_crypt_parse_key(const char *name, const char *hex, uint8_t key_r[BLOB_CRYPT_KEY_LEN],
			 struct blob_error *err);
/* A key's id: the first 8 hex digits of HMAC-SHA-256(key, "sora blob key
   id"). Short, stable and safe to log and store in metadata: it names the
   key without helping anyone guess it. */
void blob_crypt_key_id(const uint8_t key[BLOB_CRYPT_KEY_LEN], char id_r[BLOB_KEY_ID_LEN + 1]);

/* Wraps inner (taking ownership, also on error): objects are AES-256-GCM,
   nonce(12) ‖ ciphertext ‖ tag(16), no AAD, a fresh random nonce each put:
   exactly Sora's layout. Reads try the current key, then the previous ones. */
int blob_crypt_wrap(struct blob *inner, const struct blob_crypt_settings *set,
		    struct blob **blob_r, struct blob_error *err);
/* The id of the key new objects are written with (record it per blob), or
   NULL when b has no crypt layer. */
const char *blob_key_id(struct blob *b);

enum blob_key_check {
	BLOB_KEY_CHECK_MATCH,    /* the check object was written with the current key */
	BLOB_KEY_CHECK_CREATED,  /* there was none: one was written now */
	BLOB_KEY_CHECK_ROTATED,  /* written with a previous key: rewritten with the current */
	BLOB_KEY_CHECK_MISMATCH, /* written with a key we do not have: refuse to start */
};
/* At startup: compares the configured keys with the store's key check
   object (an encrypted known text). 0 with *result_r, or -1 (store error,
   or b has no crypt layer). On MISMATCH err->msg explains (key ids only),
   with code BLOB_PERMANENT, and 0 is still returned. */
int blob_crypt_verify_key(struct blob *b, enum blob_key_check *result_r, struct blob_error *err);

/* ---- staged uploads (blob-staged.c) ------------------------------------- */

/* The "staged" wrapper makes writes local and durable first: a put lands
   in the staging directory (the fs driver: written, fsynced, renamed) and
   returns; background uploader threads then send staged objects to the
   wrapped store (S3) and remove them once the PUT succeeded. Reads and
   heads look in staging first, so a body is readable from the moment its
   put returned. Staged objects survive a restart: opening scans the
   directory and the uploader picks them up again. Deletes wait for an
   upload of the same key in progress, then remove both copies. */

/* Events of the background uploader, for the caller's log (the blob layer
   does not log): "upload" (done), "upload.retry" (failed, attempt n,
   err set), "upload.stalled" (max_attempts reached: kept in staging,
   retried after a restart), "upload.key_mismatch" (see verify_key_first). */
typedef void blob_staged_event_fn(void *ctx, const char *event, const char *key,
				  uint64_t size, unsigned attempt, const struct blob_error *err);

struct blob_staged_settings {
	const char *path;          /* staging directory (created) */
	uint64_t max_size;         /* staged bytes at most: 0 → 1 GiB */
	uint32_t batch_size;       /* keys queued per directory scan: 0 → 10 */
	uint32_t concurrency;      /* uploader threads: 0 → 20 (at most 256) */
	uint32_t max_attempts;     /* per key and process: 0 → 20 */
	uint64_t retry_interval_ms; /* first backoff step, doubled per failure up to 16
				      times it; also the rescan period: 0 → 30 s */
	blob_staged_event_fn *event_fn; /* may be NULL */
	void *event_ctx;
	/* The encryption key could not be checked against the store at start
	   (S3 unreachable): check it (blob_crypt_verify_key) before the first
	   upload. Until it matches nothing is uploaded; a mismatch is reported
	   as "upload.key_mismatch" and every body stays staged. */
	bool verify_key_first;
};

struct blob_staged_stats {
	uint64_t count;      /* objects staged */
	uint64_t bytes;
	int64_t oldest;      /* mtime (Unix seconds) of the oldest, 0 when none */
	uint64_t uploaded;   /* since start (this process only) */
	uint64_t failures;   /* failed attempts since start (this process only) */
	uint64_t stalled;    /* keys past max_attempts now (this process only) */
};

/* Wraps inner (taking ownership, also on error). A put beyond max_size
   fails with BLOB_TEMPORARY ("staging area full"); the caller turns it
   into a temporary protocol error. No threads run until
   blob_staged_start(). */
int blob_staged_wrap(struct blob *inner, const struct blob_staged_settings *set,
		     struct blob **blob_r, struct blob_error *err);
/* Starts the uploader threads (b or a layer it wraps must be "staged"). */
int blob_staged_start(struct blob *b, struct blob_error *err);
/* Stops them: uploads in progress finish, the rest stays staged.
   blob_close() stops them too. */
void blob_staged_stop(struct blob *b);
/* Wakes the uploader now (new files appeared, e.g. from another process). */
void blob_staged_kick(struct blob *b);
/* Counts of the staging directory (count, bytes, oldest: read now from the
   directory; the others from this process's uploader). */
int blob_staged_get_stats(struct blob *b, struct blob_staged_stats *st_r, struct blob_error *err);
/* Count, bytes and oldest of a staging directory, from any process. */
int blob_staged_scan(const char *path, struct blob_staged_stats *st_r, struct blob_error *err);

/* ---- local cache (blob-cache.c) ----------------------------------------- */

/* The "cache" wrapper keeps decrypted message bodies on local disk under
   <path>/data/<h[0:2]>/<h[2:4]>/<h>, keyed by content hash (a key's last
   segment when it is 64 hex digits; other keys are not cached), bounded
   to capacity bytes with least-recently-used eviction. The index is kept
   in memory and rebuilt at open by scanning (file mtimes are the access
   times, refreshed on hits). Counters are written to <path>/stats now and
   then and at close, for sora-admin cache stats. */
struct blob_cache_settings {
	const char *path;
	uint64_t capacity;        /* 0 → 1 GiB */
	uint64_t max_object_size; /* larger bodies are not cached: 0 → 5 MiB */
};

struct blob_cache_stats {
	uint64_t entries, bytes, capacity;
	uint64_t hits, misses, evictions, stores;
	int64_t written_at; /* blob_cache_read_stats: when the counters were saved, 0 unknown */
};

int blob_cache_wrap(struct blob *inner, const struct blob_cache_settings *set,
		    struct blob **blob_r, struct blob_error *err);
int blob_cache_get_stats(struct blob *b, struct blob_cache_stats *st_r, struct blob_error *err);
/* From another process: entries and bytes by scanning path now, the
   counters as the owning process last saved them (written_at). */
int blob_cache_read_stats(const char *path, struct blob_cache_stats *st_r,
			  struct blob_error *err);

/* The layer below the staged and cache wrappers (the store as it is on
   S3, possibly encrypted), or b itself when it has neither. For tools that
   must see stored objects (re-encryption). Owned by b. */
struct blob *blob_remote(struct blob *b);

/* ---- failing wrapper (blob-failing.c), for tests ------------------------ */

/* Wraps inner (taking ownership); fails nothing until configured. */
struct blob *blob_failing_wrap(struct blob *inner);
/* From now on, fail calls of op (BLOB_OP_COUNT: of any op) with code:
   only the nth such call when nth > 0 (1 = the next one), every call when
   nth == 0. after: run the call on the inner driver first and then report
   the failure (a lost reply: the put did happen). Replaces the previous
   rule; code BLOB_OK clears it. */
void blob_failing_set(struct blob *b, enum blob_op op, unsigned nth, enum blob_err code,
		      bool after);
/* Calls of op seen by the wrapper (BLOB_OP_COUNT: all), failed or not. */
unsigned blob_failing_calls(struct blob *b, enum blob_op op);

#endif
