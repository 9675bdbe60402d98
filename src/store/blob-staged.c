/* The "staged" wrapper: local durable staging in front of a remote store,
   and the background uploader that drains it (blob.h explains the
   contract).

   Staging is an fs driver instance, so a staged object has the fs
   driver's guarantees (temp file, fsync, rename, fsync of the directory):
   once put returns, the body survives kill -9 and power loss, and a crash
   mid-put leaves no partial object under its key.

   In memory: one entry per staged key (size, attempts, next try, whether
   an upload is in progress) in a hash table, the staged total for the
   max_size check, and a queue of keys for the uploader threads. The
   directory is the truth: it is walked at start (objects of an earlier
   run) and every retry_interval (objects staged by another process, e.g.
   sora-admin mail deliver); entries whose file disappeared are dropped.

   Threads: one scanner fills the queue (batch_size keys a round, those not
   backing off), `concurrency` workers upload. A worker marks its key in
   flight; a delete of that key waits for the upload to end before removing
   both copies, so an upload never resurrects a deleted object. A worker
   removes the staged file only after the remote put succeeded (S3 answered
   200), so a failure at any point leaves the staged copy in place.
   Reads look in staging first, then the remote store: the uploader puts
   remotely before it unlinks, so a body is always in one of the two. */

#include "blob-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STAGED_BUCKETS 4096
#define STAGED_MAX_THREADS 256
#define STAGED_DEFAULT_MAX (1ULL << 30)
#define STAGED_BACKOFF_STEPS 4 /* retry_interval × 2^4 at most */
#define STAGED_WALK_DEPTH 16
#define STAGED_IDLE_REFILL_MS 50

struct staged_entry {
	struct staged_entry *next;
	char *key;
	uint64_t size;
	uint64_t added_ms;  /* monotonic, when this process learned of it */
	uint64_t next_try;  /* monotonic ms; 0 = now */
	unsigned attempts;
	bool in_flight, queued, seen;
};

struct blob_staged {
	struct blob b;
	struct blob *stage; /* fs driver over path */
	char *path;
	struct blob_staged_settings set;

	pthread_mutex_t mu;
	pthread_cond_t wake;  /* scanner: kicked */
	pthread_cond_t work;  /* workers: queue not empty, or stopping */
	pthread_cond_t idle;  /* deletes: an upload ended */
	struct staged_entry *buckets[STAGED_BUCKETS];
	uint64_t count, bytes;
	char **queue;         /* keys, ring of cap */
	size_t q_head, q_len, q_cap;
	bool kicked, stopping, running, scanner_started;
	bool key_verified; /* verify_key_first done (or not asked for) */
	bool key_mismatch; /* the store's key is not ours: never upload */
	pthread_t scanner;
	pthread_t *workers;
	size_t worker_count;
	uint64_t uploaded, failures;
};

static uint32_t staged_hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h % STAGED_BUCKETS;
}

