/* The cleanup pass and its worker thread (cleanup.h). */

#include "cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/arena.h"
#include "../lib/log.h"
#include "../lib/str.h"
#include "../lib/util.h"
#include "../store/blob.h"
#include "../store/store.h"
#include "deliver.h"

#define CLEANUP_BATCH 500

static void report(cleanup_progress_fn *progress, void *ctx, const char *phase,
		   const struct cleanup_stats *st)
{
	if (progress != NULL)
		progress(ctx, phase, st);
}

/* One batch of unreferenced bodies after *after: blob deletes, then the
   rows of those deleted. 1 when more may follow, 0 at the end, -1. */
static int cleanup_blob_batch(const struct mail_services *ms, int64_t *after,
			      const atomic_bool *stop, struct cleanup_stats *st, char *err,
			      size_t err_size)
{
	struct arena *a = arena_new(64 * 1024);
	struct store_blob_ref *refs;
	struct store_error serr;
	struct buf key;
	int64_t *done;
	size_t n, ndone = 0;
	uint64_t forgotten = 0;
	int ret;

	if (store_cleanup_unreferenced(ms->store, *after, CLEANUP_BATCH, a, &refs, &n, &serr) < 0) {
		snprintf(err, err_size, "listing unreferenced bodies: %s", serr.msg);
		arena_free(&a);
		return -1;
	}
	done = arena_alloc(a, (n + 1) * sizeof(*done));
	buf_init(&key, BLOB_KEY_MAX + 1);
	for (size_t i = 0; i < n && (stop == NULL || !atomic_load(stop)); i++) {
		struct blob_error berr;

		*after = refs[i].data_id;
		if (blob_key_from_address(refs[i].address, refs[i].content_hash, &key, &berr) < 0 ||
		    blob_delete(ms->blob, key.data, &berr) < 0) {
			log_warn(NULL, "cleanup.blob_fail", "data_id=%lld key=%s error=%s reason=%s",
				 (long long)refs[i].data_id, log_str(key.len > 0 ? key.data : ""),
				 blob_err_name(berr.code), log_str(berr.msg));
			st->blob_errors++;
			continue;
		}
		st->blobs_deleted++;
		done[ndone++] = refs[i].data_id;
	}
	buf_free(&key);
	ret = n == CLEANUP_BATCH ? 1 : 0;
	if (ndone > 0 && store_cleanup_forget(ms->store, done, ndone, &forgotten, &serr) < 0) {
		snprintf(err, err_size, "forgetting deleted bodies: %s", serr.msg);
		ret = -1;
	}
	st->rows_forgotten += forgotten;
	arena_free(&a);
	return ret;
}

/* ---- orphan sweep ------------------------------------------------------------ */

#define ORPHAN_BATCH 200
#define ORPHAN_DUMMY_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct orphan_sweep {
	const struct mail_services *ms;
	int64_t account_id;
	const char *prefix; /* "domain/localpart/" */
	size_t prefix_len;
	int64_t before, now; /* objects with mtime < before are old enough */
	const atomic_bool *stop;
	struct cleanup_stats *st;
	struct arena *arena; /* the batch's keys; reset per batch */
	const char *keys[ORPHAN_BATCH];
	const char *hashes[ORPHAN_BATCH];
	size_t count;
	bool failed; /* store error: err set */
	char *err;
	size_t err_size;
};

struct orphan_fresh {
	const char *key;
	bool present;
	int64_t mtime;
};

static int orphan_fresh_cb(void *ctx, const struct blob_list_entry *e, struct blob_error *err)
{
	struct orphan_fresh *f = ctx;

	(void)err;
	if (strcmp(e->key, f->key) == 0) {
		f->present = true;
		f->mtime = e->mtime;
		return 1;
	}
	return 0;
}

/* Deletes one candidate after checking again, in this order, that no
   metadata row names it and that its object is still old: a delivery
   writes the body (refreshing its mtime) before committing its row, so a
   re-delivery of the same bytes shows up in one of the two checks, unless
   its write lands between the mtime check and the delete (a window of one
   stat or HEAD-sized request, and only for a body that is an orphan). */
static int orphan_delete(struct orphan_sweep *o, const char *key, const char *hash)
{
	struct orphan_fresh f = { .key = key };
	struct store_error serr;
	struct blob_error berr;
	bool referenced = false;

	if (store_cleanup_hashes_referenced(o->ms->store, o->account_id, &hash, 1, &referenced,
					    &serr) < 0) {
		snprintf(o->err, o->err_size, "orphan check: %s", serr.msg);
		o->failed = true;
		return -1;
	}
	if (referenced)
		return 0;
	if (blob_list_entries(o->ms->blob, key, orphan_fresh_cb, &f, &berr) < 0 ||
	    (f.present && f.mtime > 0 && f.mtime < o->before &&
	     blob_delete(o->ms->blob, key, &berr) < 0)) {
		log_warn(NULL, "cleanup.orphan_fail", "key=%s error=%s reason=%s", log_str(key),
			 blob_err_name(berr.code), log_str(berr.msg));
		o->st->orphan_errors++;
		return 0;
	}
	if (!f.present || f.mtime <= 0 || f.mtime >= o->before)
		return 0; /* gone, or written again since it was listed */
	o->st->orphans_deleted++;
	log_info(NULL, "cleanup.orphan_deleted", "key=%s age=%llds", log_str(key),
		 (long long)(o->now - f.mtime));
	return 0;
}

