/* Persisted limiter blocks (design and contract in ratelimit-store.h). */
#include "ratelimit-store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/util.h"
#include "../store/store.h"

#define RLS_KEY_MAX (RATELIMIT_KEY_MAX + sizeof(RATELIMIT_STORE_MASTER_PREFIX))
#define RLS_PRUNE_INTERVAL_S 600

struct rls_tracked {
	enum store_block_kind kind;
	bool is_window;	  /* a window block, else a fast block */
	int64_t until;	  /* as stored: Unix seconds, rounded up */
	int64_t until_ms; /* the exact end, wall clock milliseconds */
	char key[RLS_KEY_MAX];
};

struct ratelimit_store {
	struct store *st;
	struct config_rate_limit cfg;
	struct ratelimit_hooks hooks;
	struct ratelimit *shadow; /* mirrors rl: same config, same inputs */
	struct ratelimit *rl;	  /* set by attach; the watcher lifts blocks in it */

	pthread_mutex_t lock; /* guards everything below */
	struct rls_tracked *tracked;
	size_t tracked_count;
	char last_error[STORE_ERROR_MSG_MAX + 32]; /* "op: message" */
	bool has_error;
	int64_t next_prune;

	pthread_cond_t wake;
	bool stopping, has_thread;
	pthread_t thread;

	_Atomic uint64_t errors;
	_Atomic uint64_t next_expire_ms;
};

static int64_t rls_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The end of a block of duration_ms starting now, wall clock milliseconds. */
static int64_t rls_until_ms(uint64_t duration_ms)
{
	uint64_t d = MIN(duration_ms, (uint64_t)INT32_MAX * 1000);

	return rls_wall_ms() + (int64_t)d;
}

static void rls_error(struct ratelimit_store *rs, const char *op, const struct store_error *err)
{
	atomic_fetch_add_explicit(&rs->errors, 1, memory_order_relaxed);
	pthread_mutex_lock(&rs->lock);
	(void)snprintf(rs->last_error, sizeof(rs->last_error), "%s: %s", op, err->msg);
	rs->has_error = true;
	pthread_mutex_unlock(&rs->lock);
}

/* The store key of a username: master names live in their own namespace. */
static bool rls_user_key(const char *user_key, enum ratelimit_kind kind, char out[RLS_KEY_MAX])
{
	int n;

	if (user_key == NULL || user_key[0] == '\0')
		return false;
	n = snprintf(out, RLS_KEY_MAX, "%s%s",
		     kind == RATELIMIT_KIND_MASTER ? RATELIMIT_STORE_MASTER_PREFIX : "", user_key);
	return n > 0 && (size_t)n < RLS_KEY_MAX;
}

/* ---- the tracked list (blocks this instance wrote), under rs->lock ---- */

static struct rls_tracked *rls_find_locked(struct ratelimit_store *rs, enum store_block_kind kind,
					   const char *key)
{
	for (size_t i = 0; i < rs->tracked_count; i++) {
		if (rs->tracked[i].kind == kind && strcmp(rs->tracked[i].key, key) == 0)
			return &rs->tracked[i];
	}
	return NULL;
}

static void rls_remove_locked(struct ratelimit_store *rs, struct rls_tracked *t)
{
	*t = rs->tracked[--rs->tracked_count];
}

static void rls_track(struct ratelimit_store *rs, enum store_block_kind kind, const char *key,
		      bool is_window, int64_t until_ms)
{
	int64_t until = (until_ms + 999) / 1000;
	struct rls_tracked *t;

	pthread_mutex_lock(&rs->lock);
	t = rls_find_locked(rs, kind, key);
	if (t == NULL && rs->tracked_count == RATELIMIT_STORE_TRACK_MAX) {
		/* full: drop the one that ends first */
		t = &rs->tracked[0];
		for (size_t i = 1; i < rs->tracked_count; i++) {
			if (rs->tracked[i].until < t->until)
				t = &rs->tracked[i];
		}
	} else if (t == NULL) {
		t = &rs->tracked[rs->tracked_count++];
	}
	*t = (struct rls_tracked){
	    .kind = kind, .is_window = is_window, .until = until, .until_ms = until_ms};
	(void)snprintf(t->key, sizeof(t->key), "%s", key);
	pthread_mutex_unlock(&rs->lock);
}

/* Does a block the store holds refuse the attempt? rl has just allowed it.
   A block this instance did not write (or no longer tracks): yes. A window
   block it wrote: no, rl judged it (the window may have slid, or the
   address is a known one for that username). A fast block it wrote: until
   its exact end, so that rl losing the entry (evicted at its cap) does not
   lift it early. */
static bool rls_refuses(struct ratelimit_store *rs, enum store_block_kind kind, const char *key,
			int64_t now_ms)
{
	struct rls_tracked *t;
	bool refuse;

	pthread_mutex_lock(&rs->lock);
	t = rls_find_locked(rs, kind, key);
	if (t == NULL || t->until * 1000 <= now_ms)
		refuse = true;
	else
		refuse = !t->is_window && now_ms < t->until_ms;
	pthread_mutex_unlock(&rs->lock);
	return refuse;
}