static struct staged_entry *staged_find(struct blob_staged *s, const char *key)
{
	for (struct staged_entry *e = s->buckets[staged_hash(key)]; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

static struct staged_entry *staged_add(struct blob_staged *s, const char *key, uint64_t size)
{
	struct staged_entry *e = xcalloc(1, sizeof(*e));
	uint32_t h = staged_hash(key);

	e->key = xstrdup(key);
	e->size = size;
	e->added_ms = util_now_ms();
	e->seen = true;
	e->next = s->buckets[h];
	s->buckets[h] = e;
	s->count++;
	s->bytes += size;
	return e;
}

static void staged_remove(struct blob_staged *s, struct staged_entry *e)
{
	struct staged_entry **pp = &s->buckets[staged_hash(e->key)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	s->count--;
	s->bytes -= MIN(s->bytes, e->size);
	free(e->key);
	free(e);
}

static void staged_event(struct blob_staged *s, const char *event, const char *key,
			 uint64_t size, unsigned attempt, const struct blob_error *err)
{
	if (s->set.event_fn != NULL)
		s->set.event_fn(s->set.event_ctx, event, key, size, attempt, err);
}

/* ---- walking the staging directory ---------------------------------------- */

typedef void staged_walk_fn(void *ctx, const char *key, uint64_t size, int64_t mtime);

/* Every object file under dir_fd (rel = its key prefix, "" at the root),
   skipping the fs driver's temp files and anything not a regular file. */
static int staged_walk(int dir_fd, const char *rel, unsigned depth, staged_walk_fn *fn, void *ctx)
{
	DIR *d;
	struct dirent *de;
	int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		(void)close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char key[BLOB_KEY_MAX + 1];

		if (de->d_name[0] == '.')
			continue; /* ".", "..", ".blobtmp-*" */
		if (snprintf(key, sizeof(key), "%s%s%s", rel, rel[0] != '\0' ? "/" : "",
			     de->d_name) >= (int)sizeof(key))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed meanwhile */
		if (S_ISDIR(st.st_mode) && depth < STAGED_WALK_DEPTH) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				(void)staged_walk(sub, key, depth + 1, fn, ctx);
				(void)close(sub);
			}
		} else if (S_ISREG(st.st_mode) && blob_key_valid(key)) {
			fn(ctx, key, (uint64_t)st.st_size, (int64_t)st.st_mtime);
		}
	}
	closedir(d);
	return 0;
}

static void staged_stats_cb(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
	struct blob_staged_stats *st = ctx;

	(void)key;
	st->count++;
	st->bytes += size;
	if (st->oldest == 0 || mtime < st->oldest)
		st->oldest = mtime;
}

int blob_staged_scan(const char *path, struct blob_staged_stats *st_r, struct blob_error *err)
{
	int fd;

	*st_r = (struct blob_staged_stats){ 0 };
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* nothing was ever staged */
		blob_error_errno(err, BLOB_IO, errno, "opening the staging directory %s", path);
		return -1;
	}
	if (staged_walk(fd, "", 0, staged_stats_cb, st_r) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "reading the staging directory %s", path);
		(void)close(fd);
		return -1;
	}
	(void)close(fd);
	return 0;
}

struct staged_scan_item {
	char *key;
	uint64_t size;
};

struct staged_scan {
	struct staged_scan_item *items;
	size_t count, cap;
};

static void staged_collect_cb(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
	struct staged_scan *sc = ctx;

	(void)mtime;
	if (sc->count == sc->cap) {
		sc->cap = sc->cap == 0 ? 64 : sc->cap * 2;
		sc->items = xrealloc(sc->items, sc->cap * sizeof(*sc->items));
	}
	sc->items[sc->count++] = (struct staged_scan_item){ xstrdup(key), size };
}

/* Brings the table in line with the directory. Entries this process added
   after the walk began are kept even when the walk missed them. */
