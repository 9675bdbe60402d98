/* The "fs" blob driver: one file per object under a root directory, the
   key being the relative path.

   Durability: a put writes "<dir>/.blobtmp-<random>", fsyncs it, renames
   it over the final name and fsyncs the directory; directories it creates
   are fsynced into their parents. So after a crash a key holds either the
   old or the new object, never a part, and an acknowledged put survives.
   Leftover temp files (a crash mid-put) are never listed nor read;
   blob_key_valid() keeps keys from using that name.

   Unlike S3, a key cannot be both an object and a directory ("a/b" and
   "a/b/c"): the second put fails with BLOB_IO. Message keys never clash
   (always domain/localpart/hash).

   Threads: no shared mutable state; every call uses its own descriptors
   relative to the root's (kept open). Directories are never removed, so a
   delete cannot race a put creating a file in the same directory.
   Files are 0600 and directories 0700: bodies are private mail. */

#include "blob-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOB_FS_CHUNK (128 * 1024)
#define BLOB_FS_MAX_DEPTH 32

struct blob_fs {
	struct blob b;
	int root_fd;
};

static int blob_fs_fsync_dir(int dir_fd, struct blob_error *err)
{
	if (fsync(dir_fd) < 0 && errno != EINVAL) {
		blob_error_errno(err, BLOB_IO, errno, "fsync of a blob directory");
		return -1;
	}
	return 0;
}

/* Opens (creating as needed) the directory dir (len bytes of a key, no
   trailing '/'; 0 = the root) relative to base_fd. */
static int blob_fs_open_dir(int base_fd, const char *dir, size_t len, bool create, int *fd_r,
			    struct blob_error *err)
{
	int fd = fcntl(base_fd, F_DUPFD_CLOEXEC, 0);
	size_t pos = 0;
	char seg[BLOB_KEY_MAX + 1];

	if (fd < 0) {
		blob_error_errno(err, BLOB_IO, errno, "dup of the blob root");
		return -1;
	}
	while (pos < len) {
		const char *slash = memchr(dir + pos, '/', len - pos);
		size_t seg_len = slash == NULL ? len - pos : (size_t)(slash - (dir + pos));
		int nfd;

		memcpy(seg, dir + pos, seg_len);
		seg[seg_len] = '\0';
		pos += seg_len + 1;
		if (create) {
			if (mkdirat(fd, seg, 0700) == 0) {
				if (blob_fs_fsync_dir(fd, err) < 0)
					goto fail;
			} else if (errno != EEXIST) {
				blob_error_errno(err, BLOB_IO, errno, "creating a blob directory");
				goto fail;
			}
		}
		nfd = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int e = errno;
			bool missing = e == ENOENT || e == ENOTDIR;

			blob_error_errno(err, missing ? BLOB_NOT_FOUND : BLOB_IO, e,
					 "opening a blob directory");
			goto fail;
		}
		(void)close(fd);
		fd = nfd;
	}
	*fd_r = fd;
	return 0;
fail:
	(void)close(fd);
	return -1;
}

static const char *blob_fs_split(const char *key, size_t *dir_len_r)
{
	const char *slash = strrchr(key, '/');

	*dir_len_r = slash == NULL ? 0 : (size_t)(slash - key);
	return slash == NULL ? key : slash + 1;
}

static void blob_fs_tmp_name(char name[32])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[8];
	size_t n = sizeof(".blobtmp-") - 1;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* getrandom on 8 bytes does not fail once the pool is up;
		   O_EXCL still protects us if it ever repeats */
		uint64_t t = util_now_ms() ^ ((uint64_t)getpid() << 32);

		memcpy(rnd, &t, sizeof(rnd));
	}
	memcpy(name, ".blobtmp-", n);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		name[n++] = hex[rnd[i] >> 4];
		name[n++] = hex[rnd[i] & 15];
	}
	name[n] = '\0';
}

static int blob_fs_write_all(int fd, const char *p, size_t len, struct blob_error *err)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			blob_error_errno(err, BLOB_IO, errno, "writing a blob");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int blob_fs_read_some(int fd, char *buf, size_t cap, size_t *len_r,
			     struct blob_error *err)
{
	ssize_t n;

	do {
		n = read(fd, buf, cap);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		blob_error_errno(err, BLOB_IO, errno, "reading a blob");
		return -1;
	}
	*len_r = (size_t)n;
	return 0;
}

/* 1 when name in dir_fd holds exactly the bytes of in (rewound after),
   0 when not, -1 on error. */
