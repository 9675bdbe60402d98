#include "records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/util.h"

struct deliver_records {
	char *dir;
};

struct deliver_records *deliver_records_open(const char *dir, char *err, size_t err_size)
{
	struct deliver_records *r;
	char probe[4096];

	snprintf(probe, sizeof(probe), "%s/x", dir);
	if (util_mkdir_parents(probe) < 0) {
		snprintf(err, err_size, "cannot create %s: %s", dir, strerror(errno));
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->dir = xstrdup(dir);
	return r;
}

void deliver_records_close(struct deliver_records **rp)
{
	if (*rp == NULL)
		return;
	free((*rp)->dir);
	free(*rp);
	*rp = NULL;
}

static void key_hex(const char *key, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static int record_path(struct deliver_records *r, const char *kind, int64_t account_id,
		       const char *key, char *out, size_t size)
{
	char hex[65];
	int n;

	if (key == NULL) {
		n = snprintf(out, size, "%s/%s/%lld", r->dir, kind, (long long)account_id);
	} else {
		key_hex(key, hex);
		n = snprintf(out, size, "%s/%s/%lld/%s", r->dir, kind, (long long)account_id,
			     hex);
	}
	return n > 0 && (size_t)n < size ? 0 : -1;
}

int deliver_record_seen(struct deliver_records *r, const char *kind, int64_t account_id,
			const char *key, int64_t since)
{
	char path[4096];
	struct stat st;

	if (record_path(r, kind, account_id, key, path, sizeof(path)) < 0)
		return -1;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return (int64_t)st.st_mtime >= since ? 1 : 0;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	(void)close(fd);
	return ret;
}

int deliver_record_add(struct deliver_records *r, const char *kind, int64_t account_id,
		       const char *key)
{
	char path[4096], tmp[4200], dir[4096], text[32];
	int fd, n;

	if (record_path(r, kind, account_id, key, path, sizeof(path)) < 0 ||
	    record_path(r, kind, account_id, NULL, dir, sizeof(dir)) < 0 ||
	    util_mkdir_parents(path) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)gettid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	n = snprintf(text, sizeof(text), "%lld\n", (long long)time(NULL));
	if (write(fd, text, (size_t)n) != n || fsync(fd) < 0) {
		(void)close(fd);
		(void)unlink(tmp);
		return -1;
	}
	(void)close(fd);
	/* rename: a crash leaves the old record or the new one, never half */
	if (rename(tmp, path) < 0) {
		(void)unlink(tmp);
		return -1;
	}
	return fsync_dir(dir);
}

int deliver_record_count(struct deliver_records *r, const char *kind, int64_t account_id,
			 int64_t since, unsigned *count_r)
{
	char dir[4096], path[4400];
	struct dirent *de;
	unsigned count = 0;
	DIR *d;

	if (record_path(r, kind, account_id, NULL, dir, sizeof(dir)) < 0)
		return -1;
	d = opendir(dir);
	if (d == NULL) {
		if (errno != ENOENT)
			return -1;
		*count_r = 0;
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp") != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && (int64_t)st.st_mtime >= since)
			count++;
	}
	closedir(d);
	*count_r = count;
	return 0;
}

static void prune_dir(const char *dir, int64_t before, int depth)
{
	char path[4400];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 2)
			prune_dir(path, before, depth + 1);
		else if (S_ISREG(st.st_mode) && (int64_t)st.st_mtime < before)
			(void)unlink(path);
	}
	closedir(d);
}

void deliver_records_prune(struct deliver_records *r, const char *kind, int64_t before)
{
	char dir[4096];

	if (kind == NULL) {
		prune_dir(r->dir, before, 0);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/%s", r->dir, kind);
	prune_dir(dir, before, 1);
}
