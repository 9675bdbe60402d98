/* The "cache" wrapper: a bounded LRU of plaintext bodies on local disk in
   front of a remote (possibly encrypted) store. blob.h has the contract.

   Layout (Sora's): <path>/data/<h[0:2]>/<h[2:4]>/<h>, h the content hash.
   A body read from the inner store is written to a temp file in
   <path>/data while it streams to the caller, then renamed into place:
   a crash leaves at most a temp file, removed at the next open. The cache
   needs no fsync: losing it costs only misses.

   The index (hash → size, LRU position) lives in memory under one mutex
   and is rebuilt at open from the files, oldest mtime least recent; a hit
   refreshes the file's mtime so the order survives a restart. Eviction
   unlinks the least recently used files until the total fits capacity; a
   reader that already opened an evicted file keeps reading it (POSIX).

   Counters (hits, misses, evictions, stores) are this process's since
   open; they are saved to <path>/stats at most every few seconds and at
   close, for sora-admin, which runs in another process. */

#include "blob-private.h"

#include "lib/util.h"

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

#define CACHE_BUCKETS 8192
#define CACHE_CHUNK (128 * 1024)
#define CACHE_SAVE_MS 5000
#define CACHE_TMP_PREFIX ".tmp-"

struct cache_entry {
	struct cache_entry *hnext;
	struct cache_entry *newer, *older;
	char hash[BLOB_HASH_HEX_LEN + 1];
	uint64_t size;
	int64_t atime;
};

struct blob_cache {
	struct blob b;
	char *path;
	struct blob_cache_settings set;
	pthread_mutex_t mu;
	struct cache_entry *buckets[CACHE_BUCKETS];
	struct cache_entry *newest, *oldest;
	uint64_t entries, bytes;
	uint64_t hits, misses, evictions, stores;
	uint64_t saved_ms;
	bool dirty;
};

static bool cache_hash_of(const char *key, char hash[BLOB_HASH_HEX_LEN + 1])
{
	const char *slash = strrchr(key, '/');
	const char *h = slash == NULL ? key : slash + 1;

	if (strlen(h) != BLOB_HASH_HEX_LEN || strspn(h, "0123456789abcdef") != BLOB_HASH_HEX_LEN)
		return false;
	memcpy(hash, h, BLOB_HASH_HEX_LEN + 1);
	return true;
}