static int blob_fs_same_content(int dir_fd, const char *name, struct blob_istream *in,
				char *chunk, struct blob_error *err)
{
	struct stat st;
	int fd, ret = 1;
	size_t got, n;

	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != in->size) {
		(void)close(fd);
		return 0;
	}
	if (in->mem != NULL) {
		const char *mem = in->mem;

		for (uint64_t off = 0; ret == 1 && off < in->size; off += n) {
			if (blob_fs_read_some(fd, chunk, BLOB_FS_CHUNK, &n, err) < 0)
				ret = -1;
			else if (n == 0 || n > in->size - off || memcmp(chunk, mem + off, n) != 0)
				ret = 0;
		}
	} else {
		char *other = chunk + BLOB_FS_CHUNK;

		while (ret == 1) {
			if (blob_istream_read_full(in, chunk, BLOB_FS_CHUNK, &got, err) < 0) {
				ret = -1;
				break;
			}
			if (got == 0)
				break;
			for (size_t off = 0; ret == 1 && off < got; off += n) {
				if (blob_fs_read_some(fd, other + off, got - off, &n, err) < 0)
					ret = -1;
				else if (n == 0)
					ret = 0;
			}
			if (ret == 1 && memcmp(chunk, other, got) != 0)
				ret = 0;
		}
		if (in->rewind(in, err) < 0)
			ret = -1;
	}
	(void)close(fd);
	return ret;
}

static int blob_fs_write_tmp(int dir_fd, const char *tmp, struct blob_istream *in, char *chunk,
			     struct blob_error *err)
{
	int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t n;

	if (fd < 0) {
		blob_error_errno(err, BLOB_IO, errno, "creating a blob temp file");
		return -1;
	}
	if (in->mem != NULL) {
		if (blob_fs_write_all(fd, in->mem, in->size, err) < 0)
			goto fail;
	} else {
		for (;;) {
			if (in->read(in, chunk, BLOB_FS_CHUNK, &n, err) < 0)
				goto fail;
			if (n == 0)
				break;
			if (blob_fs_write_all(fd, chunk, n, err) < 0)
				goto fail;
		}
	}
	if (fsync(fd) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "fsync of a blob");
		goto fail;
	}
	if (close(fd) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "closing a blob");
		return -1;
	}
	return 0;
fail:
	(void)close(fd);
	return -1;
}

static int blob_fs_put(struct blob *b, const char *key, struct blob_istream *in,
		       struct blob_error *err)
{
	struct blob_fs *fs = (struct blob_fs *)b;
	size_t dir_len;
	const char *name = blob_fs_split(key, &dir_len);
	char tmp[32], *chunk;
	int dir_fd, ret = -1;

	if (blob_fs_open_dir(fs->root_fd, key, dir_len, true, &dir_fd, err) < 0)
		return -1;
	chunk = xmalloc(2 * BLOB_FS_CHUNK);
	/* content-addressed keys: the same bytes again need no write */
	ret = blob_fs_same_content(dir_fd, name, in, chunk, err);
	if (ret > 0 && utimensat(dir_fd, name, NULL, 0) < 0) {
		/* the mtime tells cleanup's orphan sweep that a delivery just
		   wrote this body (its metadata may not be committed yet) */
		blob_error_errno(err, BLOB_IO, errno, "touching a blob");
		ret = -1;
	}
	if (ret != 0) {
		ret = ret > 0 ? 0 : -1;
		goto out;
	}
	ret = -1;
	blob_fs_tmp_name(tmp);
	if (blob_fs_write_tmp(dir_fd, tmp, in, chunk, err) < 0) {
		(void)unlinkat(dir_fd, tmp, 0);
		goto out;
	}
	if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "renaming a blob into place");
		(void)unlinkat(dir_fd, tmp, 0);
		goto out;
	}
	ret = blob_fs_fsync_dir(dir_fd, err);
out:
	free(chunk);
	(void)close(dir_fd);
	return ret;
}

static int blob_fs_open_file(struct blob_fs *fs, const char *key, struct stat *st_r,
			     struct blob_error *err)
{
	int fd = openat(fs->root_fd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		if (e == ENOENT || e == ENOTDIR || e == ELOOP)
			blob_error_set(err, BLOB_NOT_FOUND, "no such blob");
		else
			blob_error_errno(err, BLOB_IO, e, "opening a blob");
		return -1;
	}
	if (fstat(fd, st_r) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "fstat of a blob");
		(void)close(fd);
		return -1;
	}
	if (!S_ISREG(st_r->st_mode)) {
		blob_error_set(err, BLOB_NOT_FOUND, "no such blob");
		(void)close(fd);
		return -1;
	}
	return fd;
}

