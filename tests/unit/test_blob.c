/* The blob layer: keys, the fs driver (round trips, atomic replace, temp
   files, copy, list), the crypt wrapper over fs (Sora's layout, tamper
   detection, wrong and previous keys, key check object), the failing
   wrapper, the ListObjectsV2 parser and the S3 driver's local failures
   (settings, connection refused with retries). The S3 driver against real
   servers is tested in tests/integration/s3/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/blob-private.h"
#include "store/blob.h"

#define KEY1 "0000000000000000000000000000000000000000000000000000000000000001"
#define HEX_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define HEX_B "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"
#define HEX_C "5555555555555555555555555555555555555555555555555555555555555555"

struct fixture {
	char dir[64];
	struct blob *fs;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct blob_error err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_blob.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(blob_fs_open(f->dir, &f->fs, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	blob_close(&f->fs);
	assert_null(f->fs);
	(void)nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void fill(char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (char)(seed >> 16);
	}
}

static char *read_file(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *data;

	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	data = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
	close(fd);
	*len_r = (size_t)st.st_size;
	return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Files in dir (not recursive) whose name starts with prefix. */
static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static bool mem_contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	return memmem(hay, hlen, needle, nlen) != NULL;
}

/* ---- keys ---------------------------------------------------------------- */