/* ---- hooks ---- */

/* 1: refuse (see rls_refuses), 0: no block to enforce, -1: store error
   (recorded). */
static int rls_blocked(struct ratelimit_store *rs, enum store_block_kind kind, const char *key,
		       int64_t now_ms)
{
	struct store_error err;
	int64_t until = 0;

	if (store_auth_block_get(rs->st, kind, key, now_ms / 1000, &until, &err) < 0) {
		rls_error(rs, "auth block get", &err);
		return -1;
	}
	if (until == 0)
		return 0;
	return rls_refuses(rs, kind, key, now_ms) ? 1 : 0;
}

static enum ratelimit_verdict rls_check(void *context, const char *ip_key, const char *user_key,
					enum ratelimit_kind kind, uint64_t now_ms)
{
	struct ratelimit_store *rs = context;
	int64_t now = rls_wall_ms();
	char key[RLS_KEY_MAX];
	int ret = 0;

	if (now_ms >= atomic_load_explicit(&rs->next_expire_ms, memory_order_relaxed)) {
		atomic_store_explicit(&rs->next_expire_ms, now_ms + 60000, memory_order_relaxed);
		(void)ratelimit_expire(rs->shadow, now_ms);
	}
	if (ip_key != NULL && ip_key[0] != '\0')
		ret = rls_blocked(rs, STORE_BLOCK_IP, ip_key, now);
	if (ret == 0 && rls_user_key(user_key, kind, key))
		ret = rls_blocked(rs, STORE_BLOCK_USER, key, now);
	/* any refusal here reads as RATELIMIT_BLOCKED_SHARED to the caller */
	return ret == 0 ? RATELIMIT_ALLOW : RATELIMIT_BLOCKED_SHARED;
}

static void rls_write(struct ratelimit_store *rs, enum store_block_kind kind, const char *key,
		      bool is_window, uint64_t duration_ms)
{
	struct store_error err;
	int64_t until_ms = rls_until_ms(duration_ms);

	if (store_auth_block_set(rs->st, kind, key, (until_ms + 999) / 1000, &err) < 0) {
		rls_error(rs, "auth block set", &err);
		return;
	}
	rls_track(rs, kind, key, is_window, until_ms);
}

static void rls_maybe_prune(struct ratelimit_store *rs)
{
	int64_t now = rls_wall_ms() / 1000;
	struct store_error err;
	bool due;

	pthread_mutex_lock(&rs->lock);
	due = now >= rs->next_prune;
	if (due)
		rs->next_prune = now + RLS_PRUNE_INTERVAL_S;
	pthread_mutex_unlock(&rs->lock);
	if (due && store_auth_prune(rs->st, now - RATELIMIT_STORE_PRUNE_AGE_S, &err) < 0)
		rls_error(rs, "auth prune", &err);
}

static void rls_record(void *context, const char *ip_key, const char *user_key,
		       enum ratelimit_kind kind, bool success, uint64_t now_ms)
{
	struct ratelimit_store *rs = context;
	const struct config_rate_limit *c = &rs->cfg;
	enum ratelimit_verdict v;
	char key[RLS_KEY_MAX];
	uint64_t delay;

	if (success) {
		/* memory only: the success path writes nothing */
		ratelimit_record_success(rs->shadow, ip_key, user_key, kind, now_ms);
		return;
	}
	ratelimit_record_failure(rs->shadow, ip_key, user_key, kind, now_ms);
	if (ip_key != NULL && ip_key[0] != '\0') {
		v = ratelimit_check(rs->shadow, ip_key, NULL, kind, now_ms, &delay);
		if (v == RATELIMIT_BLOCKED_FAST)
			rls_write(rs, STORE_BLOCK_IP, ip_key, false, c->fast_block_ms);
		else if (v == RATELIMIT_BLOCKED_IP)
			rls_write(rs, STORE_BLOCK_IP, ip_key, true, c->ip_window_ms);
	}
	if (rls_user_key(user_key, kind, key)) {
		/* without an IP: the username rule as it applies to strangers */
		v = ratelimit_check(rs->shadow, NULL, user_key, kind, now_ms, &delay);
		if (v == RATELIMIT_BLOCKED_USERNAME)
			rls_write(rs, STORE_BLOCK_USER, key, true, c->username_window_ms);
	}
	rls_maybe_prune(rs);
}

/* ---- the watcher: lifts in rl what an operator lifted in the store ---- */