static int orphan_flush(struct orphan_sweep *o)
{
	bool referenced[ORPHAN_BATCH];
	struct store_error serr;
	int ret = 0;

	if (o->count == 0)
		return 0;
	if (store_cleanup_hashes_referenced(o->ms->store, o->account_id, o->hashes, o->count,
					    referenced, &serr) < 0) {
		snprintf(o->err, o->err_size, "orphan check: %s", serr.msg);
		o->failed = true;
		ret = -1;
	}
	for (size_t i = 0; i < o->count && ret == 0; i++) {
		if (o->stop != NULL && atomic_load(o->stop))
			break;
		if (!referenced[i])
			ret = orphan_delete(o, o->keys[i], o->hashes[i]);
	}
	o->count = 0;
	arena_reset(o->arena);
	return ret;
}

static bool orphan_is_hash(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	}
	return n == BLOB_HASH_HEX_LEN;
}

static int orphan_list_cb(void *ctx, const struct blob_list_entry *e, struct blob_error *err)
{
	struct orphan_sweep *o = ctx;
	const char *hash;
	char *key;

	(void)err;
	if (o->stop != NULL && atomic_load(o->stop))
		return 1;
	/* only bodies of this account: "prefix<64 hex>", nothing deeper; an
	   object whose age the store does not tell (mtime 0) counts as new */
	if (strncmp(e->key, o->prefix, o->prefix_len) != 0)
		return 0;
	hash = e->key + o->prefix_len;
	if (!orphan_is_hash(hash) || e->mtime <= 0 || e->mtime >= o->before)
		return 0;
	key = arena_strdup(o->arena, e->key);
	o->keys[o->count] = key;
	o->hashes[o->count++] = key + o->prefix_len;
	if (o->count == ORPHAN_BATCH && orphan_flush(o) < 0)
		return -1;
	return 0;
}

/* The orphan sweep of every live account. 0, or -1 with err (store). */
static int cleanup_orphans(const struct mail_services *ms, int64_t before, int64_t now,
			   const atomic_bool *stop, cleanup_progress_fn *progress, void *ctx,
			   struct cleanup_stats *st, char *err, size_t err_size)
{
	struct arena *a = arena_new(64 * 1024);
	struct store_account *accounts;
	struct store_error serr;
	struct buf prefix;
	size_t n;
	int ret = 0;

	if (store_account_list(ms->store, false, a, &accounts, &n, &serr) < 0) {
		snprintf(err, err_size, "orphan sweep: listing accounts: %s", serr.msg);
		arena_free(&a);
		return -1;
	}
	buf_init(&prefix, BLOB_KEY_MAX + 1);
	for (size_t i = 0; i < n && ret == 0 && (stop == NULL || !atomic_load(stop)); i++) {
		struct orphan_sweep o = { .ms = ms, .account_id = accounts[i].id, .before = before,
					  .now = now, .stop = stop, .st = st, .err = err,
					  .err_size = err_size };
		struct blob_error berr;
		int r;

		/* the key of a dummy hash, less the hash: "domain/localpart/" */
		if (accounts[i].primary_address == NULL || accounts[i].primary_address[0] == '\0' ||
		    blob_key_from_address(accounts[i].primary_address, ORPHAN_DUMMY_HASH, &prefix,
					  &berr) < 0)
			continue;
		prefix.len -= BLOB_HASH_HEX_LEN;
		prefix.data[prefix.len] = '\0';
		o.prefix = prefix.data;
		o.prefix_len = prefix.len;
		o.arena = arena_new(32 * 1024);
		r = blob_list_entries(ms->blob, prefix.data, orphan_list_cb, &o, &berr);
		if (r == 0 && !o.failed)
			r = orphan_flush(&o);
		arena_free(&o.arena);
		if (o.failed) {
			ret = -1;
		} else if (r < 0) {
			/* the blob store failed for this account: the next pass retries */
			log_warn(NULL, "cleanup.orphan_fail", "prefix=%s error=%s reason=%s",
				 log_str(prefix.data), blob_err_name(berr.code), log_str(berr.msg));
			st->orphan_errors++;
		}
		report(progress, ctx, "orphans", st);
	}
	buf_free(&prefix);
	arena_free(&a);
	return ret;
}