static int blob_fs_get(struct blob *b, const char *key, struct blob_sink *sink,
		       struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_fs *fs = (struct blob_fs *)b;
	struct stat st;
	char *chunk;
	size_t n;
	int fd, ret = 0;

	(void)info_r;
	fd = blob_fs_open_file(fs, key, &st, err);
	if (fd < 0)
		return -1;
	chunk = xmalloc(BLOB_FS_CHUNK);
	for (;;) {
		if (blob_fs_read_some(fd, chunk, BLOB_FS_CHUNK, &n, err) < 0 ||
		    blob_sink_write(sink, chunk, n, err) < 0) {
			ret = -1;
			break;
		}
		if (n == 0)
			break;
	}
	free(chunk);
	(void)close(fd);
	return ret;
}

static int blob_fs_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			     struct blob_sink *sink, struct blob_read_info *info_r,
			     struct blob_error *err)
{
	struct blob_fs *fs = (struct blob_fs *)b;
	struct stat st;
	int fd, ret;

	(void)info_r;
	fd = blob_fs_open_file(fs, key, &st, err);
	if (fd < 0)
		return -1;
	ret = offset >= (uint64_t)st.st_size ? 0 : blob_fd_range(fd, offset, len, sink, err);
	(void)close(fd);
	return ret;
}

static int blob_fs_head(struct blob *b, const char *key, struct blob_stat *st_r,
			struct blob_error *err)
{
	struct blob_fs *fs = (struct blob_fs *)b;
	struct stat st;

	if (fstatat(fs->root_fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			blob_error_set(err, BLOB_NOT_FOUND, "no such blob");
			return -1;
		}
		blob_error_errno(err, BLOB_IO, errno, "stat of a blob");
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		blob_error_set(err, BLOB_NOT_FOUND, "no such blob");
		return -1;
	}
	st_r->size = st_r->stored_size = (uint64_t)st.st_size;
	return 0;
}

static int blob_fs_del(struct blob *b, const char *key, struct blob_error *err)
{
	struct blob_fs *fs = (struct blob_fs *)b;
	size_t dir_len;
	const char *name = blob_fs_split(key, &dir_len);
	int dir_fd, ret;

	if (blob_fs_open_dir(fs->root_fd, key, dir_len, false, &dir_fd, err) < 0) {
		if (err->code != BLOB_NOT_FOUND)
			return -1;
		*err = (struct blob_error){ 0 };
		return 0;
	}
	if (unlinkat(dir_fd, name, 0) < 0) {
		ret = errno == ENOENT ? 0 : -1;
		if (ret < 0)
			blob_error_errno(err, BLOB_IO, errno, "removing a blob");
	} else {
		ret = blob_fs_fsync_dir(dir_fd, err);
	}
	(void)close(dir_fd);
	return ret;
}

/* Fallback when hard links are not possible: copy the bytes. */
static int blob_fs_copy_bytes(struct blob_fs *fs, const char *src, int dir_fd, const char *tmp,
			      struct blob_error *err)
{
	struct blob_istream in;
	struct stat st;
	char *chunk;
	int fd, ret;

	fd = blob_fs_open_file(fs, src, &st, err);
	if (fd < 0)
		return -1;
	if (blob_istream_init_fd(&in, fd, err) < 0) {
		(void)close(fd);
		return -1;
	}
	chunk = xmalloc(BLOB_FS_CHUNK);
	ret = blob_fs_write_tmp(dir_fd, tmp, &in, chunk, err);
	free(chunk);
	(void)close(fd);
	return ret;
}

static int blob_fs_copy(struct blob *b, const char *src, const char *dst,
			struct blob_error *err)
{
	struct blob_fs *fs = (struct blob_fs *)b;
	struct blob_stat st;
	size_t dir_len;
	const char *name = blob_fs_split(dst, &dir_len);
	char tmp[32];
	int dir_fd, ret = -1;