static void rls_lift(struct ratelimit_store *rs, const struct rls_tracked *t)
{
	const char *user = t->key;
	enum ratelimit_kind kind = RATELIMIT_KIND_USER;
	size_t plen = strlen(RATELIMIT_STORE_MASTER_PREFIX);

	if (t->kind == STORE_BLOCK_IP) {
		ratelimit_record_success(rs->rl, t->key, NULL, RATELIMIT_KIND_USER, util_now_ms());
		return;
	}
	if (strncmp(user, RATELIMIT_STORE_MASTER_PREFIX, plen) == 0) {
		user += plen;
		kind = RATELIMIT_KIND_MASTER;
	}
	ratelimit_record_success(rs->rl, NULL, user, kind, util_now_ms());
}

/* One pass: drop ended blocks, lift those gone from the store. */
static void rls_poll(struct ratelimit_store *rs)
{
	int64_t now = rls_wall_ms() / 1000, until;
	struct store_error err;
	struct rls_tracked t;

	for (size_t i = 0;; i++) {
		pthread_mutex_lock(&rs->lock);
		while (i < rs->tracked_count && rs->tracked[i].until <= now)
			rls_remove_locked(rs, &rs->tracked[i]);
		if (i >= rs->tracked_count) {
			pthread_mutex_unlock(&rs->lock);
			return;
		}
		t = rs->tracked[i];
		pthread_mutex_unlock(&rs->lock);

		if (store_auth_block_get(rs->st, t.kind, t.key, now, &until, &err) < 0) {
			rls_error(rs, "auth block get", &err);
			return;
		}
		if (until != 0)
			continue;
		pthread_mutex_lock(&rs->lock);
		{
			struct rls_tracked *cur = rls_find_locked(rs, t.kind, t.key);

			/* unless it was written again meanwhile */
			if (cur != NULL && cur->until == t.until)
				rls_remove_locked(rs, cur);
			else
				cur = NULL;
			pthread_mutex_unlock(&rs->lock);
			if (cur == NULL)
				continue;
		}
		rls_lift(rs, &t);
		i--; /* slot i now holds another entry */
	}
}

static void *rls_watch(void *arg)
{
	struct ratelimit_store *rs = arg;

	pthread_mutex_lock(&rs->lock);
	while (!rs->stopping) {
		struct timespec ts;
		bool busy = rs->tracked_count > 0;

		pthread_mutex_unlock(&rs->lock);
		if (busy)
			rls_poll(rs);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += RATELIMIT_STORE_POLL_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&rs->lock);
		while (!rs->stopping && pthread_cond_timedwait(&rs->wake, &rs->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}

/* ---- public ---- */

struct ratelimit_store *ratelimit_store_new(struct store *st, const struct config_rate_limit *cfg,
					    struct ratelimit_options *opts)
{
	struct ratelimit_store *rs = xcalloc(1, sizeof(*rs));
	pthread_condattr_t ca;

	rs->st = st;
	rs->cfg = *cfg;
	rs->shadow = ratelimit_new(cfg);
	rs->tracked = xcalloc(RATELIMIT_STORE_TRACK_MAX, sizeof(*rs->tracked));
	rs->hooks = (struct ratelimit_hooks){
	    .context = rs,
	    .check = rls_check,
	    .record = rls_record,
	};
	REQUIRE(pthread_mutex_init(&rs->lock, NULL) == 0);
	REQUIRE(pthread_condattr_init(&ca) == 0);
	REQUIRE(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
	REQUIRE(pthread_cond_init(&rs->wake, &ca) == 0);
	(void)pthread_condattr_destroy(&ca);
	opts->hooks = &rs->hooks;
	return rs;
}

void ratelimit_store_attach(struct ratelimit_store *rs, struct ratelimit *rl)
{
	rs->rl = rl;
	REQUIRE(pthread_create(&rs->thread, NULL, rls_watch, rs) == 0);
	rs->has_thread = true;
}

void ratelimit_store_free(struct ratelimit_store **rsp)
{
	struct ratelimit_store *rs = rsp == NULL ? NULL : *rsp;

	if (rs == NULL)
		return;
	if (rs->has_thread) {
		pthread_mutex_lock(&rs->lock);
		rs->stopping = true;
		pthread_cond_signal(&rs->wake);
		pthread_mutex_unlock(&rs->lock);
		(void)pthread_join(rs->thread, NULL);
	}
	ratelimit_free(&rs->shadow);
	free(rs->tracked);
	rs->tracked = NULL;
	(void)pthread_cond_destroy(&rs->wake);
	(void)pthread_mutex_destroy(&rs->lock);
	free(rs);
	*rsp = NULL;
}

uint64_t ratelimit_store_error_count(struct ratelimit_store *rs)
{
	return atomic_load_explicit(&rs->errors, memory_order_relaxed);
}

bool ratelimit_store_take_error(struct ratelimit_store *rs, char *buf, size_t size)
{
	bool had;

	pthread_mutex_lock(&rs->lock);
	had = rs->has_error;
	if (had && size > 0)
		(void)snprintf(buf, size, "%s", rs->last_error);
	rs->has_error = false;
	pthread_mutex_unlock(&rs->lock);
	return had;
}