static int cleanup_pass(const struct mail_services *ms, int64_t grace_s,
			const atomic_bool *stop, cleanup_progress_fn *progress, void *ctx,
			struct cleanup_stats *st, char *err, size_t err_size)
{
	int64_t before = (int64_t)time(NULL) - grace_s, after = 0;
	struct store_error serr;
	uint64_t msgs = 0, accts = 0;
	bool locked = false;
	int ret = -1, more;

	*st = (struct cleanup_stats){ 0 };
	if (store_cleanup_try_lock(ms->store, &locked, &serr) < 0) {
		snprintf(err, err_size, "cleanup lock: %s", serr.msg);
		return -1;
	}
	if (!locked) {
		st->locked_out = true;
		report(progress, ctx, "done", st);
		return 0;
	}
	/* grace_s 0 must include what was expunged within this very second */
	if (grace_s == 0)
		before++;
	if (store_cleanup_accounts(ms->store, before, &msgs, &accts, &serr) < 0) {
		snprintf(err, err_size, "deleted accounts: %s", serr.msg);
		goto out;
	}
	st->account_messages = msgs;
	st->accounts = accts;
	report(progress, ctx, "accounts", st);
	if (store_cleanup_expunged(ms->store, before, &st->tombstones, &serr) < 0) {
		snprintf(err, err_size, "tombstones: %s", serr.msg);
		goto out;
	}
	report(progress, ctx, "tombstones", st);
	do {
		more = cleanup_blob_batch(ms, &after, stop, st, err, err_size);
		if (more < 0)
			goto out;
		report(progress, ctx, "blobs", st);
	} while (more > 0 && (stop == NULL || !atomic_load(stop)));
	if (store_cleanup_accounts(ms->store, before, &msgs, &accts, &serr) < 0) {
		snprintf(err, err_size, "deleted accounts: %s", serr.msg);
		goto out;
	}
	st->accounts += accts;
	if (stop == NULL || !atomic_load(stop)) {
		int64_t now = (int64_t)time(NULL);

		if (cleanup_orphans(ms, now - MAX(grace_s, (int64_t)CLEANUP_ORPHAN_MIN_AGE), now,
				    stop, progress, ctx, st, err, err_size) < 0)
			goto out;
	}
	ret = 0;
out:
	(void)store_cleanup_unlock(ms->store, &serr);
	report(progress, ctx, "done", st);
	return ret;
}

int cleanup_run(const struct mail_services *ms, int64_t grace_s, cleanup_progress_fn *progress,
		void *ctx, struct cleanup_stats *st_r, char *err, size_t err_size)
{
	return cleanup_pass(ms, grace_s, NULL, progress, ctx, st_r, err, err_size);
}

/* ---- the worker thread ------------------------------------------------------ */

struct cleanup_worker {
	const struct mail_services *ms;
	uint64_t grace_ms, wake_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	atomic_bool stop;
};

static void *cleanup_worker_main(void *arg)
{
	struct cleanup_worker *w = arg;

	for (;;) {
		struct cleanup_stats st;
		struct timespec ts;
		char err[512];

		pthread_mutex_lock(&w->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(w->wake_ms / 1000);
		ts.tv_nsec += (long)(w->wake_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!atomic_load(&w->stop)) {
			if (pthread_cond_timedwait(&w->cond, &w->mu, &ts) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&w->mu);
		if (atomic_load(&w->stop))
			break;
		if (cleanup_pass(w->ms, (int64_t)(w->grace_ms / 1000), &w->stop, NULL, NULL, &st,
				 err, sizeof(err)) < 0)
			log_warn(NULL, "cleanup.fail", "reason=%s", log_str(err));
		else if (st.locked_out)
			log_debug(NULL, "cleanup.skip", "reason=%s", "another node holds the lock");
		else
			log_info(NULL, "cleanup.done",
				 "tombstones=%llu account_messages=%llu blobs_deleted=%llu "
				 "blob_errors=%llu rows=%llu accounts=%llu orphans_deleted=%llu "
				 "orphan_errors=%llu",
				 (unsigned long long)st.tombstones,
				 (unsigned long long)st.account_messages,
				 (unsigned long long)st.blobs_deleted,
				 (unsigned long long)st.blob_errors,
				 (unsigned long long)st.rows_forgotten,
				 (unsigned long long)st.accounts,
				 (unsigned long long)st.orphans_deleted,
				 (unsigned long long)st.orphan_errors);
	}
	return NULL;
}

struct cleanup_worker *cleanup_worker_start(const struct mail_services *ms, uint64_t grace_ms,
					    uint64_t wake_interval_ms)
{
	struct cleanup_worker *w = xcalloc(1, sizeof(*w));

	w->ms = ms;
	w->grace_ms = grace_ms;
	w->wake_ms = wake_interval_ms;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, cleanup_worker_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cond);
		free(w);
		return NULL;
	}
	return w;
}

void cleanup_worker_stop(struct cleanup_worker **wp)
{
	struct cleanup_worker *w = *wp;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->stop, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cond);
	free(w);
	*wp = NULL;
}