	if (blob_fs_head(b, src, &st, err) < 0)
		return -1;
	if (blob_fs_open_dir(fs->root_fd, dst, dir_len, true, &dir_fd, err) < 0)
		return -1;
	blob_fs_tmp_name(tmp);
	/* objects are never modified in place (puts rename a new file over
	   the name), so sharing the inode is safe */
	if (linkat(fs->root_fd, src, dir_fd, tmp, 0) < 0) {
		if (errno == ENOENT) {
			blob_error_set(err, BLOB_NOT_FOUND, "no such blob");
			goto out;
		}
		if (blob_fs_copy_bytes(fs, src, dir_fd, tmp, err) < 0) {
			(void)unlinkat(dir_fd, tmp, 0);
			goto out;
		}
	}
	if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "renaming a blob copy into place");
		(void)unlinkat(dir_fd, tmp, 0);
		goto out;
	}
	ret = blob_fs_fsync_dir(dir_fd, err);
out:
	(void)close(dir_fd);
	return ret;
}

/* ---- list ---------------------------------------------------------------- */

struct blob_fs_entry {
	char *name;
	bool is_dir;
};

struct blob_fs_walk {
	const char *prefix;
	size_t prefix_len;
	blob_list_entry_fn *fn;
	void *ctx;
	struct buf path; /* the key of the current directory, with trailing '/' */
};

/* Byte order of full keys: a directory "a" sorts as "a/". */
static unsigned int blob_fs_entry_char(const struct blob_fs_entry *e, size_t i, size_t len)
{
	if (i < len)
		return (unsigned char)e->name[i];
	return i == len && e->is_dir ? '/' : 0;
}

static int blob_fs_entry_cmp(const void *pa, const void *pb)
{
	const struct blob_fs_entry *a = pa, *b = pb;
	size_t alen = strlen(a->name), blen = strlen(b->name);

	for (size_t i = 0;; i++) {
		unsigned int ca = blob_fs_entry_char(a, i, alen);
		unsigned int cb = blob_fs_entry_char(b, i, blen);

		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca == 0)
			return 0;
	}
}

static int blob_fs_read_dir(int dir_fd, struct blob_fs_entry **entries_r, size_t *count_r,
			    struct blob_error *err)
{
	/* a new open file description: a dup would share (and move) the
	   directory offset with every other user of dir_fd */
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct blob_fs_entry *entries = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		blob_error_errno(err, BLOB_IO, errno, "listing a blob directory");
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(dir)) != NULL) {
		struct stat st;
		bool is_dir;

		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
					     (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (strncmp(de->d_name, ".blobtmp-", 9) == 0)
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_REG) {
			is_dir = de->d_type == DT_DIR;
		} else if (de->d_type == DT_UNKNOWN &&
			   fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			   (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
			is_dir = S_ISDIR(st.st_mode);
		} else {
			continue; /* symlinks, sockets, …: not ours */
		}
		if (count == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			entries = xrealloc(entries, cap * sizeof(*entries));
		}
		entries[count++] = (struct blob_fs_entry){ xstrdup(de->d_name), is_dir };
	}
	if (errno != 0) {
		blob_error_errno(err, BLOB_IO, errno, "listing a blob directory");
		for (size_t i = 0; i < count; i++)
			free(entries[i].name);
		free(entries);
		(void)closedir(dir);
		return -1;
	}
	(void)closedir(dir);
	if (count > 1)
		qsort(entries, count, sizeof(*entries), blob_fs_entry_cmp);
	*entries_r = entries;
	*count_r = count;
	return 0;
}

/* Can a key under path (ending in '/') still start with the prefix? */
static bool blob_fs_may_match(const struct blob_fs_walk *w)
{
	size_t n = MIN(w->path.len, w->prefix_len);

	return memcmp(w->path.data, w->prefix, n) == 0;
}

static int blob_fs_walk_entry(struct blob_fs_walk *w, int dir_fd,
			      const struct blob_fs_entry *e, unsigned depth,
			      struct blob_error *err);

/* 0 done, 1 stopped by fn, -1 error */
static int blob_fs_walk_dir(struct blob_fs_walk *w, int dir_fd, unsigned depth,
			    struct blob_error *err)
{
	struct blob_fs_entry *entries = NULL;
	size_t count = 0;
	int ret = 0;

	if (depth > BLOB_FS_MAX_DEPTH)
		return 0;
	if (blob_fs_read_dir(dir_fd, &entries, &count, err) < 0)
		return -1;
	for (size_t i = 0; i < count && ret == 0; i++)
		ret = blob_fs_walk_entry(w, dir_fd, &entries[i], depth, err);
	for (size_t i = 0; i < count; i++)
		free(entries[i].name);
	free(entries);
	return ret;
}

static int blob_fs_walk_entry(struct blob_fs_walk *w, int dir_fd,
			      const struct blob_fs_entry *e, unsigned depth,
			      struct blob_error *err)
{
	size_t saved = w->path.len;
	struct stat st;
	int ret = 0, fd;

