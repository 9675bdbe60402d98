#ifndef SORA_DELIVER_STORAGE_H
#define SORA_DELIVER_STORAGE_H

/* The operational side of the blob store, built from the configuration:
   the S3 chain's local layers (staging + uploader, local cache), and the
   re-encryption of every stored body under the current key. Blocking:
   call from a worker thread or a command-line tool. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blob;
struct config;
struct mail_services;

/* Wraps the S3 chain in *blob (crypt(s3) or s3) with the local cache
   ([local_cache]) and the staging area ([uploader]). verify_key_first:
   the encryption key could not be checked at open (S3 unreachable), the
   uploader checks it before its first upload. On error *blob is closed
   and err names the key. The uploader threads are not started. */
int storage_wrap_s3(const struct config *cfg, struct blob **blob, bool verify_key_first,
		    char *err, size_t err_size);

/* Starts the uploader threads when the chain has a staging layer (sora
   only; sora-admin leaves staged bodies to the server). 0 or -1. */
int storage_start(const struct mail_services *ms, char *err, size_t err_size);
void storage_stop(const struct mail_services *ms);

struct reencrypt_stats {
	uint64_t seen;       /* bodies listed */
	uint64_t rewritten;  /* re-encrypted under the current key now */
	uint64_t current;    /* already under the current key */
	uint64_t staged;     /* still in staging: the uploader encrypts them with the current key */
	uint64_t missing;    /* no object (cleanup will forget the row) */
	uint64_t failed;     /* errors: run again */
};

/* Called every few bodies and at the end (done = true). */
typedef void storage_progress_fn(void *ctx, const struct reencrypt_stats *st, bool done);

/* Rewrites every body not yet under the current key (by its recorded key
   id, then by what actually decrypts it) and records the new key id.
   Resumable and idempotent: bodies already under the current key are
   skipped from their metadata alone. -1 (err) when encryption is off or
   the store cannot be listed; per-body errors are counted in failed. */
int storage_reencrypt(const struct mail_services *ms, storage_progress_fn *progress, void *ctx,
		      struct reencrypt_stats *st_r, char *err, size_t err_size);

#endif