static void staged_rescan(struct blob_staged *s)
{
	struct staged_scan sc = { 0 };
	uint64_t started = util_now_ms();
	int fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)staged_walk(fd, "", 0, staged_collect_cb, &sc);
	(void)close(fd);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < STAGED_BUCKETS; i++) {
		for (struct staged_entry *e = s->buckets[i]; e != NULL; e = e->next)
			e->seen = false;
	}
	for (size_t i = 0; i < sc.count; i++) {
		struct staged_entry *e = staged_find(s, sc.items[i].key);

		if (e == NULL) {
			staged_add(s, sc.items[i].key, sc.items[i].size);
		} else {
			e->seen = true;
			if (!e->in_flight && e->size != sc.items[i].size) {
				s->bytes = s->bytes - MIN(s->bytes, e->size) + sc.items[i].size;
				e->size = sc.items[i].size;
			}
		}
		free(sc.items[i].key);
	}
	free(sc.items);
	for (size_t i = 0; i < STAGED_BUCKETS; i++) {
		struct staged_entry *e = s->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			if (!e->seen && !e->in_flight && e->added_ms < started)
				staged_remove(s, e);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- the uploader ----------------------------------------------------------- */

static void staged_kick_locked(struct blob_staged *s)
{
	s->kicked = true;
	pthread_cond_signal(&s->wake);
}

/* Queues up to batch_size keys that are due. Called with mu held. Returns
   the earliest future retry time (0: none); *added_r: keys queued. */
static uint64_t staged_fill_queue(struct blob_staged *s, uint64_t now, size_t *added_r)
{
	uint64_t earliest = 0;
	size_t added = 0;

	for (size_t i = 0; i < STAGED_BUCKETS && added < s->set.batch_size; i++) {
		for (struct staged_entry *e = s->buckets[i];
		     e != NULL && added < s->set.batch_size; e = e->next) {
			if (e->in_flight || e->queued || e->attempts >= s->set.max_attempts)
				continue;
			if (e->next_try > now) {
				if (earliest == 0 || e->next_try < earliest)
					earliest = e->next_try;
				continue;
			}
			if (s->q_len == s->q_cap) {
				char **nq = xcalloc(s->q_cap * 2 + 16, sizeof(*nq));

				for (size_t j = 0; j < s->q_len; j++)
					nq[j] = s->queue[(s->q_head + j) % s->q_cap];
				free(s->queue);
				s->queue = nq;
				s->q_cap = s->q_cap * 2 + 16;
				s->q_head = 0;
			}
			s->queue[(s->q_head + s->q_len++) % s->q_cap] = xstrdup(e->key);
			e->queued = true;
			added++;
		}
	}
	if (added > 0)
		pthread_cond_broadcast(&s->work);
	*added_r = added;
	return earliest;
}

static void *staged_scanner_main(void *ctx)
{
	struct blob_staged *s = ctx;
	uint64_t last_walk = 0;

	for (;;) {
		uint64_t now = util_now_ms(), earliest = 0, wait_ms;
		struct timespec ts;
		size_t added = 1;

		if (last_walk == 0 || now - last_walk >= s->set.retry_interval_ms) {
			staged_rescan(s);
			last_walk = util_now_ms();
		}
		pthread_mutex_lock(&s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		s->kicked = false;
		if (s->q_len == 0)
			earliest = staged_fill_queue(s, util_now_ms(), &added);
		wait_ms = s->set.retry_interval_ms - MIN(s->set.retry_interval_ms,
							  util_now_ms() - last_walk);
		if (earliest != 0)
			wait_ms = MIN(wait_ms, earliest - MIN(earliest, util_now_ms()));
		wait_ms = MAX(wait_ms, (uint64_t)10);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(wait_ms / 1000);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		/* nothing was due (S3 down, everything backing off): let kicks
		   from new puts wait a little, so that a burst of deliveries does
		   not walk a large table once per put */
		if (added == 0 && wait_ms > STAGED_IDLE_REFILL_MS) {
			struct timespec min_ts;

			clock_gettime(CLOCK_REALTIME, &min_ts);
			min_ts.tv_nsec += STAGED_IDLE_REFILL_MS * 1000000L;
			if (min_ts.tv_nsec >= 1000000000L) {
				min_ts.tv_sec++;
				min_ts.tv_nsec -= 1000000000L;
			}
			while (!s->stopping &&
			       pthread_cond_timedwait(&s->wake, &s->mu, &min_ts) != ETIMEDOUT)
				;
		}
		while (!s->kicked && !s->stopping) {
			if (pthread_cond_timedwait(&s->wake, &s->mu, &ts) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

static uint64_t staged_backoff(const struct blob_staged *s, unsigned attempts)
{
	unsigned steps = MIN(attempts > 0 ? attempts - 1 : 0, (unsigned)STAGED_BACKOFF_STEPS);
	uint64_t delay = s->set.retry_interval_ms << steps;
	uint16_t rnd = 0;

	/* ±12.5 % so that many keys failing together do not retry in lockstep */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint16_t)util_now_ms();
	return delay - delay / 8 + (delay / 4) * rnd / 65535;
}

/* verify_key_first: 0 when uploads may go ahead, -1 (err set) when not
   yet (S3 still unreachable: retried with the key's backoff) or never. */
static int staged_check_key(struct blob_staged *s, struct blob_error *err)
{
	enum blob_key_check check;
	bool report = false;
	int ret = 0;

	pthread_mutex_lock(&s->mu);
	if (s->key_verified) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (s->key_mismatch) {
		pthread_mutex_unlock(&s->mu);
		blob_error_set(err, BLOB_PERMANENT, "encryption key mismatch: not uploading");
		return -1;
	}
	pthread_mutex_unlock(&s->mu);
	/* outside the lock: a network round trip; two workers may both check */
	if (blob_crypt_verify_key(s->b.inner, &check, err) < 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	if (check == BLOB_KEY_CHECK_MISMATCH) {
		report = !s->key_mismatch;
		s->key_mismatch = true;
		ret = -1;
	} else {
		s->key_verified = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (report)
		staged_event(s, "upload.key_mismatch", BLOB_CRYPT_CHECK_KEY, 0, 1, err);
	return ret;
}

static void staged_upload_one(struct blob_staged *s, const char *key)
{
	struct staged_entry *e;
	struct blob_error err = { 0 };
	char path[4096];
	unsigned attempt;
	uint64_t size = 0;
	int fd, ret = -1;
	bool gone = false;

	pthread_mutex_lock(&s->mu);
	e = staged_find(s, key);
	if (e != NULL)
		e->queued = false;
	if (e == NULL || e->in_flight) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	e->in_flight = true;
	pthread_mutex_unlock(&s->mu);

	if (staged_check_key(s, &err) < 0) {
		/* counted as a failed attempt below: backoff, then again */
	} else if (snprintf(path, sizeof(path), "%s/%s", s->path, key) >= (int)sizeof(path)) {
		blob_error_set(&err, BLOB_PERMANENT, "staging path too long");
	} else if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			gone = true; /* deleted, or uploaded by another process */
		else
			blob_error_errno(&err, BLOB_IO, errno, "opening a staged object");
	} else {
		struct stat st;

		if (fstat(fd, &st) == 0)
			size = (uint64_t)st.st_size;
		ret = blob_put_fd(s->b.inner, key, fd, &err);
		(void)close(fd);
	}

	pthread_mutex_lock(&s->mu);
	/* the remote copy is complete: the staged one may go (under the lock,
	   so that the directory and the counters change together) */
	if (ret == 0 && blob_delete(s->stage, key, &err) < 0)
		ret = -1;
	e = staged_find(s, key);
	REQUIRE(e != NULL); /* in flight: nobody else removes it */
	e->in_flight = false;
	attempt = e->attempts + 1;
	if (gone || ret == 0) {
		staged_remove(s, e);
		if (ret == 0)
			s->uploaded++;
	} else {
		e->attempts++;
		e->next_try = util_now_ms() + staged_backoff(s, e->attempts);
		s->failures++;
	}
	pthread_cond_broadcast(&s->idle);
	if (s->q_len == 0)
		staged_kick_locked(s); /* next batch */
	pthread_mutex_unlock(&s->mu);

	if (ret == 0)
		staged_event(s, "upload", key, size, attempt, NULL);
	else if (!gone)
		staged_event(s, attempt >= s->set.max_attempts ? "upload.stalled" : "upload.retry",
			     key, size, attempt, &err);
}

static void *staged_worker_main(void *ctx)
{
	struct blob_staged *s = ctx;

	for (;;) {
		char *key;

		pthread_mutex_lock(&s->mu);
		while (!s->stopping && s->q_len == 0)
			pthread_cond_wait(&s->work, &s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		key = s->queue[s->q_head];
		s->q_head = (s->q_head + 1) % s->q_cap;
		s->q_len--;
		pthread_mutex_unlock(&s->mu);
		staged_upload_one(s, key);
		free(key);
	}
	return NULL;
}

static struct blob_staged *staged_layer(struct blob *b)
{
	return (struct blob_staged *)blob_find_layer(b, &blob_staged_vfuncs);
}

int blob_staged_start(struct blob *b, struct blob_error *err)
{
	struct blob_staged *s = staged_layer(b);

	if (s == NULL) {
		blob_error_set(err, BLOB_PERMANENT, "no staging layer to start");
		return -1;
	}
	if (s->running)
		return 0;
	s->stopping = false;
	s->workers = xcalloc(s->set.concurrency, sizeof(*s->workers));
	for (s->worker_count = 0; s->worker_count < s->set.concurrency; s->worker_count++) {
		if (pthread_create(&s->workers[s->worker_count], NULL, staged_worker_main, s) != 0)
			break;
	}
	if (s->worker_count > 0 && pthread_create(&s->scanner, NULL, staged_scanner_main, s) == 0)
		s->scanner_started = true;
	if (!s->scanner_started) {
		s->running = true; /* for stop's joins */
		blob_staged_stop(b);
		blob_error_set(err, BLOB_IO, "cannot start the uploader threads");
		return -1;
	}
	s->running = true;
	return 0;
}

void blob_staged_stop(struct blob *b)
{
	struct blob_staged *s = staged_layer(b);

	if (s == NULL || !s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < s->worker_count; i++)
		pthread_join(s->workers[i], NULL);
	if (s->scanner_started)
		pthread_join(s->scanner, NULL);
	s->scanner_started = false;
	free(s->workers);
	s->workers = NULL;
	s->worker_count = 0;
	/* what was queued stays staged: forget the queue */
	pthread_mutex_lock(&s->mu);
	while (s->q_len > 0) {
		struct staged_entry *e = staged_find(s, s->queue[s->q_head]);

		if (e != NULL)
			e->queued = false;
		free(s->queue[s->q_head]);
		s->q_head = (s->q_head + 1) % s->q_cap;
		s->q_len--;
	}
	pthread_mutex_unlock(&s->mu);
	s->running = false;
}

void blob_staged_kick(struct blob *b)
{
	struct blob_staged *s = staged_layer(b);

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	staged_kick_locked(s);
	pthread_mutex_unlock(&s->mu);
}

int blob_staged_get_stats(struct blob *b, struct blob_staged_stats *st_r, struct blob_error *err)
{
	struct blob_staged *s = staged_layer(b);
	uint64_t stalled = 0;

	if (s == NULL) {
		blob_error_set(err, BLOB_PERMANENT, "no staging layer");
		return -1;
	}
	if (blob_staged_scan(s->path, st_r, err) < 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < STAGED_BUCKETS; i++) {
		for (struct staged_entry *e = s->buckets[i]; e != NULL; e = e->next)
			stalled += e->attempts >= s->set.max_attempts;
	}
	st_r->uploaded = s->uploaded;
	st_r->failures = s->failures;
	st_r->stalled = stalled;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* ---- vfuncs --------------------------------------------------------------- */

static int staged_put(struct blob *b, const char *key, struct blob_istream *in,
		      struct blob_error *err)
{
	struct blob_staged *s = (struct blob_staged *)b;
	struct staged_entry *e;
	uint64_t bytes;

	pthread_mutex_lock(&s->mu);
	bytes = s->bytes;
	pthread_mutex_unlock(&s->mu);
	/* concurrent puts may pass together: the cap is approximate by at most
	   one body per thread */
	if (bytes + in->size > s->set.max_size) {
		blob_error_set(err, BLOB_TEMPORARY,
			       "staging area full (%llu of %llu bytes waiting for upload)",
			       (unsigned long long)bytes, (unsigned long long)s->set.max_size);
		return -1;
	}
	if (s->stage->v->put(s->stage, key, in, err) < 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	e = staged_find(s, key);
	if (e == NULL) {
		staged_add(s, key, in->size);
	} else if (!e->in_flight) {
		e->attempts = 0; /* written again: try again now */
		e->next_try = 0;
	}
	staged_kick_locked(s);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int staged_get(struct blob *b, const char *key, struct blob_sink *sink,
		      struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_staged *s = (struct blob_staged *)b;

	if (s->stage->v->get(s->stage, key, sink, info_r, err) == 0)
		return 0;
	if (err->code != BLOB_NOT_FOUND || sink->written > 0)
		return -1;
	*err = (struct blob_error){ 0 };
	return blob_inner_get(b, key, sink, info_r, err);
}

static int staged_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			    struct blob_sink *sink, struct blob_read_info *info_r,
			    struct blob_error *err)
{
	struct blob_staged *s = (struct blob_staged *)b;

	if (s->stage->v->get_range(s->stage, key, offset, len, sink, info_r, err) == 0)
		return 0;
	if (err->code != BLOB_NOT_FOUND || sink->written > 0)
		return -1;
	*err = (struct blob_error){ 0 };
	return blob_inner_get_range(b, key, offset, len, sink, info_r, err);
}

static int staged_head(struct blob *b, const char *key, struct blob_stat *st_r,
		       struct blob_error *err)
{
	struct blob_staged *s = (struct blob_staged *)b;

	if (s->stage->v->head(s->stage, key, st_r, err) == 0)
		return 0;
	if (err->code != BLOB_NOT_FOUND)
		return -1;
	*err = (struct blob_error){ 0 };
	return blob_inner_head(b, key, st_r, err);
}

static int staged_del(struct blob *b, const char *key, struct blob_error *err)
{
	struct blob_staged *s = (struct blob_staged *)b;
	struct staged_entry *e;
	int ret;

	pthread_mutex_lock(&s->mu);
	while ((e = staged_find(s, key)) != NULL && e->in_flight)
		pthread_cond_wait(&s->idle, &s->mu);
	ret = s->stage->v->del(s->stage, key, err);
	if (ret == 0 && e != NULL)
		staged_remove(s, e);
	pthread_mutex_unlock(&s->mu);
	if (ret < 0)
		return -1;
	return blob_inner_del(b, key, err);
}

static int staged_copy(struct blob *b, const char *src, const char *dst, struct blob_error *err)
{
	struct blob_staged *s = (struct blob_staged *)b;
	struct blob_stat st;

	if (s->stage->v->head(s->stage, src, &st, err) < 0) {
		if (err->code != BLOB_NOT_FOUND)
			return -1;
		*err = (struct blob_error){ 0 };
		return blob_inner_copy(b, src, dst, err);
	}
	if (s->stage->v->copy(s->stage, src, dst, err) < 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	if (staged_find(s, dst) == NULL)
		staged_add(s, dst, st.stored_size);
	staged_kick_locked(s);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Listing merges the staged keys (few, collected first) into the remote
   store's listing, keeping byte order and reporting a key in both once. */
struct staged_list {
	struct blob_list_entry *staged; /* keys xstrdup'd */
	size_t count, cap, pos;
	blob_list_entry_fn *fn;
	void *ctx;
};

static int staged_list_collect(void *ctx, const struct blob_list_entry *e,
			       struct blob_error *err)
{
	struct staged_list *l = ctx;

	(void)err;
	if (l->count == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->staged = xrealloc(l->staged, l->cap * sizeof(*l->staged));
	}
	l->staged[l->count] = *e;
	l->staged[l->count++].key = xstrdup(e->key);
	return 0;
}

static int staged_list_merge(void *ctx, const struct blob_list_entry *e,
			     struct blob_error *err)
{
	struct staged_list *l = ctx;
	int ret;

	while (l->pos < l->count && strcmp(l->staged[l->pos].key, e->key) < 0) {
		ret = l->fn(l->ctx, &l->staged[l->pos], err);
		l->pos++;
		if (ret != 0)
			return ret;
	}
	/* in both: an upload that finished, or a re-delivery staged again;
	   the later mtime, so that an age check sees the recent write */
	if (l->pos < l->count && strcmp(l->staged[l->pos].key, e->key) == 0) {
		struct blob_list_entry both = *e;

		both.mtime = MAX(e->mtime, l->staged[l->pos].mtime);
		l->pos++;
		return l->fn(l->ctx, &both, err);
	}
	return l->fn(l->ctx, e, err);
}

static int staged_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
		       struct blob_error *err)
{
	struct blob_staged *s = (struct blob_staged *)b;
	struct staged_list l = { .fn = fn, .ctx = ctx };
	int ret = s->stage->v->list(s->stage, prefix, staged_list_collect, &l, err);

	if (ret == 0)
		ret = blob_inner_list(b, prefix, staged_list_merge, &l, err);
	while (ret == 0 && l.pos < l.count) {
		int r = fn(ctx, &l.staged[l.pos], err);

		l.pos++;
		if (r < 0)
			ret = -1;
		else if (r > 0)
			break;
	}
	for (size_t i = 0; i < l.count; i++)
		free((char *)l.staged[i].key);
	free(l.staged);
	if (ret < 0 && err->code == BLOB_OK)
		blob_error_set(err, BLOB_IO, "listing stopped");
	return ret < 0 ? -1 : 0;
}

static void staged_close(struct blob *b)
{
	struct blob_staged *s = (struct blob_staged *)b;

	blob_staged_stop(b);
	for (size_t i = 0; i < STAGED_BUCKETS; i++) {
		struct staged_entry *e = s->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
	}
	free(s->queue);
	blob_close(&s->stage);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	free(s->path);
	free(s);
}

const struct blob_vfuncs blob_staged_vfuncs = {
	.name = "staged",
	.put = staged_put,
	.get = staged_get,
	.get_range = staged_get_range,
	.head = staged_head,
	.del = staged_del,
	.copy = staged_copy,
	.list = staged_list,
	.close = staged_close,
};

int blob_staged_wrap(struct blob *inner, const struct blob_staged_settings *set,
		     struct blob **blob_r, struct blob_error *err)
{
	struct blob_staged *s;
	struct blob *stage = NULL;

	*blob_r = NULL;
	if (blob_fs_open(set->path, &stage, err) < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		blob_error_set(err, err->code, "uploader.path: %.200s", msg);
		blob_close(&inner);
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->b.v = &blob_staged_vfuncs;
	s->b.inner = inner;
	s->stage = stage;
	s->path = xstrdup(set->path);
	s->set = *set;
	s->set.path = s->path;
	s->key_verified = !set->verify_key_first;
	if (s->set.max_size == 0)
		s->set.max_size = STAGED_DEFAULT_MAX;
	if (s->set.batch_size == 0)
		s->set.batch_size = 10;
	if (s->set.concurrency == 0)
		s->set.concurrency = 20;
	s->set.concurrency = MIN(s->set.concurrency, (uint32_t)STAGED_MAX_THREADS);
	if (s->set.max_attempts == 0)
		s->set.max_attempts = 20;
	if (s->set.retry_interval_ms == 0)
		s->set.retry_interval_ms = 30 * 1000;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	/* what an earlier run left: counted now, so the cap holds from the start */
	staged_rescan(s);
	*blob_r = &s->b;
	return 0;
}

struct blob *blob_remote(struct blob *b)
{
	while (b != NULL && (b->v == &blob_staged_vfuncs || b->v == &blob_cache_vfuncs))
		b = b->inner;
	return b;
}
