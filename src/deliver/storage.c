/* The S3 chain's local layers and re-encryption (storage.h).

   Chain when storage.driver = "s3":
     staged ([uploader]) → cache ([local_cache]) → crypt (when encrypt) → s3
   Deliveries are acknowledged once staged; reads try staging, then the
   cache, then S3 (filling the cache). The uploader's puts pass through the
   cache layer unchanged. */

#include "storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config/config.h"
#include "../lib/arena.h"
#include "../lib/log.h"
#include "../lib/str.h"
#include "../store/blob.h"
#include "../store/store.h"
#include "deliver.h"

static void uploader_event(void *ctx, const char *event, const char *key, uint64_t size,
			   unsigned attempt, const struct blob_error *err)
{
	(void)ctx;
	if (err == NULL)
		log_debug(NULL, event, "key=%s size=%llu attempt=%u", log_str(key),
			  (unsigned long long)size, attempt);
	else if (strcmp(event, "upload.stalled") == 0 || strcmp(event, "upload.key_mismatch") == 0)
		log_error(NULL, event, "key=%s size=%llu attempt=%u error=%s reason=%s",
			  log_str(key), (unsigned long long)size, attempt,
			  blob_err_name(err->code), log_str(err->msg));
	else
		log_warn(NULL, event, "key=%s size=%llu attempt=%u error=%s reason=%s",
			 log_str(key), (unsigned long long)size, attempt, blob_err_name(err->code),
			 log_str(err->msg));
}

int storage_wrap_s3(const struct config *cfg, struct blob **blob, bool verify_key_first,
		    char *err, size_t err_size)
{
	const struct blob_cache_settings cset = {
		.path = cfg->local_cache.path,
		.capacity = cfg->local_cache.capacity,
		.max_object_size = cfg->local_cache.max_object_size,
	};
	const struct blob_staged_settings sset = {
		.path = cfg->uploader.path,
		.max_size = cfg->uploader.max_staging_size,
		.batch_size = cfg->uploader.batch_size,
		.concurrency = cfg->uploader.concurrency,
		.max_attempts = cfg->uploader.max_attempts,
		.retry_interval_ms = cfg->uploader.retry_interval_ms,
		.event_fn = uploader_event,
		.verify_key_first = verify_key_first,
	};
	struct blob_error berr;

	if (cfg->local_cache.capacity > 0 && blob_cache_wrap(*blob, &cset, blob, &berr) < 0) {
		snprintf(err, err_size, "%s: local_cache: %s", cfg->path, berr.msg);
		return -1;
	}
	if (blob_staged_wrap(*blob, &sset, blob, &berr) < 0) {
		snprintf(err, err_size, "%s: %s", cfg->path, berr.msg);
		return -1;
	}
	return 0;
}

int storage_start(const struct mail_services *ms, char *err, size_t err_size)
{
	struct blob_staged_stats st;
	struct blob_error berr;

	if (blob_staged_get_stats(ms->blob, &st, &berr) < 0)
		return 0; /* no staging layer: nothing to run */
	if (blob_staged_start(ms->blob, &berr) < 0) {
		snprintf(err, err_size, "uploader: %s", berr.msg);
		return -1;
	}
	log_info(NULL, "uploader.start", "staged=%llu bytes=%llu",
		 (unsigned long long)st.count, (unsigned long long)st.bytes);
	return 0;
}

void storage_stop(const struct mail_services *ms)
{
	blob_staged_stop(ms->blob);
}

/* ---- re-encryption ---------------------------------------------------------- */

#define REENCRYPT_PAGE 500
#define REENCRYPT_PROGRESS_EVERY 100

static void reencrypt_one(const struct mail_services *ms, struct blob *remote, uint32_t cur_id,
			  const struct store_blob_ref *ref, struct reencrypt_stats *st)
{
	struct blob_read_info info;
	struct blob_error berr;
	struct store_error serr;
	struct buf key, body;
	bool exists = false;

	buf_init(&key, BLOB_KEY_MAX + 1);
	buf_init(&body, 0);
	if (blob_key_from_address(ref->address, ref->content_hash, &key, &berr) < 0) {
		log_warn(NULL, "reencrypt.fail", "data_id=%lld reason=%s", (long long)ref->data_id,
			 log_str(berr.msg));
		st->failed++;
		goto out;
	}
	if (blob_get(remote, key.data, &body, &info, &berr) < 0) {
		if (berr.code != BLOB_NOT_FOUND) {
			log_warn(NULL, "reencrypt.fail", "key=%s error=%s reason=%s",
				 log_str(key.data), blob_err_name(berr.code), log_str(berr.msg));
			st->failed++;
		} else if (blob_exists(ms->blob, key.data, &exists, &berr) == 0 && exists) {
			st->staged++; /* the uploader writes it with the current key */
		} else {
			st->missing++;
		}
		goto out;
	}
	if ((uint32_t)strtoul(info.key_id, NULL, 16) != cur_id) {
		/* the crypt layer encrypts with the current key; S3 replaces the
		   object whole, so a reader sees the old or the new one */
		if (blob_put(remote, key.data, body.data, body.len, &berr) < 0) {
			log_warn(NULL, "reencrypt.fail", "key=%s error=%s reason=%s",
				 log_str(key.data), blob_err_name(berr.code), log_str(berr.msg));
			st->failed++;
			goto out;
		}
		st->rewritten++;
	} else {
		st->current++; /* only the metadata lagged */
	}
	if (store_blob_set_key_id(ms->store, ref->data_id, cur_id, &serr) < 0 &&
	    serr.code != STORE_NOT_FOUND) {
		log_warn(NULL, "reencrypt.fail", "data_id=%lld reason=%s", (long long)ref->data_id,
			 log_str(serr.msg));
		st->failed++;
	}
out:
	buf_wipe(&body);
	buf_free(&key);
}

int storage_reencrypt(const struct mail_services *ms, storage_progress_fn *progress, void *ctx,
		      struct reencrypt_stats *st_r, char *err, size_t err_size)
{
	struct blob *remote = blob_remote(ms->blob);
	const char *cur = blob_key_id(remote);
	struct reencrypt_stats st = { 0 };
	int64_t after = 0;
	uint32_t cur_id;

	*st_r = st;
	if (cur == NULL) {
		snprintf(err, err_size, "s3.encrypt is off: there is no key to re-encrypt with");
		return -1;
	}
	cur_id = (uint32_t)strtoul(cur, NULL, 16);
	for (;;) {
		struct arena *a = arena_new(64 * 1024);
		struct store_blob_ref *refs;
		struct store_error serr;
		size_t n;

		if (store_blob_list(ms->store, after, REENCRYPT_PAGE, a, &refs, &n, &serr) < 0) {
			snprintf(err, err_size, "listing bodies: %s", serr.msg);
			arena_free(&a);
			*st_r = st;
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			st.seen++;
			if (refs[i].blob_key_id == cur_id)
				st.current++;
			else
				reencrypt_one(ms, remote, cur_id, &refs[i], &st);
			if (progress != NULL && st.seen % REENCRYPT_PROGRESS_EVERY == 0)
				progress(ctx, &st, false);
		}
		if (n > 0)
			after = refs[n - 1].data_id;
		arena_free(&a);
		if (n < REENCRYPT_PAGE)
			break;
	}
	if (progress != NULL)
		progress(ctx, &st, true);
	*st_r = st;
	return 0;
}