static uint32_t cache_bucket(const char *hash)
{
	uint32_t h = 0;

	/* the names are hashes already: their first hex digits spread well */
	for (int i = 0; i < 8; i++)
		h = h << 4 | (uint32_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
	return h % CACHE_BUCKETS;
}

static struct cache_entry *cache_find(struct blob_cache *c, const char *hash)
{
	for (struct cache_entry *e = c->buckets[cache_bucket(hash)]; e != NULL; e = e->hnext) {
		if (strcmp(e->hash, hash) == 0)
			return e;
	}
	return NULL;
}

static void cache_unlink_lru(struct blob_cache *c, struct cache_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void cache_push_newest(struct blob_cache *c, struct cache_entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest != NULL)
		c->newest->newer = e;
	c->newest = e;
	if (c->oldest == NULL)
		c->oldest = e;
}

static struct cache_entry *cache_insert(struct blob_cache *c, const char *hash, uint64_t size,
					int64_t atime)
{
	struct cache_entry *e = xcalloc(1, sizeof(*e));
	uint32_t b = cache_bucket(hash);

	memcpy(e->hash, hash, sizeof(e->hash));
	e->size = size;
	e->atime = atime;
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	cache_push_newest(c, e);
	c->entries++;
	c->bytes += size;
	return e;
}

static void cache_forget(struct blob_cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[cache_bucket(e->hash)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	cache_unlink_lru(c, e);
	c->entries--;
	c->bytes -= MIN(c->bytes, e->size);
	free(e);
}

static int cache_file_path(const char *root, const char *hash, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/data/%.2s/%.2s/%s", root, hash, hash + 2, hash + 4);

	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Called with mu held. */
static void cache_evict(struct blob_cache *c)
{
	while (c->bytes > c->set.capacity && c->oldest != NULL) {
		char path[4096];

		if (cache_file_path(c->path, c->oldest->hash, path, sizeof(path)) == 0)
			(void)unlink(path);
		cache_forget(c, c->oldest);
		c->evictions++;
		c->dirty = true;
	}
}

/* ---- the stats file ----------------------------------------------------- */

static void cache_save_stats(struct blob_cache *c, bool force)
{
	char path[4096], tmp[4096], text[512];
	uint64_t now = util_now_ms();
	int n, fd;

	pthread_mutex_lock(&c->mu);
	if (!c->dirty || (!force && now - c->saved_ms < CACHE_SAVE_MS)) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	n = snprintf(text, sizeof(text),
		     "hits=%llu\nmisses=%llu\nevictions=%llu\nstores=%llu\nentries=%llu\n"
		     "bytes=%llu\ncapacity=%llu\nsaved_at=%lld\npid=%ld\n",
		     (unsigned long long)c->hits, (unsigned long long)c->misses,
		     (unsigned long long)c->evictions, (unsigned long long)c->stores,
		     (unsigned long long)c->entries, (unsigned long long)c->bytes,
		     (unsigned long long)c->set.capacity, (long long)time(NULL), (long)getpid());
	c->saved_ms = now;
	c->dirty = false;
	pthread_mutex_unlock(&c->mu);
	if (n <= 0 || (size_t)n >= sizeof(text) ||
	    snprintf(path, sizeof(path), "%s/stats", c->path) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.stats.%ld", c->path, (long)getpid()) >= (int)sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, text, (size_t)n) == n)
		(void)rename(tmp, path);
	else
		(void)unlink(tmp);
	(void)close(fd);
}

/* ---- scanning ----------------------------------------------------------- */

struct cache_file {
	char hash[BLOB_HASH_HEX_LEN + 1];
	uint64_t size;
	int64_t mtime;
};

struct cache_scan {
	struct cache_file *files;
	size_t count, cap;
	uint64_t bytes;
	bool collect;
};

/* Walks data/<2>/<2>/<60>: each file whose path spells a hash. Temp files
   are removed when remove_tmp. */
static int cache_scan_dir(const char *root, bool remove_tmp, struct cache_scan *sc)
{
	char dpath[4096];
	DIR *d1;
	struct dirent *a;

	if (snprintf(dpath, sizeof(dpath), "%s/data", root) >= (int)sizeof(dpath))
		return -1;
	d1 = opendir(dpath);
	if (d1 == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((a = readdir(d1)) != NULL) {
		DIR *d2;
		struct dirent *b;
		int fd2;

		if (remove_tmp && strncmp(a->d_name, CACHE_TMP_PREFIX, strlen(CACHE_TMP_PREFIX)) == 0)
			(void)unlinkat(dirfd(d1), a->d_name, 0);
		if (strlen(a->d_name) != 2 || a->d_name[0] == '.')
			continue;
		fd2 = openat(dirfd(d1), a->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd2 < 0 || (d2 = fdopendir(fd2)) == NULL) {
			if (fd2 >= 0)
				(void)close(fd2);
			continue;
		}
		while ((b = readdir(d2)) != NULL) {
			DIR *d3;
			struct dirent *f;
			int fd3;

			if (strlen(b->d_name) != 2 || b->d_name[0] == '.')
				continue;
			fd3 = openat(dirfd(d2), b->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd3 < 0 || (d3 = fdopendir(fd3)) == NULL) {
				if (fd3 >= 0)
					(void)close(fd3);
				continue;
			}
			while ((f = readdir(d3)) != NULL) {
				struct stat st;
				char hash[BLOB_HASH_HEX_LEN + 2];

				if (strlen(f->d_name) != BLOB_HASH_HEX_LEN - 4)
					continue;
				if (snprintf(hash, sizeof(hash), "%s%s%s", a->d_name, b->d_name,
					     f->d_name) != BLOB_HASH_HEX_LEN ||
				    strspn(hash, "0123456789abcdef") != BLOB_HASH_HEX_LEN)
					continue;
				if (fstatat(dirfd(d3), f->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
				    !S_ISREG(st.st_mode))
					continue;
				sc->bytes += (uint64_t)st.st_size;
				if (!sc->collect) {
					sc->count++;
					continue;
				}
				if (sc->count == sc->cap) {
					sc->cap = sc->cap == 0 ? 256 : sc->cap * 2;
					sc->files = xrealloc(sc->files, sc->cap * sizeof(*sc->files));
				}
				memcpy(sc->files[sc->count].hash, hash, BLOB_HASH_HEX_LEN + 1);
				sc->files[sc->count].size = (uint64_t)st.st_size;
				sc->files[sc->count++].mtime = (int64_t)st.st_mtime;
			}
			closedir(d3);
		}
		closedir(d2);
	}
	closedir(d1);
	return 0;
}

static int cache_file_cmp(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime ? 1 : 0;
}

int blob_cache_read_stats(const char *path, struct blob_cache_stats *st_r, struct blob_error *err)
{
	struct cache_scan sc = { 0 };
	char file[4096], line[128];
	FILE *f;

	*st_r = (struct blob_cache_stats){ 0 };
	if (cache_scan_dir(path, false, &sc) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "reading the cache directory %s", path);
		return -1;
	}
	st_r->entries = sc.count;
	st_r->bytes = sc.bytes;
	if (snprintf(file, sizeof(file), "%s/stats", path) >= (int)sizeof(file))
		return 0;
	f = fopen(file, "re");
	if (f == NULL)
		return 0; /* no process saved counters yet */
	while (fgets(line, sizeof(line), f) != NULL) {
		char *eq = strchr(line, '='), *end;
		unsigned long long v;

		if (eq == NULL)
			continue;
		*eq = '\0';
		errno = 0;
		v = strtoull(eq + 1, &end, 10);
		if (errno != 0 || end == eq + 1)
			continue;
		if (strcmp(line, "hits") == 0)
			st_r->hits = v;
		else if (strcmp(line, "misses") == 0)
			st_r->misses = v;
		else if (strcmp(line, "evictions") == 0)
			st_r->evictions = v;
		else if (strcmp(line, "stores") == 0)
			st_r->stores = v;
		else if (strcmp(line, "capacity") == 0)
			st_r->capacity = v;
		else if (strcmp(line, "saved_at") == 0)
			st_r->written_at = (int64_t)v;
	}
	fclose(f);
	return 0;
}

int blob_cache_get_stats(struct blob *b, struct blob_cache_stats *st_r, struct blob_error *err)
{
	struct blob_cache *c = (struct blob_cache *)blob_find_layer(b, &blob_cache_vfuncs);

	if (c == NULL) {
		blob_error_set(err, BLOB_PERMANENT, "no cache layer");
		return -1;
	}
	pthread_mutex_lock(&c->mu);
	*st_r = (struct blob_cache_stats){
		.entries = c->entries, .bytes = c->bytes, .capacity = c->set.capacity,
		.hits = c->hits, .misses = c->misses, .evictions = c->evictions,
		.stores = c->stores, .written_at = (int64_t)time(NULL),
	};
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* ---- get: hit from the file, miss through a tee into a temp file ------- */

static int cache_serve(int fd, struct blob_sink *sink, struct blob_error *err)
{
	char *buf = xmalloc(CACHE_CHUNK);
	int ret = 0;

	for (;;) {
		ssize_t n = read(fd, buf, CACHE_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			blob_error_errno(err, BLOB_IO, errno, "reading a cached body");
			ret = -1;
			break;
		}
		if (n == 0 || blob_sink_write(sink, buf, (size_t)n, err) < 0) {
			ret = n == 0 ? 0 : -1;
			break;
		}
	}
	free(buf);
	return ret;
}

struct cache_tee {
	struct blob_sink sink;
	struct blob_sink *out;
	int fd;           /* temp file, -1 once caching was given up */
	uint64_t max;
};

static int cache_tee_write(struct blob_sink *sink, const void *data, size_t len,
			   struct blob_error *err)
{
	struct cache_tee *t = (struct cache_tee *)sink;

	if (blob_sink_write(t->out, data, len, err) < 0)
		return -1;
	if (t->fd < 0)
		return 0;
	if (sink->written + len > t->max) {
		(void)close(t->fd); /* too big to cache: the read goes on */
		t->fd = -1;
		return 0;
	}
	for (const char *p = data; len > 0;) {
		ssize_t n = write(t->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)close(t->fd); /* disk full: serve, do not cache */
			t->fd = -1;
			return 0;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cache_tee_reset(struct blob_sink *sink, struct blob_error *err)
{
	struct cache_tee *t = (struct cache_tee *)sink;

	if (t->out->reset == NULL) {
		blob_error_set(err, BLOB_TEMPORARY, "transfer broke and cannot restart");
		return -1;
	}
	if (t->out->reset(t->out, err) < 0)
		return -1;
	t->out->written = 0;
	if (t->fd >= 0 && (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0)) {
		(void)close(t->fd);
		t->fd = -1;
	}
	return 0;
}

static int cache_mkdirs(const char *root, const char *hash)
{
	char p[4096];

	if (snprintf(p, sizeof(p), "%s/data/%.2s", root, hash) >= (int)sizeof(p) ||
	    (mkdir(p, 0700) < 0 && errno != EEXIST))
		return -1;
	if (snprintf(p, sizeof(p), "%s/data/%.2s/%.2s", root, hash, hash + 2) >= (int)sizeof(p) ||
	    (mkdir(p, 0700) < 0 && errno != EEXIST))
		return -1;
	return 0;
}

/* A cached body serves the range from disk. A range from the start (BODY[],
   a header) is a read of the body that fills the cache when it reads to
   the end; any other miss reads only the range from below. */
static int cache_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			   struct blob_sink *sink, struct blob_read_info *info_r,
			   struct blob_error *err)
{
	struct blob_cache *c = (struct blob_cache *)b;
	char hash[BLOB_HASH_HEX_LEN + 1], path[4096];
	struct cache_entry *e;
	int fd, ret;

	if (!cache_hash_of(key, hash) || cache_file_path(c->path, hash, path, sizeof(path)) < 0)
		return blob_inner_get_range(b, key, offset, len, sink, info_r, err);
	if (offset == 0)
		return blob_range_via_get(b, key, offset, len, sink, info_r, err);
	pthread_mutex_lock(&c->mu);
	e = cache_find(c, hash);
	if (e != NULL) {
		cache_unlink_lru(c, e);
		cache_push_newest(c, e);
		e->atime = (int64_t)time(NULL);
	}
	pthread_mutex_unlock(&c->mu);
	if (e != NULL && (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		(void)futimens(fd, NULL);
		ret = blob_fd_range(fd, offset, len, sink, err);
		(void)close(fd);
		pthread_mutex_lock(&c->mu);
		c->hits++;
		c->dirty = true;
		pthread_mutex_unlock(&c->mu);
		return ret;
	}
	pthread_mutex_lock(&c->mu);
	c->misses++;
	c->dirty = true;
	pthread_mutex_unlock(&c->mu);
	return blob_inner_get_range(b, key, offset, len, sink, info_r, err);
}

static int cache_get(struct blob *b, const char *key, struct blob_sink *sink,
		     struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_cache *c = (struct blob_cache *)b;
	char hash[BLOB_HASH_HEX_LEN + 1], path[4096], tmp[4096];
	struct cache_entry *e;
	struct cache_tee tee;
	int fd, ret;

	if (!cache_hash_of(key, hash) || cache_file_path(c->path, hash, path, sizeof(path)) < 0)
		return blob_inner_get(b, key, sink, info_r, err);
	pthread_mutex_lock(&c->mu);
	e = cache_find(c, hash);
	if (e != NULL) {
		cache_unlink_lru(c, e);
		cache_push_newest(c, e);
		e->atime = (int64_t)time(NULL);
	}
	pthread_mutex_unlock(&c->mu);
	if (e != NULL && (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		(void)futimens(fd, NULL); /* LRU order for the next start */
		ret = cache_serve(fd, sink, err);
		(void)close(fd);
		pthread_mutex_lock(&c->mu);
		c->hits++;
		c->dirty = true;
		pthread_mutex_unlock(&c->mu);
		cache_save_stats(c, false);
		return ret;
	}
	pthread_mutex_lock(&c->mu);
	if (e != NULL && (e = cache_find(c, hash)) != NULL)
		cache_forget(c, e); /* file gone (removed by hand): forget it */
	c->misses++;
	c->dirty = true;
	pthread_mutex_unlock(&c->mu);

	{
		uint8_t rnd[8];
		uint64_t r = 0;

		if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) == (ssize_t)sizeof(rnd))
			memcpy(&r, rnd, sizeof(r));
		r ^= util_now_ms() ^ (uint64_t)pthread_self();
		if (snprintf(tmp, sizeof(tmp), "%s/data/" CACHE_TMP_PREFIX "%016llx", c->path,
			     (unsigned long long)r) >= (int)sizeof(tmp))
			return blob_inner_get(b, key, sink, info_r, err);
	}
	tee = (struct cache_tee){
		.sink = { .write = cache_tee_write, .reset = cache_tee_reset },
		.out = sink,
		.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600),
		.max = c->set.max_object_size,
	};
	ret = blob_inner_get(b, key, &tee.sink, info_r, err);
	if (tee.fd < 0) {
		(void)unlink(tmp);
		cache_save_stats(c, false);
		return ret;
	}
	(void)close(tee.fd);
	if (ret == 0 && cache_mkdirs(c->path, hash) == 0 && rename(tmp, path) == 0) {
		pthread_mutex_lock(&c->mu);
		e = cache_find(c, hash);
		if (e != NULL)
			cache_forget(c, e); /* replaced by the same bytes */
		cache_insert(c, hash, tee.sink.written, (int64_t)time(NULL));
		c->stores++;
		cache_evict(c);
		pthread_mutex_unlock(&c->mu);
	} else {
		(void)unlink(tmp);
	}
	cache_save_stats(c, false);
	return ret;
}

static int cache_put(struct blob *b, const char *key, struct blob_istream *in,
		     struct blob_error *err)
{
	return blob_inner_put(b, key, in, err);
}

static int cache_head(struct blob *b, const char *key, struct blob_stat *st_r,
		      struct blob_error *err)
{
	return blob_inner_head(b, key, st_r, err);
}

static int cache_del(struct blob *b, const char *key, struct blob_error *err)
{
	struct blob_cache *c = (struct blob_cache *)b;
	char hash[BLOB_HASH_HEX_LEN + 1], path[4096];

	/* deleted mail does not linger decrypted on disk */
	if (cache_hash_of(key, hash) && cache_file_path(c->path, hash, path, sizeof(path)) == 0) {
		struct cache_entry *e;

		pthread_mutex_lock(&c->mu);
		e = cache_find(c, hash);
		if (e != NULL)
			cache_forget(c, e);
		(void)unlink(path);
		c->dirty = true;
		pthread_mutex_unlock(&c->mu);
	}
	return blob_inner_del(b, key, err);
}

static int cache_copy(struct blob *b, const char *src, const char *dst, struct blob_error *err)
{
	return blob_inner_copy(b, src, dst, err);
}

static int cache_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
		      struct blob_error *err)
{
	return blob_inner_list(b, prefix, fn, ctx, err);
}

static void cache_close(struct blob *b)
{
	struct blob_cache *c = (struct blob_cache *)b;

	cache_save_stats(c, true);
	while (c->oldest != NULL)
		cache_forget(c, c->oldest);
	pthread_mutex_destroy(&c->mu);
	free(c->path);
	free(c);
}

const struct blob_vfuncs blob_cache_vfuncs = {
	.name = "cache",
	.put = cache_put,
	.get = cache_get,
	.get_range = cache_get_range,
	.head = cache_head,
	.del = cache_del,
	.copy = cache_copy,
	.list = cache_list,
	.close = cache_close,
};

int blob_cache_wrap(struct blob *inner, const struct blob_cache_settings *set,
		    struct blob **blob_r, struct blob_error *err)
{
	struct blob_cache *c;
	struct cache_scan sc = { .collect = true };
	char data[4096];

	*blob_r = NULL;
	if (set->path == NULL || set->path[0] == '\0' ||
	    snprintf(data, sizeof(data), "%s/data", set->path) >= (int)sizeof(data)) {
		blob_error_set(err, BLOB_PERMANENT, "local_cache.path: not set or too long");
		blob_close(&inner);
		return -1;
	}
	/* mkdir -p: the default "data/cache" may be the first thing under data/ */
	if (util_mkdir_parents(data) < 0 || (mkdir(data, 0700) < 0 && errno != EEXIST)) {
		blob_error_errno(err, BLOB_IO, errno, "local_cache.path: cannot create %s", data);
		blob_close(&inner);
		return -1;
	}
	if (cache_scan_dir(set->path, true, &sc) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "local_cache.path: cannot read %s", data);
		free(sc.files);
		blob_close(&inner);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->b.v = &blob_cache_vfuncs;
	c->b.inner = inner;
	c->path = xstrdup(set->path);
	c->set = *set;
	c->set.path = c->path;
	if (c->set.capacity == 0)
		c->set.capacity = 1ULL << 30;
	if (c->set.max_object_size == 0)
		c->set.max_object_size = 5ULL << 20;
	pthread_mutex_init(&c->mu, NULL);
	/* least recently used first, so that the newest end up newest */
	if (sc.count > 0)
		qsort(sc.files, sc.count, sizeof(*sc.files), cache_file_cmp);
	for (size_t i = 0; i < sc.count; i++)
		cache_insert(c, sc.files[i].hash, sc.files[i].size, sc.files[i].mtime);
	free(sc.files);
	cache_evict(c); /* capacity may have shrunk since */
	c->dirty = true;
	*blob_r = &c->b;
	return 0;
}