static void test_key_valid(void **state)
{
	char long_key[BLOB_KEY_MAX + 2];

	(void)state;
	assert_true(blob_key_valid("example.org/alice/" KEY1));
	assert_true(blob_key_valid("a"));
	assert_true(blob_key_valid(".sora-key-check"));
	assert_true(blob_key_valid("d/a b+c/\xc3\xa9~"));
	assert_false(blob_key_valid(""));
	assert_false(blob_key_valid(NULL));
	assert_false(blob_key_valid("/a"));
	assert_false(blob_key_valid("a/"));
	assert_false(blob_key_valid("a//b"));
	assert_false(blob_key_valid("a/../b"));
	assert_false(blob_key_valid(".."));
	assert_false(blob_key_valid("a/./b"));
	assert_false(blob_key_valid("a/b\nc"));
	assert_false(blob_key_valid("a/b\x7f"));
	assert_false(blob_key_valid("a/.blobtmp-1234"));
	memset(long_key, 'a', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	assert_false(blob_key_valid(long_key));
	long_key[BLOB_KEY_MAX] = '\0';
	assert_true(blob_key_valid(long_key));
}

static void test_key_build(void **state)
{
	struct blob_error err;
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(blob_key_build("Example.ORG", "Alice.Smith", KEY1, &b, &err), 0);
	assert_string_equal(b.data, "example.org/Alice.Smith/" KEY1);
	assert_int_equal(blob_key_from_address("Bob+tag@Mail.Example.org",
					       "ABCDEF00000000000000000000000000"
					       "00000000000000000000000000000000",
					       &b, &err),
			 0);
	assert_string_equal(b.data, "mail.example.org/Bob+tag/abcdef0000000000000000000000000000"
				    "000000000000000000000000000000");
	/* the last '@' splits: a quoted localpart may hold one */
	assert_int_equal(blob_key_from_address("\"a@b\"@x.org", KEY1, &b, &err), 0);
	assert_string_equal(b.data, "x.org/\"a@b\"/" KEY1);

	assert_int_equal(blob_key_build("example.org", "a/b", KEY1, &b, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	assert_int_equal(b.len, 0);
	assert_int_equal(blob_key_build("example.org", "..", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("example.org", "a..b", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("example.org", ".", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("example.org", "", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("example.org", "a\rb", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("example.org", ".blobtmp-x", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("exa/mple.org", "a", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("..", "a", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_build("example.org", "a", "abc", &b, &err), -1);
	assert_int_equal(blob_key_build("example.org", "a",
					"g000000000000000000000000000000000000000000000000000000000"
					"000001",
					&b, &err),
			 -1);
	assert_int_equal(blob_key_from_address("noat", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_from_address("@x.org", KEY1, &b, &err), -1);
	assert_int_equal(blob_key_from_address("a@", KEY1, &b, &err), -1);
	buf_free(&b);
}

static void test_key_url_encode(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(blob_key_url_encode("dir/a b+c", &b), 0);
	assert_string_equal(b.data, "dir/a%20b%2Bc");
	buf_clear(&b);
	/* curl 7.88 signs the path verbatim: exactly AWS's canonical URI */
	assert_int_equal(blob_key_url_encode("b=b!c(d)~\xc3\xa9*", &b), 0);
	assert_string_equal(b.data, "b%3Db%21c%28d%29~%C3%A9%2A");
	buf_clear(&b);
	assert_int_equal(blob_key_url_encode("AZaz09-_.~/%?#&", &b), 0);
	assert_string_equal(b.data, "AZaz09-_.~/%25%3F%23%26");
	buf_free(&b);
	assert_string_equal(blob_err_name(BLOB_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(blob_op_name(BLOB_OP_LIST), "list");
}

/* ---- fs driver ----------------------------------------------------------- */

static void test_fs_roundtrip(void **state)
{
	struct fixture *f = *state;
	const char *key = "example.org/alice/" KEY1;
	struct blob_read_info info;
	struct blob_error err;
	struct blob_stat st;
	struct buf out;
	bool exists;

	buf_init(&out, 0);
	assert_int_equal(blob_get(f->fs, key, &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	assert_int_equal(blob_head(f->fs, key, &st, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	assert_int_equal(blob_exists(f->fs, key, &exists, &err), 0);
	assert_false(exists);

	assert_int_equal(blob_put(f->fs, key, "hello\r\n", 7, &err), 0);
	assert_int_equal(err.code, BLOB_OK);
	assert_int_equal(blob_get(f->fs, key, &out, &info, &err), 0);
	assert_int_equal(out.len, 7);
	assert_memory_equal(out.data, "hello\r\n", 7);
	assert_int_equal(info.size, 7);
	assert_string_equal(info.key_id, "");
	assert_int_equal(blob_head(f->fs, key, &st, &err), 0);
	assert_int_equal(st.size, 7);
	assert_int_equal(st.stored_size, 7);
	assert_int_equal(blob_exists(f->fs, key, &exists, &err), 0);
	assert_true(exists);
	/* a directory is not an object */
	assert_int_equal(blob_head(f->fs, "example.org/alice", &st, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	assert_int_equal(blob_get(f->fs, "example.org", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	/* a path through a file */
	assert_int_equal(blob_head(f->fs, "example.org/alice/" KEY1 "/x", &st, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);

	/* empty objects are objects */
	assert_int_equal(blob_put(f->fs, "e/empty", "", 0, &err), 0);
	assert_int_equal(blob_get(f->fs, "e/empty", &out, NULL, &err), 0);
	assert_int_equal(out.len, 0);

	assert_int_equal(blob_delete(f->fs, key, &err), 0);
	assert_int_equal(blob_get(f->fs, key, &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	assert_int_equal(blob_delete(f->fs, key, &err), 0); /* idempotent */
	assert_int_equal(blob_delete(f->fs, "no/such/dir", &err), 0);

	/* bad keys never reach the disk */
	assert_int_equal(blob_put(f->fs, "../escape", "x", 1, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	assert_int_equal(blob_get(f->fs, "/etc/passwd", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	buf_free(&out);
}

static void test_fs_read_limit(void **state)
{
	struct fixture *f = *state;
	struct blob_error err;
	struct buf out;

	assert_int_equal(blob_put(f->fs, "lim/k", "0123456789", 10, &err), 0);
	buf_init(&out, 10);
	assert_int_equal(blob_get(f->fs, "lim/k", &out, NULL, &err), 0);
	buf_free(&out);
	buf_init(&out, 9);
	assert_int_equal(blob_get(f->fs, "lim/k", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

struct chunks {
	size_t total, calls, fail_at;
	char *data;
};

static int collect_chunk(void *ctx, const void *data, size_t len, struct blob_error *err)
{
	struct chunks *c = ctx;

	(void)err;
	if (c->fail_at != 0 && c->total + len >= c->fail_at)
		return -1;
	memcpy(c->data + c->total, data, len);
	c->total += len;
	c->calls++;
	return 0;
}

static void test_fs_streams(void **state)
{
	struct fixture *f = *state;
	size_t len = 3 * 1024 * 1024 + 17, got_len;
	char *data = malloc(len), path[128], path2[128], *got;
	struct chunks c = { .data = malloc(len) };
	struct blob_read_info info;
	struct blob_error err;
	int fd;

	fill(data, len, 1);
	snprintf(path, sizeof(path), "%s.src", f->dir);
	write_file(path, data, len);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(blob_put_fd(f->fs, "big/one", fd, &err), 0);
	close(fd);
	unlink(path);

	/* streaming read: chunks in order */
	assert_int_equal(blob_get_stream(f->fs, "big/one", collect_chunk, &c, &info, &err), 0);
	assert_int_equal(c.total, len);
	assert_true(c.calls > 1);
	assert_int_equal(info.size, len);
	assert_memory_equal(c.data, data, len);

	/* the reader may stop the transfer */
	c = (struct chunks){ .data = c.data, .fail_at = 1000 };
	assert_int_equal(blob_get_stream(f->fs, "big/one", collect_chunk, &c, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_IO);

	/* into a file descriptor */
	snprintf(path2, sizeof(path2), "%s.dst", f->dir);
	fd = open(path2, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1); /* written at the current offset */
	assert_int_equal(blob_get_fd(f->fs, "big/one", fd, NULL, &err), 0);
	close(fd);
	got = read_file(path2, &got_len);
	assert_int_equal(got_len, len + 1);
	assert_memory_equal(got + 1, data, len);
	unlink(path2);

	/* put_fd refuses what is not a regular file */
	fd = open("/dev/null", O_RDONLY);
	assert_int_equal(blob_put_fd(f->fs, "big/two", fd, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	close(fd);
	free(got);
	free(c.data);
	free(data);
}

static ino_t inode_of(struct fixture *f, const char *key)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, key);
	if (stat(path, &st) < 0)
		return 0;
	return st.st_ino;
}

static void test_fs_same_content(void **state)
{
	struct fixture *f = *state;
	struct blob_error err;
	char path[128];
	ino_t ino;
	int fd;

	assert_int_equal(blob_put(f->fs, "d/k", "same bytes", 10, &err), 0);
	ino = inode_of(f, "d/k");
	assert_true(ino != 0);
	/* content-addressed: the same bytes again are not rewritten */
	assert_int_equal(blob_put(f->fs, "d/k", "same bytes", 10, &err), 0);
	assert_true(inode_of(f, "d/k") == ino);
	snprintf(path, sizeof(path), "%s.same", f->dir);
	write_file(path, "same bytes", 10);
	fd = open(path, O_RDONLY);
	assert_int_equal(blob_put_fd(f->fs, "d/k", fd, &err), 0);
	assert_true(inode_of(f, "d/k") == ino);
	close(fd);
	write_file(path, "othr bytes", 10);
	fd = open(path, O_RDONLY);
	assert_int_equal(blob_put_fd(f->fs, "d/k", fd, &err), 0);
	close(fd);
	unlink(path);
	/* other bytes, same size: replaced (a new file renamed over) */
	assert_true(inode_of(f, "d/k") != ino);
	ino = inode_of(f, "d/k");
	assert_int_equal(blob_put(f->fs, "d/k", "longer bytes", 12, &err), 0);
	assert_true(inode_of(f, "d/k") != ino);
}

struct listing {
	char keys[32][128];
	uint64_t sizes[32];
	int count, stop_after, fail_after;
};

static int list_collect(void *ctx, const char *key, uint64_t size, struct blob_error *err)
{
	struct listing *l = ctx;

	if (l->fail_after != 0 && l->count == l->fail_after) {
		blob_error_set(err, BLOB_TEMPORARY, "reader says no");
		return -1;
	}
	assert_true(l->count < 32);
	snprintf(l->keys[l->count], sizeof(l->keys[0]), "%s", key);
	l->sizes[l->count++] = size;
	return l->stop_after != 0 && l->count == l->stop_after ? 1 : 0;
}

/* A source that checks, mid-write, that nothing is visible under the
   final name yet, and then fails. */
struct probe_src {
	struct blob_istream in;
	struct fixture *f;
	const char *key;
	const char *old;
	size_t fail_after;
	bool probed;
};

static int probe_read(struct blob_istream *in, void *buf, size_t cap, size_t *len_r,
		      struct blob_error *err)
{
	struct probe_src *p = (struct probe_src *)in;
	struct blob_error e2;
	struct buf cur;
	size_t n = MIN(cap, (size_t)(in->size - in->pos));
	char dir[256];

	if (in->pos >= p->fail_after) {
		blob_error_set(err, BLOB_IO, "source broke");
		return -1;
	}
	if (in->pos > 0 && !p->probed) {
		p->probed = true;
		buf_init(&cur, 0);
		if (p->old == NULL) {
			assert_int_equal(blob_get(p->f->fs, p->key, &cur, NULL, &e2), -1);
			assert_int_equal(e2.code, BLOB_NOT_FOUND);
		} else {
			assert_int_equal(blob_get(p->f->fs, p->key, &cur, NULL, &e2), 0);
			assert_string_equal(cur.data, p->old);
		}
		buf_free(&cur);
		snprintf(dir, sizeof(dir), "%s/atomic", p->f->dir);
		assert_int_equal(count_files(dir, ".blobtmp-"), 1);
	}
	n = MIN(n, (size_t)1000);
	memset(buf, 'x', n);
	in->pos += n;
	*len_r = n;
	return 0;
}

static int probe_rewind(struct blob_istream *in, struct blob_error *err)
{
	(void)err;
	in->pos = 0;
	return 0;
}

static void test_fs_atomic(void **state)
{
	struct fixture *f = *state;
	struct probe_src p = {
		.in = { .size = 100000, .read = probe_read, .rewind = probe_rewind, .fd = -1 },
		.f = f, .key = "atomic/k", .fail_after = 50000,
	};
	struct blob_error err;
	struct buf out;
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/atomic", f->dir);
	assert_int_equal(f->fs->v->put(f->fs, "atomic/k", &p.in, &err), -1);
	assert_int_equal(err.code, BLOB_IO);
	assert_true(p.probed);
	assert_int_equal(count_files(dir, ".blobtmp-"), 0);
	assert_int_equal(count_files(dir, "k"), 0);

	/* a failed replace leaves the old object whole */
	assert_int_equal(blob_put(f->fs, "atomic/k", "old", 3, &err), 0);
	p = (struct probe_src){
		.in = { .size = 100000, .read = probe_read, .rewind = probe_rewind, .fd = -1 },
		.f = f, .key = "atomic/k", .old = "old", .fail_after = 50000,
	};
	assert_int_equal(f->fs->v->put(f->fs, "atomic/k", &p.in, &err), -1);
	assert_true(p.probed);
	assert_int_equal(count_files(dir, ".blobtmp-"), 0);
	buf_init(&out, 0);
	assert_int_equal(blob_get(f->fs, "atomic/k", &out, NULL, &err), 0);
	assert_string_equal(out.data, "old");
	buf_free(&out);
	/* leftovers of a crash are neither read nor listed */
	snprintf(dir, sizeof(dir), "%s/atomic/.blobtmp-0123456789abcdef", f->dir);
	write_file(dir, "junk", 4);
	{
		struct listing l = { 0 };

		assert_int_equal(blob_list(f->fs, "atomic/", list_collect, &l, &err), 0);
		assert_int_equal(l.count, 1);
		assert_string_equal(l.keys[0], "atomic/k");
	}
}

static void test_fs_copy(void **state)
{
	struct fixture *f = *state;
	struct blob_error err;
	struct buf out;

	buf_init(&out, 0);
	assert_int_equal(blob_put(f->fs, "a.org/u1/" KEY1, "body", 4, &err), 0);
	assert_int_equal(blob_copy(f->fs, "a.org/u1/" KEY1, "b.org/u2/" KEY1, &err), 0);
	assert_int_equal(blob_get(f->fs, "b.org/u2/" KEY1, &out, NULL, &err), 0);
	assert_string_equal(out.data, "body");
	/* independent after the copy */
	assert_int_equal(blob_delete(f->fs, "a.org/u1/" KEY1, &err), 0);
	assert_int_equal(blob_get(f->fs, "b.org/u2/" KEY1, &out, NULL, &err), 0);
	assert_string_equal(out.data, "body");
	assert_int_equal(blob_put(f->fs, "b.org/u2/" KEY1, "new!", 4, &err), 0);
	assert_int_equal(blob_copy(f->fs, "b.org/u2/" KEY1, "c/d", &err), 0);
	assert_int_equal(blob_put(f->fs, "b.org/u2/" KEY1, "newer", 5, &err), 0);
	assert_int_equal(blob_get(f->fs, "c/d", &out, NULL, &err), 0);
	assert_string_equal(out.data, "new!");
	/* onto itself, over an existing key, from nothing */
	assert_int_equal(blob_copy(f->fs, "c/d", "c/d", &err), 0);
	assert_int_equal(blob_copy(f->fs, "b.org/u2/" KEY1, "c/d", &err), 0);
	assert_int_equal(blob_get(f->fs, "c/d", &out, NULL, &err), 0);
	assert_string_equal(out.data, "newer");
	assert_int_equal(blob_copy(f->fs, "a.org/u1/" KEY1, "x/y", &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	assert_int_equal(blob_copy(f->fs, "nothing/here", "x/y", &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	buf_free(&out);
}

static void test_fs_list(void **state)
{
	struct fixture *f = *state;
	static const char *const keys[] = {
		"a-c", "a/b", "a/b/c", "a0", "ex.org/alice/1", "ex.org/alice/2", "ex.org/bob/1",
		"ex.org/alice2/1", "ex.org/al",
	};
	static const char *const sorted[] = {
		"a-c", "a/b/c", "a0", "ex.org/al", "ex.org/alice/1", "ex.org/alice/2",
		"ex.org/alice2/1", "ex.org/bob/1",
	};
	struct listing l = { 0 };
	struct blob_error err;
	char path[256];

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		int ret = blob_put(f->fs, keys[i], keys[i], strlen(keys[i]), &err);

		/* "a/b" then "a/b/c": a file cannot also be a directory */
		if (strcmp(keys[i], "a/b/c") == 0) {
			assert_int_equal(ret, -1);
			assert_int_equal(blob_delete(f->fs, "a/b", &err), 0);
			ret = blob_put(f->fs, keys[i], keys[i], strlen(keys[i]), &err);
		}
		assert_int_equal(ret, 0);
	}
	snprintf(path, sizeof(path), "%s/ex.org/alice/.blobtmp-00112233aabbccdd", f->dir);
	write_file(path, "tmp", 3);
	snprintf(path, sizeof(path), "%s/ex.org/alice/link", f->dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);

	assert_int_equal(blob_list(f->fs, "", list_collect, &l, &err), 0);
	assert_int_equal(l.count, ARRAY_SIZE(sorted));
	for (size_t i = 0; i < ARRAY_SIZE(sorted); i++) {
		assert_string_equal(l.keys[i], sorted[i]);
		assert_int_equal(l.sizes[i], strlen(sorted[i]));
	}
	l = (struct listing){ 0 };
	assert_int_equal(blob_list(f->fs, "ex.org/alice/", list_collect, &l, &err), 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.keys[0], "ex.org/alice/1");
	assert_string_equal(l.keys[1], "ex.org/alice/2");
	l = (struct listing){ 0 };
	assert_int_equal(blob_list(f->fs, "ex.org/al", list_collect, &l, &err), 0);
	assert_int_equal(l.count, 4);
	l = (struct listing){ 0 };
	assert_int_equal(blob_list(f->fs, "ex.org/alice2", list_collect, &l, &err), 0);
	assert_int_equal(l.count, 1);
	l = (struct listing){ 0 };
	assert_int_equal(blob_list(f->fs, "nothing/", list_collect, &l, &err), 0);
	assert_int_equal(l.count, 0);
	l = (struct listing){ .stop_after = 3 };
	assert_int_equal(blob_list(f->fs, NULL, list_collect, &l, &err), 0);
	assert_int_equal(l.count, 3);
	l = (struct listing){ .fail_after = 2 };
	assert_int_equal(blob_list(f->fs, "", list_collect, &l, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	assert_string_equal(err.msg, "reader says no");
	assert_int_equal(blob_list(f->fs, "bad\nprefix", list_collect, &l, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
}

static void test_fs_open(void **state)
{
	struct fixture *f = *state;
	struct blob_settings set = { .driver = "fs" };
	struct blob_error err;
	struct blob *b = NULL;
	char path[128];

	assert_int_equal(blob_open(&set, &b, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	assert_non_null(strstr(err.msg, "storage path"));
	set.driver = "ftp";
	assert_int_equal(blob_open(&set, &b, &err), -1);
	assert_non_null(strstr(err.msg, "storage driver"));
	/* nested roots are created */
	snprintf(path, sizeof(path), "%s/x/y/z", f->dir);
	set.driver = NULL;
	set.fs_path = path;
	assert_int_equal(blob_open(&set, &b, &err), 0);
	assert_int_equal(blob_put(b, "k", "v", 1, &err), 0);
	blob_close(&b);
	blob_close(&b); /* NULL is fine */
	assert_int_equal(blob_fs_open("/proc/version/x", &b, &err), -1);
	assert_int_equal(err.code, BLOB_IO);
	assert_null(b);
}

/* ---- crypt wrapper ------------------------------------------------------- */

static struct blob *open_crypt(struct fixture *f, const char *key, const char *const *prev,
			       size_t prev_count)
{
	struct blob_settings set = {
		.fs_path = f->dir,
		.crypt = { .encrypt = true, .encryption_key = key,
			   .previous_encryption_keys = prev, .previous_count = prev_count },
	};
	struct blob_error err;
	struct blob *b = NULL;

	assert_int_equal(blob_open(&set, &b, &err), 0);
	return b;
}

static void raw_path(struct fixture *f, const char *key, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", f->dir, key);
}

/* Decrypts Sora's layout with OpenSSL directly: the format, not our code. */
static bool independent_decrypt(const uint8_t key[32], const char *obj, size_t len, char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, n2 = 0;
	bool ok;

	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, (const uint8_t *)obj) == 1 &&
	     EVP_DecryptUpdate(ctx, (uint8_t *)out, &n, (const uint8_t *)obj + 12,
			       (int)(len - 28)) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(obj + len - 16)) == 1 &&
	     EVP_DecryptFinal_ex(ctx, (uint8_t *)out + n, &n2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok && (size_t)(n + n2) == len - 28;
}

static void test_crypt_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct blob *c = open_crypt(f, HEX_A, NULL, 0);
	static const char text[] = "Subject: secret plans\r\n\r\nmeet at noon, bring the map\r\n";
	size_t len = sizeof(text) - 1, raw_len, raw2_len;
	uint8_t key[32];
	struct blob_read_info info;
	struct blob_error err;
	struct blob_stat st;
	char path[256], *raw, *raw2, plain[256];
	struct buf out;

	assert_int_equal(blob_crypt_parse_key("encryption_key", HEX_A, key, &err), 0);
	assert_int_equal(strlen(blob_key_id(c)), BLOB_KEY_ID_LEN);
	assert_null(blob_key_id(f->fs));

	assert_int_equal(blob_put(c, "d/m1", text, len, &err), 0);
	raw_path(f, "d/m1", path, sizeof(path));
	raw = read_file(path, &raw_len);
	/* Sora's layout: nonce(12) ‖ ciphertext ‖ tag(16), and no plaintext */
	assert_int_equal(raw_len, 12 + len + 16);
	assert_false(mem_contains(raw, raw_len, "secret", 6));
	assert_false(mem_contains(raw, raw_len, "noon", 4));
	assert_true(independent_decrypt(key, raw, raw_len, plain));
	assert_memory_equal(plain, text, len);

	buf_init(&out, 0);
	assert_int_equal(blob_get(c, "d/m1", &out, &info, &err), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, text, len);
	assert_string_equal(info.key_id, blob_key_id(c));
	assert_false(info.used_previous_key);
	assert_int_equal(info.size, len);
	assert_int_equal(blob_head(c, "d/m1", &st, &err), 0);
	assert_int_equal(st.size, len);
	assert_int_equal(st.stored_size, len + 28);

	/* a fresh nonce per object: the same text twice, different bytes */
	assert_int_equal(blob_put(c, "d/m2", text, len, &err), 0);
	raw_path(f, "d/m2", path, sizeof(path));
	raw2 = read_file(path, &raw2_len);
	assert_int_equal(raw2_len, raw_len);
	assert_memory_not_equal(raw, raw2, 12);
	assert_memory_not_equal(raw + 12, raw2 + 12, len);

	/* the raw store under it sees ciphertext */
	assert_int_equal(blob_get(f->fs, "d/m1", &out, NULL, &err), 0);
	assert_memory_equal(out.data, raw, raw_len);

	/* copy moves ciphertext as it is; it still decrypts */
	assert_int_equal(blob_copy(c, "d/m1", "e/m1", &err), 0);
	assert_int_equal(blob_get(c, "e/m1", &out, NULL, &err), 0);
	assert_memory_equal(out.data, text, len);

	/* empty body: 28 bytes */
	assert_int_equal(blob_put(c, "d/empty", "", 0, &err), 0);
	assert_int_equal(blob_head(f->fs, "d/empty", &st, &err), 0);
	assert_int_equal(st.size, 28);
	assert_int_equal(blob_get(c, "d/empty", &out, NULL, &err), 0);
	assert_int_equal(out.len, 0);

	/* read limits apply to the plaintext */
	buf_free(&out);
	buf_init(&out, len);
	assert_int_equal(blob_get(c, "d/m1", &out, NULL, &err), 0);
	assert_int_equal(out.max, len);
	buf_free(&out);
	buf_init(&out, len - 1);
	assert_int_equal(blob_get(c, "d/m1", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	assert_int_equal(out.max, len - 1);
	buf_free(&out);

	free(raw);
	free(raw2);
	blob_close(&c);
}

/* An object written by Sora (built here with OpenSSL, not our code) reads. */
static void test_crypt_reads_sora(void **state)
{
	struct fixture *f = *state;
	struct blob *c = open_crypt(f, HEX_B, NULL, 0);
	static const char text[] = "From: sora@example.org\r\n\r\nwritten by Go\r\n";
	size_t len = sizeof(text) - 1;
	uint8_t key[32], obj[12 + sizeof(text) + 16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	struct blob_error err;
	struct buf out;
	int n = 0;

	assert_int_equal(blob_crypt_parse_key("k", HEX_B, key, &err), 0);
	assert_int_equal(RAND_bytes(obj, 12), 1);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, obj), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, obj + 12, &n, (const uint8_t *)text, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, obj + 12 + n, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, obj + 12 + len), 1);
	EVP_CIPHER_CTX_free(ctx);
	assert_int_equal(blob_put(f->fs, "sora/obj", obj, 12 + len + 16, &err), 0);
	buf_init(&out, 0);
	assert_int_equal(blob_get(c, "sora/obj", &out, NULL, &err), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, text, len);
	buf_free(&out);
	blob_close(&c);
}

static void test_crypt_tamper(void **state)
{
	struct fixture *f = *state;
	struct blob *c = open_crypt(f, HEX_A, NULL, 0);
	static const char text[] = "tamper with any byte of me";
	size_t len = sizeof(text) - 1, raw_len;
	struct blob_error err;
	char path[256], *raw;
	struct buf out;

	assert_int_equal(blob_put(c, "t/k", text, len, &err), 0);
	raw_path(f, "t/k", path, sizeof(path));
	raw = read_file(path, &raw_len);
	buf_init(&out, 0);
	for (size_t i = 0; i < raw_len; i++) {
		raw[i] ^= 0x01;
		assert_int_equal(blob_put(f->fs, "t/bad", raw, raw_len, &err), 0);
		assert_int_equal(blob_get(c, "t/bad", &out, NULL, &err), -1);
		assert_int_equal(err.code, BLOB_CORRUPT);
		assert_int_equal(out.len, 0); /* never garbage */
		raw[i] ^= 0x01;
	}
	/* truncated, too short, plaintext stored raw */
	assert_int_equal(blob_put(f->fs, "t/bad", raw, raw_len - 1, &err), 0);
	assert_int_equal(blob_get(c, "t/bad", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_CORRUPT);
	assert_int_equal(blob_put(f->fs, "t/bad", raw, 27, &err), 0);
	assert_int_equal(blob_get(c, "t/bad", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_CORRUPT);
	assert_int_equal(blob_put(f->fs, "t/bad", text, len, &err), 0);
	assert_int_equal(blob_get(c, "t/bad", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_CORRUPT);
	assert_int_equal(blob_put(f->fs, "t/short", "x", 1, &err), 0);
	assert_int_equal(blob_head(c, "t/short", &(struct blob_stat){ 0 }, &err), -1);
	assert_int_equal(err.code, BLOB_CORRUPT);
	/* the untouched one still reads */
	assert_int_equal(blob_get(c, "t/k", &out, NULL, &err), 0);
	assert_memory_equal(out.data, text, len);
	buf_free(&out);
	free(raw);
	blob_close(&c);
}

static int fail_never(void *ctx, const void *data, size_t len, struct blob_error *err)
{
	(void)err;
	*(size_t *)ctx += len;
	(void)data;
	return 0;
}

static void test_crypt_keys(void **state)
{
	struct fixture *f = *state;
	struct blob *a = open_crypt(f, HEX_A, NULL, 0), *b, *c;
	const char *prev_a[] = { HEX_A }, *prev_ca[] = { HEX_C, HEX_B, HEX_A };
	char id_a[BLOB_KEY_ID_LEN + 1];
	struct blob_read_info info;
	struct blob_error err;
	struct buf out;
	size_t seen = 0;

	snprintf(id_a, sizeof(id_a), "%s", blob_key_id(a));
	assert_int_equal(blob_put(a, "k/old", "old body", 8, &err), 0);
	blob_close(&a);

	/* a wrong key: CORRUPT, nothing handed out, no key in the message */
	b = open_crypt(f, HEX_B, NULL, 0);
	buf_init(&out, 0);
	assert_int_equal(blob_get(b, "k/old", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_CORRUPT);
	assert_int_equal(out.len, 0);
	assert_null(strstr(err.msg, HEX_B));
	assert_null(strstr(err.msg, HEX_A));
	assert_non_null(strstr(err.msg, blob_key_id(b)));
	assert_int_equal(blob_get_stream(b, "k/old", fail_never, &seen, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_CORRUPT);
	assert_int_equal(seen, 0);
	blob_close(&b);

	/* after a rotation, previous keys read old objects */
	b = open_crypt(f, HEX_B, prev_a, 1);
	assert_int_equal(blob_get(b, "k/old", &out, &info, &err), 0);
	assert_string_equal(out.data, "old body");
	assert_true(info.used_previous_key);
	assert_string_equal(info.key_id, id_a);
	assert_string_not_equal(blob_key_id(b), id_a);
	assert_int_equal(blob_put(b, "k/new", "new body", 8, &err), 0);
	assert_int_equal(blob_get(b, "k/new", &out, &info, &err), 0);
	assert_false(info.used_previous_key);
	assert_string_equal(info.key_id, blob_key_id(b));
	assert_int_equal(blob_get_stream(b, "k/old", fail_never, &seen, &info, &err), 0);
	assert_int_equal(seen, 8);
	assert_true(info.used_previous_key);
	blob_close(&b);

	/* several previous keys, the right one last; the current key repeated */
	c = open_crypt(f, HEX_C, prev_ca, 3);
	assert_int_equal(blob_get(c, "k/old", &out, &info, &err), 0);
	assert_string_equal(out.data, "old body");
	assert_string_equal(info.key_id, id_a);
	assert_int_equal(blob_get(c, "k/new", &out, &info, &err), 0);
	assert_string_equal(out.data, "new body");
	blob_close(&c);
	buf_free(&out);
}

static void test_crypt_parse_key(void **state)
{
	struct fixture *f = *state;
	struct blob_settings set = { .fs_path = f->dir, .crypt = { .encrypt = true } };
	const char *prev[] = { HEX_A, "nothex" HEX_A };
	char id1[BLOB_KEY_ID_LEN + 1], id2[BLOB_KEY_ID_LEN + 1];
	uint8_t key[32], key2[32];
	struct blob_error err;
	struct blob *b = NULL;

	assert_int_equal(blob_crypt_parse_key("encryption_key", HEX_A, key, &err), 0);
	assert_int_equal(key[0], 0x00);
	assert_int_equal(key[31], 0x1f);
	assert_int_equal(blob_crypt_parse_key("encryption_key", HEX_A "0", key, &err), -1);
	assert_int_equal(err.code, BLOB_PERMANENT);
	assert_non_null(strstr(err.msg, "encryption_key"));
	assert_non_null(strstr(err.msg, "65"));
	assert_null(strstr(err.msg, HEX_A));
	assert_int_equal(blob_crypt_parse_key("encryption_key",
					      "zz02030405060708090a0b0c0d0e0f"
					      "101112131415161718191a1b1c1d1e1f00",
					      key, &err),
			 -1);
	assert_non_null(strstr(err.msg, "hexadecimal"));
	assert_null(strstr(err.msg, "zz"));
	assert_int_equal(blob_crypt_parse_key("encryption_key", "", key, &err), -1);
	assert_int_equal(blob_crypt_parse_key("encryption_key", NULL, key, &err), -1);
	/* upper case hex is hex */
	assert_int_equal(blob_crypt_parse_key("k", "F0E1D2C3B4A5968778695A4B3C2D1E0F"
						   "F0E1D2C3B4A5968778695A4B3C2D1E0F", key2, &err),
			 0);
	/* key ids: stable, distinct, not the key's own bytes */
	blob_crypt_key_id(key, id1);
	blob_crypt_key_id(key, id2);
	assert_string_equal(id1, id2);
	assert_int_equal(strspn(id1, "0123456789abcdef"), BLOB_KEY_ID_LEN);
	assert_null(strstr(HEX_A, id1));
	blob_crypt_key_id(key2, id2);
	assert_string_not_equal(id1, id2);

	/* blob_open refuses bad keys, naming the setting */
	assert_int_equal(blob_open(&set, &b, &err), -1);
	assert_non_null(strstr(err.msg, "encryption_key"));
	set.crypt.encryption_key = "0123";
	assert_int_equal(blob_open(&set, &b, &err), -1);
	assert_non_null(strstr(err.msg, "encryption_key"));
	assert_null(b);
	set.crypt.encryption_key = HEX_B;
	set.crypt.previous_encryption_keys = prev;
	set.crypt.previous_count = 2;
	assert_int_equal(blob_open(&set, &b, &err), -1);
	assert_non_null(strstr(err.msg, "previous_encryption_keys[1]"));
	assert_null(strstr(err.msg, HEX_A));
	set.crypt.previous_count = 1;
	assert_int_equal(blob_open(&set, &b, &err), 0);
	blob_close(&b);
}

struct list_names {
	int count;
	bool saw_check;
	uint64_t size;
};

static int list_names_cb(void *ctx, const char *key, uint64_t size, struct blob_error *err)
{
	struct list_names *l = ctx;

	(void)err;
	l->count++;
	if (strcmp(key, BLOB_CRYPT_CHECK_KEY) == 0)
		l->saw_check = true;
	else
		l->size = size;
	return 0;
}

static void test_crypt_key_check(void **state)
{
	struct fixture *f = *state;
	struct blob *a = open_crypt(f, HEX_A, NULL, 0), *b;
	const char *prev_a[] = { HEX_A };
	enum blob_key_check res;
	struct list_names l = { 0 };
	struct blob_error err;
	struct blob_stat st;

	assert_int_equal(blob_crypt_verify_key(f->fs, &res, &err), -1); /* no crypt layer */
	assert_int_equal(blob_crypt_verify_key(a, &res, &err), 0);
	assert_int_equal(res, BLOB_KEY_CHECK_CREATED);
	assert_int_equal(blob_head(f->fs, BLOB_CRYPT_CHECK_KEY, &st, &err), 0);
	assert_int_equal(blob_crypt_verify_key(a, &res, &err), 0);
	assert_int_equal(res, BLOB_KEY_CHECK_MATCH);
	assert_int_equal(blob_put(a, "m/1", "12345", 5, &err), 0);
	/* the crypt layer hides its check object and lists plaintext sizes */
	assert_int_equal(blob_list(a, "", list_names_cb, &l, &err), 0);
	assert_int_equal(l.count, 1);
	assert_false(l.saw_check);
	assert_int_equal(l.size, 5);
	l = (struct list_names){ 0 };
	assert_int_equal(blob_list(f->fs, "", list_names_cb, &l, &err), 0);
	assert_true(l.saw_check);
	blob_close(&a);

	/* another key: refuse, and say why without the keys */
	b = open_crypt(f, HEX_B, NULL, 0);
	assert_int_equal(blob_crypt_verify_key(b, &res, &err), 0);
	assert_int_equal(res, BLOB_KEY_CHECK_MISMATCH);
	assert_int_equal(err.code, BLOB_PERMANENT);
	assert_non_null(strstr(err.msg, "encryption_key"));
	assert_non_null(strstr(err.msg, blob_key_id(b)));
	assert_null(strstr(err.msg, HEX_B));
	blob_close(&b);

	/* rotation: new key, old one previous → rewritten, then a match */
	b = open_crypt(f, HEX_B, prev_a, 1);
	assert_int_equal(blob_crypt_verify_key(b, &res, &err), 0);
	assert_int_equal(res, BLOB_KEY_CHECK_ROTATED);
	blob_close(&b);
	b = open_crypt(f, HEX_B, NULL, 0);
	assert_int_equal(blob_crypt_verify_key(b, &res, &err), 0);
	assert_int_equal(res, BLOB_KEY_CHECK_MATCH);
	blob_close(&b);

	/* a damaged check object is a mismatch, not a crash */
	assert_int_equal(blob_put(f->fs, BLOB_CRYPT_CHECK_KEY, "garbage", 7, &err), 0);
	b = open_crypt(f, HEX_B, NULL, 0);
	assert_int_equal(blob_crypt_verify_key(b, &res, &err), 0);
	assert_int_equal(res, BLOB_KEY_CHECK_MISMATCH);
	blob_close(&b);
}

static void test_crypt_big_stream(void **state)
{
	struct fixture *f = *state;
	struct blob *c = open_crypt(f, HEX_A, NULL, 0);
	size_t len = 5 * 1024 * 1024 + 3, got_len;
	char *data = malloc(len), path[128], *got;
	struct blob_error err;
	struct blob_stat st;
	int fd;

	fill(data, len, 7);
	snprintf(path, sizeof(path), "%s.big", f->dir);
	write_file(path, data, len);
	fd = open(path, O_RDONLY);
	assert_int_equal(blob_put_fd(c, "big/enc", fd, &err), 0);
	close(fd);
	assert_int_equal(blob_head(f->fs, "big/enc", &st, &err), 0);
	assert_int_equal(st.size, len + 28);
	fd = open(path, O_RDWR | O_TRUNC);
	assert_int_equal(blob_get_fd(c, "big/enc", fd, NULL, &err), 0);
	close(fd);
	got = read_file(path, &got_len);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	unlink(path);
	free(got);
	free(data);
	blob_close(&c);
}

/* ---- failing wrapper ----------------------------------------------------- */

static void test_failing(void **state)
{
	struct fixture *f = *state;
	struct blob *fs, *b;
	struct blob_error err;
	struct blob_stat st;
	struct buf out;
	bool exists;

	assert_int_equal(blob_fs_open(f->dir, &fs, &err), 0);
	b = blob_failing_wrap(fs);
	buf_init(&out, 0);
	assert_int_equal(blob_put(b, "f/1", "one", 3, &err), 0);

	/* the 2nd put from now fails, the others pass */
	blob_failing_set(b, BLOB_OP_PUT, 2, BLOB_TEMPORARY, false);
	assert_int_equal(blob_put(b, "f/2", "two", 3, &err), 0);
	assert_int_equal(blob_put(b, "f/3", "three", 5, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	assert_non_null(strstr(err.msg, "put"));
	assert_int_equal(blob_head(b, "f/3", &st, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND); /* failed before: nothing written */
	assert_int_equal(blob_put(b, "f/3", "three", 5, &err), 0);

	/* every get */
	blob_failing_set(b, BLOB_OP_GET, 0, BLOB_CORRUPT, false);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(blob_get(b, "f/1", &out, NULL, &err), -1);
		assert_int_equal(err.code, BLOB_CORRUPT);
		assert_int_equal(out.len, 0);
	}
	assert_int_equal(blob_head(b, "f/1", &st, &err), 0);

	/* a lost reply: the put happened, the caller hears an error */
	blob_failing_set(b, BLOB_OP_PUT, 1, BLOB_TEMPORARY, true);
	assert_int_equal(blob_put(b, "f/4", "four", 4, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	blob_failing_set(b, BLOB_OP_COUNT, 0, BLOB_OK, false);
	assert_int_equal(blob_get(b, "f/4", &out, NULL, &err), 0);
	assert_string_equal(out.data, "four");

	/* any op, the 3rd call */
	blob_failing_set(b, BLOB_OP_COUNT, 3, BLOB_IO, false);
	assert_int_equal(blob_exists(b, "f/1", &exists, &err), 0);
	assert_int_equal(blob_delete(b, "f/2", &err), 0);
	assert_int_equal(blob_copy(b, "f/1", "f/5", &err), -1);
	assert_int_equal(err.code, BLOB_IO);
	assert_int_equal(blob_list(b, "", list_collect, &(struct listing){ 0 }, &err), 0);
	/* exists() reports a failing head as a failure, not as "absent" */
	blob_failing_set(b, BLOB_OP_HEAD, 0, BLOB_TEMPORARY, false);
	assert_int_equal(blob_exists(b, "f/1", &exists, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);

	assert_int_equal(blob_failing_calls(b, BLOB_OP_PUT), 5);
	assert_int_equal(blob_failing_calls(b, BLOB_OP_GET), 4);
	assert_int_equal(blob_failing_calls(b, BLOB_OP_HEAD), 4);
	assert_int_equal(blob_failing_calls(b, BLOB_OP_COUNT), 5 + 4 + 4 + 1 + 1 + 1);
	buf_free(&out);

	/* wrappers stack: failing over crypt over fs */
	blob_close(&b);
	b = blob_failing_wrap(open_crypt(f, HEX_A, NULL, 0));
	assert_int_equal(blob_put(b, "f/6", "six", 3, &err), 0);
	assert_non_null(blob_key_id(b));
	blob_failing_set(b, BLOB_OP_GET, 1, BLOB_TEMPORARY, false);
	buf_init(&out, 0);
	assert_int_equal(blob_get(b, "f/6", &out, NULL, &err), -1);
	assert_int_equal(blob_get(b, "f/6", &out, NULL, &err), 0);
	assert_string_equal(out.data, "six");
	buf_free(&out);
	blob_close(&b);
}

/* ---- threads ------------------------------------------------------------- */

struct thread_arg {
	struct blob *b;
	int id;
	int failures;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	char key[64], body[2000];
	struct blob_error err;
	struct buf out;

	buf_init(&out, 0);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "mt/%d/%d", i % 5, a->id * 100 + i);
		fill(body, sizeof(body), (unsigned)(a->id * 100 + i));
		if (blob_put(a->b, key, body, sizeof(body), &err) < 0 ||
		    blob_get(a->b, key, &out, NULL, &err) < 0 || out.len != sizeof(body) ||
		    memcmp(out.data, body, sizeof(body)) != 0)
			a->failures++;
		/* all threads race on one shared key too */
		if (blob_put(a->b, "mt/shared", "same", 4, &err) < 0)
			a->failures++;
	}
	buf_free(&out);
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct blob *c = open_crypt(f, HEX_A, NULL, 0);
	struct thread_arg args[8];
	pthread_t th[8];

	for (int i = 0; i < 8; i++) {
		args[i] = (struct thread_arg){ .b = c, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	blob_close(&c);
}

/* ---- S3: list parser, settings, unreachable server ----------------------- */

static void test_s3_list_parse(void **state)
{
	static const char doc[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>mail</Name><Prefix>x/</Prefix><KeyCount>3</KeyCount>"
		"<MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
		"<!-- a comment <Key>no</Key> -->"
		"<Contents><Key>x/a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;</Key>"
		"<LastModified>2024-01-01T00:00:00.000Z</LastModified>"
		"<ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>"
		"</Contents>"
		"<Contents><Size>0</Size><Key>x/&#233;&#x20AC;&#x1F600;</Key></Contents>"
		"<Contents><Key>x/../bad</Key><Size>1</Size></Contents>"
		"<Contents><Key>x/plain</Key><Size>18446744073709551615</Size></Contents>"
		"<NextContinuationToken>tok/en+=&amp;</NextContinuationToken>"
		"<Empty/></ListBucketResult>\n";
	struct blob_s3_list_page page;
	struct listing l = { 0 };
	struct blob_error err = { 0 };
	char code[32];

	(void)state;
	assert_int_equal(blob_s3_list_parse(doc, strlen(doc), list_collect, &l, &page, &err), 0);
	assert_int_equal(l.count, 3); /* the invalid key is skipped */
	assert_string_equal(l.keys[0], "x/a&b <c> \"d\" 'e'");
	assert_int_equal(l.sizes[0], 12);
	assert_string_equal(l.keys[1], "x/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	assert_int_equal(l.sizes[1], 0);
	assert_string_equal(l.keys[2], "x/plain");
	assert_true(l.sizes[2] == UINT64_MAX);
	assert_true(page.is_truncated);
	assert_string_equal(page.next_token, "tok/en+=&");
	free(page.next_token);

	/* stop early */
	l = (struct listing){ .stop_after = 1 };
	assert_int_equal(blob_s3_list_parse(doc, strlen(doc), list_collect, &l, &page, &err), 1);
	free(page.next_token);

	static const char *const bad[] = {
		"",
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999</Size>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&bogus;</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#0;</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#xD800;</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#x110000;</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&amp</Key></Contents></ListBucketResult>",
		"<!DOCTYPE x [<!ENTITY e \"boom\">]><ListBucketResult></ListBucketResult>",
		"<ListBucketResult><![CDATA[x]]></ListBucketResult>",
		"<ListBucketResult><a><b><c><d><e><f><g><h>x</h></g></f></e></d></c></b></a>"
		"</ListBucketResult>",
		"<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>",
		"<ListBucketResult><Contents",
		"<ListBucketResult><!-- unterminated",
		"<ListBucketResult></>",
		"<ListBucketResult><a x=\"></ListBucketResult>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		l = (struct listing){ 0 };
		err = (struct blob_error){ 0 };
		assert_int_equal(blob_s3_list_parse(bad[i], strlen(bad[i]), list_collect, &l,
						    &page, &err),
				 -1);
		assert_int_equal(err.code, BLOB_PERMANENT);
		assert_null(page.next_token);
	}
	assert_true(blob_s3_xml_find("<Error><Code>Sig&amp;\x01</Code></Error>", 36, "Code", code,
				     sizeof(code)));
	assert_string_equal(code, "Sig&?");
	assert_false(blob_s3_xml_find("<Error></Error>", 15, "Code", code, sizeof(code)));
	assert_true(blob_s3_xml_find("<Code>0123456789</Code>", 23, "Code", code, 5) == false);
}

static void test_s3_settings(void **state)
{
	struct blob_s3_settings set = {
		.endpoint = "127.0.0.1:1", .bucket = "mail", .access_key = "AK",
		.secret_key = "very-secret", .disable_tls = true,
	};
	struct blob_settings bs = { .driver = "s3" };
	struct blob_error err;
	struct blob *b = NULL;

	(void)state;
	bs.s3 = set;
	bs.s3.secret_key = NULL;
	assert_int_equal(blob_open(&bs, &b, &err), -1);
	assert_string_equal(err.msg, "s3.secret_key: not set");
	bs.s3 = set;
	bs.s3.endpoint = "http://user:pw@host/path";
	assert_int_equal(blob_open(&bs, &b, &err), -1);
	assert_non_null(strstr(err.msg, "s3.endpoint"));
	bs.s3 = set;
	bs.s3.bucket = "mail/../x";
	assert_int_equal(blob_open(&bs, &b, &err), -1);
	assert_non_null(strstr(err.msg, "s3.bucket"));
	bs.s3 = set;
	bs.s3.endpoint = "https://s3.example.org/";
	assert_int_equal(blob_open(&bs, &b, &err), 0);
	blob_close(&b);
	assert_null(b);
}

/* Nothing listens: a temporary error after the configured attempts, with
   backoff in between, and no secret in the message. */
static void test_s3_unreachable(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char endpoint[64];
	struct blob_s3_settings set = {
		.endpoint = endpoint, .bucket = "mail", .access_key = "AKIDEXAMPLE",
		.secret_key = "wJalrXUtnFEMI-secret", .disable_tls = true, .max_attempts = 3,
		.retry_base_ms = 40, .timeout_ms = 2000,
	};
	struct blob_error err;
	struct blob *b;
	struct buf out;
	uint64_t t0;

	(void)state;
	/* a port that was free a moment ago */
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%u", ntohs(sin.sin_port));
	close(fd);
	assert_int_equal(blob_s3_open(&set, &b, &err), 0);
	buf_init(&out, 0);
	t0 = util_now_ms();
	assert_int_equal(blob_get(b, "a/b", &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	assert_non_null(strstr(err.msg, "after 3 attempts"));
	assert_null(strstr(err.msg, "secret"));
	assert_null(strstr(err.msg, "AKIDEXAMPLE"));
	/* two backoffs of 20..40 and 40..80 ms */
	assert_true(util_now_ms() - t0 >= 60);
	assert_int_equal(blob_put(b, "a/b", "x", 1, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	assert_int_equal(blob_list(b, "", list_collect, &(struct listing){ 0 }, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	buf_free(&out);
	blob_close(&b);
}


struct staged_list_ctx {
	char keys[4][128];
	size_t n;
};

static int staged_list_collect(void *ctx, const char *key, uint64_t size, struct blob_error *err)
{
	struct staged_list_ctx *lc = ctx;

	(void)size;
	(void)err;
	if (lc->n < 4)
		snprintf(lc->keys[lc->n], sizeof(lc->keys[0]), "%s", key);
	lc->n++;
	return 0;
}

/* ---- staged uploads and the local cache ------------------------------- */

#define SKEY(n) "example.org/alice/" n
#define SH1 "1111111111111111111111111111111111111111111111111111111111111111"
#define SH2 "2222222222222222222222222222222222222222222222222222222222222222"
#define SH3 "3333333333333333333333333333333333333333333333333333333333333333"

static void sub_path(const struct fixture *f, const char *name, char *out, size_t size)
{
	assert_true(snprintf(out, size, "%s/%s", f->dir, name) < (int)size);
}

/* Waits until the staging area holds `count` objects (ASan is slow: a
   generous deadline, no timing asserted). */
static void wait_staged(struct blob *b, uint64_t count)
{
	struct blob_staged_stats st;
	struct blob_error err;

	for (int i = 0; i < 3000; i++) {
		assert_int_equal(blob_staged_get_stats(b, &st, &err), 0);
		if (st.count == count)
			return;
		usleep(10 * 1000);
	}
	fail_msg("staging still holds %llu objects, want %llu", (unsigned long long)st.count,
		 (unsigned long long)count);
}

static void test_staged(void **state)
{
	struct fixture *f = *state;
	struct blob *remote_fs, *remote, *b, *check;
	struct blob_staged_settings set = {
		.max_size = 100, .batch_size = 2, .concurrency = 2, .max_attempts = 1000,
		.retry_interval_ms = 20,
	};
	struct blob_staged_stats st;
	struct blob_error err;
	struct buf out;
	char rpath[128], spath[128], big[96];
	bool exists;

	sub_path(f, "remote", rpath, sizeof(rpath));
	sub_path(f, "stage", spath, sizeof(spath));
	set.path = spath;
	buf_init(&out, 0);
	assert_int_equal(blob_fs_open(rpath, &remote_fs, &err), 0);
	remote = blob_failing_wrap(remote_fs);
	blob_failing_set(remote, BLOB_OP_PUT, 0, BLOB_TEMPORARY, false); /* "S3 is down" */
	assert_int_equal(blob_staged_wrap(remote, &set, &b, &err), 0);
	assert_ptr_equal(blob_remote(b), remote);
	assert_int_equal(blob_staged_start(b, &err), 0);

	/* accepted and readable while the remote store refuses */
	assert_int_equal(blob_put(b, SKEY(SH1), "hello", 5, &err), 0);
	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0);
	assert_memory_equal(out.data, "hello", 5);
	assert_int_equal(blob_exists(b, SKEY(SH1), &exists, &err), 0);
	assert_true(exists);
	assert_int_equal(blob_exists(remote_fs, SKEY(SH1), &exists, &err), 0);
	assert_false(exists);
	/* the cap: 5 + 96 > 100 */
	fill(big, sizeof(big), 3);
	assert_int_equal(blob_put(b, SKEY(SH2), big, sizeof(big), &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	assert_non_null(strstr(err.msg, "staging area full"));
	usleep(200 * 1000); /* several failed rounds */
	assert_int_equal(blob_staged_get_stats(b, &st, &err), 0);
	assert_int_equal(st.count, 1);
	assert_int_equal(st.bytes, 5);
	assert_true(st.oldest > 0);
	assert_true(st.failures > 0);
	assert_int_equal(st.uploaded, 0);

	/* a restart while still down: the staged body is found again */
	blob_close(&b);
	assert_int_equal(blob_fs_open(rpath, &remote_fs, &err), 0);
	assert_int_equal(blob_staged_wrap(remote_fs, &set, &b, &err), 0);
	assert_int_equal(blob_staged_scan(spath, &st, &err), 0);
	assert_int_equal(st.count, 1);
	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0);
	assert_memory_equal(out.data, "hello", 5);
	/* the remote store is back: uploaded, then removed from staging */
	assert_int_equal(blob_staged_start(b, &err), 0);
	wait_staged(b, 0);
	assert_int_equal(blob_fs_open(rpath, &check, &err), 0);
	assert_int_equal(blob_get(check, SKEY(SH1), &out, NULL, &err), 0);
	assert_memory_equal(out.data, "hello", 5);
	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0); /* now from remote */
	assert_memory_equal(out.data, "hello", 5);
	assert_int_equal(blob_staged_get_stats(b, &st, &err), 0);
	assert_int_equal(st.uploaded, 1);
	/* room again */
	assert_int_equal(blob_put(b, SKEY(SH2), big, sizeof(big), &err), 0);
	wait_staged(b, 0);
	assert_int_equal(blob_get(check, SKEY(SH2), &out, NULL, &err), 0);
	assert_memory_equal(out.data, big, sizeof(big));

	/* delete removes both copies, staged or uploaded */
	assert_int_equal(blob_delete(b, SKEY(SH2), &err), 0);
	assert_int_equal(blob_exists(check, SKEY(SH2), &exists, &err), 0);
	assert_false(exists);
	blob_staged_stop(b);
	assert_int_equal(blob_put(b, SKEY(SH3), "x", 1, &err), 0);
	assert_int_equal(blob_delete(b, SKEY(SH3), &err), 0);
	assert_int_equal(blob_exists(b, SKEY(SH3), &exists, &err), 0);
	assert_false(exists);
	assert_int_equal(blob_staged_scan(spath, &st, &err), 0);
	assert_int_equal(st.count, 0);

	/* listing merges staged and remote keys in order, once each */
	assert_int_equal(blob_put(b, SKEY(SH3), "y", 1, &err), 0);
	{
		struct staged_list_ctx lc = { 0 };

		assert_int_equal(blob_list(b, "example.org/", staged_list_collect, &lc, &err), 0);
		assert_int_equal(lc.n, 2);
		assert_string_equal(lc.keys[0], SKEY(SH1));
		assert_string_equal(lc.keys[1], SKEY(SH3));
	}
	blob_close(&check);
	blob_close(&b);
	buf_free(&out);
}

static void test_cache(void **state)
{
	struct fixture *f = *state;
	struct blob_cache_settings set = { .capacity = 10, .max_object_size = 6 };
	struct blob_cache_stats st;
	struct blob *remote, *b;
	struct blob_error err;
	struct buf out;
	char rpath[128], cpath[128], file[256];
	struct stat sb;

	sub_path(f, "remote", rpath, sizeof(rpath));
	sub_path(f, "cache", cpath, sizeof(cpath));
	set.path = cpath;
	buf_init(&out, 0);
	assert_int_equal(blob_fs_open(rpath, &remote, &err), 0);
	assert_int_equal(blob_put(remote, SKEY(SH1), "aaaa", 4, &err), 0);
	assert_int_equal(blob_put(remote, SKEY(SH2), "bbbbb", 5, &err), 0);
	assert_int_equal(blob_put(remote, SKEY(SH3), "ccccccc", 7, &err), 0);
	assert_int_equal(blob_cache_wrap(remote, &set, &b, &err), 0);

	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0); /* miss, stored */
	assert_memory_equal(out.data, "aaaa", 4);
	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0); /* hit */
	assert_memory_equal(out.data, "aaaa", 4);
	assert_int_equal(blob_get(b, SKEY(SH3), &out, NULL, &err), 0); /* too big: not kept */
	assert_int_equal(out.len, 7);
	assert_int_equal(blob_cache_get_stats(b, &st, &err), 0);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, 4);
	/* the cached copy is what a hit serves: prove it by changing the remote */
	assert_int_equal(blob_put(b, SKEY(SH1), "AAAA", 4, &err), 0);
	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0);
	assert_memory_equal(out.data, "aaaa", 4);
	snprintf(file, sizeof(file), "%s/data/11/11/%s", cpath, &SH1[4]);
	assert_int_equal(stat(file, &sb), 0);
	/* SH2 (5) + SH1 (4) fit in 10; SH1 is used, so SH2 is older… */
	assert_int_equal(blob_get(b, SKEY(SH2), &out, NULL, &err), 0);
	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0);
	/* …and a third body pushes out the least recently used: SH2 */
	assert_int_equal(blob_put(remote, SKEY(SH3), "cc", 2, &err), 0);
	assert_int_equal(blob_get(b, SKEY(SH3), &out, NULL, &err), 0);
	assert_int_equal(blob_cache_get_stats(b, &st, &err), 0);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.bytes, 6);
	assert_int_equal(stat(file, &sb), 0);
	snprintf(file, sizeof(file), "%s/data/22/22/%s", cpath, SH2 + 4);
	assert_int_equal(stat(file, &sb), -1);
	/* a delete removes the plaintext copy */
	assert_int_equal(blob_delete(b, SKEY(SH3), &err), 0);
	assert_int_equal(blob_cache_get_stats(b, &st, &err), 0);
	assert_int_equal(st.entries, 1);
	blob_close(&b); /* saves the counters */

	/* another process's view: files counted now, counters as saved */
	assert_int_equal(blob_cache_read_stats(cpath, &st, &err), 0);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, 4);
	assert_int_equal(st.hits, 3);
	assert_int_equal(st.evictions, 1);
	assert_true(st.written_at > 0);
	/* a restart rebuilds the index from the files: a hit at once */
	assert_int_equal(blob_fs_open(rpath, &remote, &err), 0);
	assert_int_equal(blob_cache_wrap(remote, &set, &b, &err), 0);
	assert_int_equal(blob_get(b, SKEY(SH1), &out, NULL, &err), 0);
	assert_memory_equal(out.data, "aaaa", 4);
	assert_int_equal(blob_cache_get_stats(b, &st, &err), 0);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 0);
	/* keys that are not content hashes pass through uncached */
	assert_int_equal(blob_put(b, "other/key", "zz", 2, &err), 0);
	assert_int_equal(blob_get(b, "other/key", &out, NULL, &err), 0);
	assert_int_equal(blob_cache_get_stats(b, &st, &err), 0);
	assert_int_equal(st.entries, 1);
	/* encrypted below the cache: plaintext in the cache, ciphertext remote */
	blob_close(&b);
	buf_free(&out);
}

/* ---- range reads (FETCH of a section or a partial) ------------------------ */

static int range_chunk(void *ctx, const void *data, size_t len, struct blob_error *err)
{
	(void)err;
	return buf_append(ctx, data, len);
}

/* Every range of interest of b's "key" (holding data) reads right. */
static void check_ranges(struct blob *b, const char *key, const char *data, size_t len)
{
	static const uint64_t offs[] = { 0, 1, 4095, 65536, 131071, 131072, 200000 };
	static const uint64_t lens[] = { 1, 100, 131072, 300000, UINT64_MAX };
	struct blob_read_info info;
	struct blob_error err;
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(lens); j++) {
			uint64_t off = offs[i], want;

			if (off > len)
				continue;
			want = MIN(lens[j], (uint64_t)len - off);
			assert_int_equal(blob_get_range(b, key, off, lens[j], &out, &info, &err), 0);
			assert_int_equal(out.len, want);
			assert_int_equal(info.size, want);
			if (want > 0)
				assert_memory_equal(out.data, data + off, want);
			buf_clear(&out);
			assert_int_equal(blob_get_range_stream(b, key, off, lens[j], range_chunk,
							       &out, NULL, &err), 0);
			assert_int_equal(out.len, want);
			if (want > 0)
				assert_memory_equal(out.data, data + off, want);
		}
	}
	/* past the end and empty: no bytes, no error */
	assert_int_equal(blob_get_range(b, key, len + 10, 5, &out, NULL, &err), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(blob_get_range(b, key, 0, 0, &out, NULL, &err), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(blob_get_range(b, "no/such", 0, 5, &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_NOT_FOUND);
	buf_free(&out);
}

static void test_ranges(void **state)
{
	struct fixture *f = *state;
	size_t len = 250000;
	char *data = malloc(len), path[256];
	struct blob *c, *fb, *cache, *remote;
	struct blob_cache_settings cset = { .capacity = 1 << 20, .max_object_size = 1 << 20 };
	struct blob_error err;
	struct buf out;
	char cpath[128], rpath[128];
	size_t raw_len;
	char *raw;

	fill(data, len, 7);
	buf_init(&out, 0);
	/* fs: pread */
	assert_int_equal(blob_put(f->fs, "d/r", data, len, &err), 0);
	check_ranges(f->fs, "d/r", data, len);

	/* crypt: the whole object is authenticated before any byte is given */
	c = open_crypt(f, HEX_A, NULL, 0);
	assert_int_equal(blob_put(c, "d/e", data, len, &err), 0);
	check_ranges(c, "d/e", data, len);
	raw_path(f, "d/e", path, sizeof(path));
	raw = read_file(path, &raw_len);
	raw[raw_len - 1] ^= 1; /* the tag, at the very end */
	write_file(path, raw, raw_len);
	buf_clear(&out);
	assert_int_equal(blob_get_range_stream(c, "d/e", 0, 10, range_chunk, &out, NULL, &err),
			 -1);
	assert_int_equal(err.code, BLOB_CORRUPT);
	assert_int_equal(out.len, 0);
	free(raw);
	blob_close(&c);

	/* failing wrapper: a range read is a GET */
	assert_int_equal(blob_fs_open(f->dir, &fb, &err), 0);
	fb = blob_failing_wrap(fb);
	blob_failing_set(fb, BLOB_OP_GET, 1, BLOB_TEMPORARY, false);
	assert_int_equal(blob_get_range(fb, "d/r", 0, 10, &out, NULL, &err), -1);
	assert_int_equal(err.code, BLOB_TEMPORARY);
	check_ranges(fb, "d/r", data, len);
	blob_close(&fb);

	/* cache: a miss reads the range below (caching nothing), a hit the file */
	sub_path(f, "rremote", rpath, sizeof(rpath));
	sub_path(f, "rcache", cpath, sizeof(cpath));
	cset.path = cpath;
	assert_int_equal(blob_fs_open(rpath, &remote, &err), 0);
	assert_int_equal(blob_put(remote, SKEY(SH1), data, len, &err), 0);
	assert_int_equal(blob_cache_wrap(remote, &cset, &cache, &err), 0);
	check_ranges(cache, SKEY(SH1), data, len);
	assert_int_equal(blob_get(cache, SKEY(SH1), &out, NULL, &err), 0); /* now cached */
	check_ranges(cache, SKEY(SH1), data, len);
	blob_close(&cache);

	buf_free(&out);
	free(data);
}

/* blob_list_entries: mtimes for cleanup's orphan sweep, through every
   layer that can sit above a store. */
struct mtime_listing {
	char keys[8][128];
	int64_t mtimes[8];
	uint64_t sizes[8];
	int count;
};

static int mtime_collect(void *ctx, const struct blob_list_entry *e, struct blob_error *err)
{
	struct mtime_listing *l = ctx;

	(void)err;
	assert_true(l->count < 8);
	snprintf(l->keys[l->count], sizeof(l->keys[0]), "%s", e->key);
	l->sizes[l->count] = e->size;
	l->mtimes[l->count++] = e->mtime;
	return 0;
}

static void set_mtime(const char *root, const char *key, int64_t t)
{
	struct timespec ts[2] = { { .tv_sec = (time_t)t }, { .tv_sec = (time_t)t } };
	char path[512];

	assert_true(snprintf(path, sizeof(path), "%s/%s", root, key) < (int)sizeof(path));
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_list_mtime(void **state)
{
	struct fixture *f = *state;
	struct blob_staged_settings sset = { .max_size = 1000, .retry_interval_ms = 20 };
	struct blob_crypt_settings cset = { .encrypt = true, .encryption_key = KEY1 };
	struct mtime_listing l = { 0 };
	struct blob *remote_fs, *remote, *staged, *crypt;
	struct blob_error err;
	char rpath[128], spath[128];
	int64_t now = (int64_t)time(NULL), old = now - 30 * 86400;

	/* fs: the file's mtime, exactly */
	assert_int_equal(blob_put(f->fs, SKEY(SH1), "one", 3, &err), 0);
	assert_int_equal(blob_put(f->fs, SKEY(SH2), "two!", 4, &err), 0);
	set_mtime(f->dir, SKEY(SH1), old);
	assert_int_equal(blob_list_entries(f->fs, "example.org/alice/", mtime_collect, &l, &err),
			 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.keys[0], SKEY(SH1));
	assert_true(l.mtimes[0] == old);
	assert_int_equal(l.sizes[0], 3);
	assert_string_equal(l.keys[1], SKEY(SH2));
	assert_true(l.mtimes[1] >= now - 5);
	/* the same bytes put again (a re-delivery) make the object new again */
	assert_int_equal(blob_put(f->fs, SKEY(SH1), "one", 3, &err), 0);
	l = (struct mtime_listing){ 0 };
	assert_int_equal(blob_list_entries(f->fs, SKEY(SH1), mtime_collect, &l, &err), 0);
	assert_int_equal(l.count, 1);
	assert_true(l.mtimes[0] >= now - 5);

	/* staged over a remote that refuses uploads: the staged copy is
	   listed (it is present) with its staging mtime; a key in both
	   reports the later mtime */
	sub_path(f, "remote", rpath, sizeof(rpath));
	sub_path(f, "stage", spath, sizeof(spath));
	sset.path = spath;
	assert_int_equal(blob_fs_open(rpath, &remote_fs, &err), 0);
	assert_int_equal(blob_put(remote_fs, SKEY(SH2), "two!", 4, &err), 0);
	assert_int_equal(blob_put(remote_fs, SKEY(SH3), "three", 5, &err), 0);
	set_mtime(rpath, SKEY(SH2), old);
	set_mtime(rpath, SKEY(SH3), old);
	remote = blob_failing_wrap(remote_fs);
	blob_failing_set(remote, BLOB_OP_PUT, 0, BLOB_TEMPORARY, false);
	assert_int_equal(blob_staged_wrap(remote, &sset, &staged, &err), 0);
	assert_int_equal(blob_put(staged, SKEY(SH1), "one", 3, &err), 0);
	assert_int_equal(blob_put(staged, SKEY(SH2), "two!", 4, &err), 0);
	l = (struct mtime_listing){ 0 };
	assert_int_equal(blob_list_entries(staged, "example.org/", mtime_collect, &l, &err), 0);
	assert_int_equal(l.count, 3);
	assert_string_equal(l.keys[0], SKEY(SH1));
	assert_true(l.mtimes[0] >= now - 5);
	assert_string_equal(l.keys[1], SKEY(SH2));
	assert_true(l.mtimes[1] >= now - 5);
	assert_string_equal(l.keys[2], SKEY(SH3));
	assert_true(l.mtimes[2] == old);
	blob_close(&staged);

	/* crypt: the stored object's mtime, the plaintext size */
	assert_int_equal(blob_fs_open(rpath, &remote_fs, &err), 0);
	assert_int_equal(blob_crypt_wrap(remote_fs, &cset, &crypt, &err), 0);
	assert_int_equal(blob_put(crypt, "example.org/bob/" SH1, "secret", 6, &err), 0);
	set_mtime(rpath, "example.org/bob/" SH1, old);
	l = (struct mtime_listing){ 0 };
	assert_int_equal(blob_list_entries(crypt, "example.org/bob/", mtime_collect, &l, &err),
			 0);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.sizes[0], 6);
	assert_true(l.mtimes[0] == old);
	blob_close(&crypt);
}

static void test_s3_list_mtime(void **state)
{
	static const char doc[] =
		"<ListBucketResult>"
		"<Contents><Key>x/a</Key><LastModified>2026-11-30T12:34:56.000Z</LastModified>"
		"<Size>1</Size></Contents>"
		"<Contents><Key>x/b</Key><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"<Size>2</Size></Contents>"
		"<Contents><Key>x/c</Key><LastModified>yesterday</LastModified><Size>3</Size>"
		"</Contents>"
		"<Contents><Key>x/d</Key><Size>4</Size></Contents>"
		"<Contents><Key>x/e</Key><LastModified>2026-13-01T00:00:00Z</LastModified>"
		"<Size>5</Size></Contents>"
		"</ListBucketResult>";
	struct blob_s3_list_page page;
	struct mtime_listing l = { 0 };
	struct blob_error err = { 0 };

	(void)state;
	assert_int_equal(
		blob_s3_list_parse_entries(doc, strlen(doc), mtime_collect, &l, &page, &err), 0);
	free(page.next_token);
	assert_int_equal(l.count, 5);
	assert_true(l.mtimes[0] == 1796042096);
	assert_true(l.mtimes[1] == 1255369830);
	assert_true(l.mtimes[2] == 0); /* unparsable: unknown, treated as new */
	assert_true(l.mtimes[3] == 0);
	assert_int_equal(l.sizes[3], 4);
	assert_true(l.mtimes[4] == 0); /* month 13 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_valid),
		cmocka_unit_test(test_key_build),
		cmocka_unit_test(test_key_url_encode),
		cmocka_unit_test_setup_teardown(test_fs_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_read_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_same_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crypt_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crypt_reads_sora, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crypt_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crypt_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crypt_parse_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crypt_key_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crypt_big_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test(test_s3_list_parse),
		cmocka_unit_test(test_s3_settings),
		cmocka_unit_test(test_s3_unreachable),
		cmocka_unit_test_setup_teardown(test_staged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_mtime, setup, teardown),
		cmocka_unit_test(test_s3_list_mtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