	if (buf_append_str(&w->path, e->name) < 0 ||
	    (e->is_dir && buf_append(&w->path, "/", 1) < 0))
		goto out; /* longer than any key */
	if (e->is_dir) {
		if (!blob_fs_may_match(w))
			goto out;
		fd = openat(dir_fd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			goto out; /* vanished */
		ret = blob_fs_walk_dir(w, fd, depth + 1, err);
		(void)close(fd);
	} else if (w->path.len >= w->prefix_len && blob_fs_may_match(w) &&
		   blob_key_valid(w->path.data) &&
		   fstatat(dir_fd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		struct blob_list_entry le = { w->path.data, (uint64_t)st.st_size,
					      (int64_t)st.st_mtime };

		ret = w->fn(w->ctx, &le, err);
		if (ret < 0 && err->code == BLOB_OK)
			blob_error_set(err, BLOB_IO, "list stopped by its reader");
		ret = ret < 0 ? -1 : ret > 0 ? 1 : 0;
	}
out:
	w->path.len = saved;
	w->path.data[saved] = '\0';
	return ret;
}

static int blob_fs_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
			struct blob_error *err)
{
	struct blob_fs *fs = (struct blob_fs *)b;
	struct blob_fs_walk w = { .prefix = prefix, .prefix_len = strlen(prefix), .fn = fn,
				  .ctx = ctx };
	const char *slash = strrchr(prefix, '/');
	size_t dir_len = slash == NULL ? 0 : (size_t)(slash - prefix);
	int dir_fd, ret;

	/* start in the deepest directory the prefix names */
	if (blob_fs_open_dir(fs->root_fd, prefix, dir_len, false, &dir_fd, err) < 0) {
		if (err->code != BLOB_NOT_FOUND)
			return -1;
		*err = (struct blob_error){ 0 };
		return 0;
	}
	buf_init(&w.path, BLOB_KEY_MAX + 1);
	if (dir_len > 0)
		(void)buf_append(&w.path, prefix, dir_len + 1);
	else
		(void)buf_append(&w.path, "", 0);
	ret = blob_fs_walk_dir(&w, dir_fd, 0, err);
	buf_free(&w.path);
	(void)close(dir_fd);
	return ret < 0 ? -1 : 0;
}

static void blob_fs_close(struct blob *b)
{
	struct blob_fs *fs = (struct blob_fs *)b;

	(void)close(fs->root_fd);
	free(fs);
}

const struct blob_vfuncs blob_fs_vfuncs = {
	.name = "fs",
	.put = blob_fs_put,
	.get = blob_fs_get,
	.get_range = blob_fs_get_range,
	.head = blob_fs_head,
	.del = blob_fs_del,
	.copy = blob_fs_copy,
	.list = blob_fs_list,
	.close = blob_fs_close,
};

/* mkdir -p root, fsyncing each directory it creates into its parent. */
static int blob_fs_make_root(const char *root, struct blob_error *err)
{
	char *path = xstrdup(root);
	size_t len = strlen(path);
	int ret = 0;

	for (size_t i = 1; i <= len && ret == 0; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) == 0) {
			char *parent = xstrdup(path);
			char *slash = strrchr(parent, '/');
			int fd;

			if (slash == parent)
				slash[1] = '\0';
			else if (slash != NULL)
				*slash = '\0';
			fd = open(slash == NULL ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0) {
				ret = blob_fs_fsync_dir(fd, err);
				(void)close(fd);
			}
			free(parent);
		} else if (errno != EEXIST) {
			blob_error_errno(err, BLOB_IO, errno, "storage path: cannot create %s",
					 path);
			ret = -1;
		}
		if (i < len)
			path[i] = '/';
	}
	free(path);
	return ret;
}

int blob_fs_open(const char *root, struct blob **blob_r, struct blob_error *err)
{
	struct blob_fs *fs;
	int fd;

	*blob_r = NULL;
	if (root == NULL || root[0] == '\0') {
		blob_error_set(err, BLOB_PERMANENT, "storage path: not set");
		return -1;
	}
	if (blob_fs_make_root(root, err) < 0)
		return -1;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		blob_error_errno(err, BLOB_IO, errno, "storage path: cannot open %s", root);
		return -1;
	}
	fs = xcalloc(1, sizeof(*fs));
	fs->b.v = &blob_fs_vfuncs;
	fs->root_fd = fd;
	*blob_r = &fs->b;
	return 0;
}
