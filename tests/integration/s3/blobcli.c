/* blobcli: a small command-line front end to the blob layer, driven by
   tests/integration/s3/test_s3.py against real S3 servers (and usable by
   hand). Built by src/store/meson.build as build/src/store/blobcli, with the
   build's own flags (so `make asan` runs it sanitized too).

   blobcli [options] COMMAND ARGS
     --fs DIR | --s3 HOST:PORT   driver (s3: plain http)
     --bucket B (mail)  --access-key K (S3RVER)  --attempts N  --retry-ms N
     --timeout-ms N  --page-size N  --pool N  --threads N
   Secrets come from the environment, never argv:
     BLOBCLI_SECRET (S3RVER)  BLOBCLI_KEY (64 hex: encrypt)
     BLOBCLI_PREVIOUS_KEYS (comma-separated)
   Commands:
     put KEY FILE          streamed from FILE (blob_put_fd)
     put-mem KEY FILE      FILE loaded, then blob_put
     get KEY FILE|-        blob_get (memory)
     get-fd KEY FILE       blob_get_fd
     get-stream KEY FILE|- blob_get_stream
     head KEY              prints "SIZE STORED_SIZE"
     exists KEY            prints yes|no
     delete KEY | copy SRC DST
     list [PREFIX]         prints "KEY<TAB>SIZE" lines
     key ADDRESS HASH      prints the object key
     key-id                prints the key id (encryption)
     verify-key            prints MATCH|CREATED|ROTATED|MISMATCH
     bench COUNT SIZE      put/get/delete COUNT objects of SIZE bytes on --threads
                           threads; prints "op=put n=… mb_s=… ops_s=…" lines
   Reads print "info size=N key_id=ID previous=0|1" on stderr.
   Exit: 0; 10 + blob error code (11 NOT_FOUND, 12 TEMPORARY, 13 PERMANENT,
   14 CORRUPT, 15 IO) with "blobcli: CODE: message" on stderr; 2 usage. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/blob.h"

struct opts {
	const char *fs, *s3, *bucket, *access_key;
	uint32_t attempts, retry_ms, timeout_ms, page_size, pool, threads;
};

static _Noreturn void usage(const char *why)
{
	fprintf(stderr, "blobcli: %s (see the comment at the top of blobcli.c)\n", why);
	exit(2);
}

static int fail(const struct blob_error *err)
{
	fprintf(stderr, "blobcli: %s: %s\n", blob_err_name(err->code), err->msg);
	return 10 + (int)err->code;
}

static uint32_t num(const char *s)
{
	uint32_t v;

	if (str_to_u32(slice_cstr(s), &v) < 0)
		usage("bad number");
	return v;
}

static int write_fd(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "-": stdout */
static int open_out(const char *path)
{
	int fd = strcmp(path, "-") == 0 ? 1 : open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		usage("cannot open the output file");
	return fd;
}

static void close_out(int fd)
{
	if (fd != 1 && close(fd) < 0)
		usage("cannot write the output file");
}

static char *load(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *data;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		usage("cannot read the input file");
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n <= 0)
			usage("short read");
		got += (size_t)n;
	}
	close(fd);
	*len_r = got;
	return data;
}

static void print_info(const struct blob_read_info *info)
{
	fprintf(stderr, "info size=%llu key_id=%s previous=%d\n", (unsigned long long)info->size,
		info->key_id, info->used_previous_key ? 1 : 0);
}

static int chunk_to_fd(void *ctx, const void *data, size_t len, struct blob_error *err)
{
	(void)err;
	return write_fd(*(int *)ctx, data, len);
}

static int list_print(void *ctx, const char *key, uint64_t size, struct blob_error *err)
{
	(void)ctx;
	(void)err;
	printf("%s\t%llu\n", key, (unsigned long long)size);
	return 0;
}

/* ---- bench --------------------------------------------------------------- */

struct bench {
	struct blob *b;
	const char *data;
	size_t size;
	unsigned count, next, failures;
	enum blob_op op;
	pthread_mutex_t lock;
	char err[300];
};

static void *bench_thread(void *p)
{
	struct bench *bn = p;
	struct blob_error err;
	struct buf out;
	char key[128];

	buf_init(&out, 0);
	for (;;) {
		unsigned i;
		int ret;

		pthread_mutex_lock(&bn->lock);
		i = bn->next++;
		pthread_mutex_unlock(&bn->lock);
		if (i >= bn->count)
			break;
		snprintf(key, sizeof(key), "bench/u%u/%08u", i % 16, i);
		if (bn->op == BLOB_OP_PUT)
			ret = blob_put(bn->b, key, bn->data, bn->size, &err);
		else if (bn->op == BLOB_OP_GET)
			ret = blob_get(bn->b, key, &out, NULL, &err) < 0 || out.len != bn->size ||
					      memcmp(out.data, bn->data, bn->size) != 0
				      ? -1
				      : 0;
		else
			ret = blob_delete(bn->b, key, &err);
		if (ret < 0) {
			pthread_mutex_lock(&bn->lock);
			bn->failures++;
			snprintf(bn->err, sizeof(bn->err), "%s", err.msg);
			pthread_mutex_unlock(&bn->lock);
		}
	}
	buf_free(&out);
	return NULL;
}

static int bench(struct blob *b, unsigned count, size_t size, unsigned threads)
{
	static const enum blob_op ops[] = { BLOB_OP_PUT, BLOB_OP_GET, BLOB_OP_DELETE };
	struct bench bn = { .b = b, .size = size, .count = count };
	char *data = xmalloc(size + 1);
	pthread_t th[64];

	threads = MAX(1U, MIN(threads, 64U));
	for (size_t i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	bn.data = data;
	pthread_mutex_init(&bn.lock, NULL);
	for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
		uint64_t t0 = util_now_ms(), ms;

		bn.op = ops[o];
		bn.next = 0;
		for (unsigned t = 0; t < threads; t++)
			pthread_create(&th[t], NULL, bench_thread, &bn);
		for (unsigned t = 0; t < threads; t++)
			pthread_join(th[t], NULL);
		ms = MAX(util_now_ms() - t0, 1ULL);
		printf("op=%s n=%u size=%zu threads=%u ms=%llu ops_s=%.1f mb_s=%.1f\n",
		       blob_op_name(ops[o]), count, size, threads, (unsigned long long)ms,
		       count * 1000.0 / (double)ms,
		       (double)count * (double)size / 1048576.0 * 1000.0 / (double)ms);
	}
	free(data);
	if (bn.failures > 0) {
		fprintf(stderr, "blobcli: bench: %u failures, last: %s\n", bn.failures, bn.err);
		return 1;
	}
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static int open_blob(const struct opts *o, struct blob **b_r, const char **prev_keys,
		     char **prev_copy, struct blob_error *err)
{
	struct blob_settings set = {
		.driver = o->s3 != NULL ? "s3" : "fs",
		.fs_path = o->fs,
		.s3 = {
			.endpoint = o->s3, .bucket = o->bucket, .access_key = o->access_key,
			.secret_key = getenv("BLOBCLI_SECRET") != NULL ? getenv("BLOBCLI_SECRET")
								     : "S3RVER",
			.disable_tls = true, .max_attempts = o->attempts,
			.retry_base_ms = o->retry_ms, .timeout_ms = o->timeout_ms,
			.list_page_size = o->page_size, .pool_size = o->pool,
		},
	};
	const char *key = getenv("BLOBCLI_KEY"), *prev = getenv("BLOBCLI_PREVIOUS_KEYS");
	size_t n = 0;

	if (key != NULL && key[0] != '\0') {
		set.crypt.encrypt = true;
		set.crypt.encryption_key = key;
	}
	if (prev != NULL && prev[0] != '\0') {
		char *p;

		*prev_copy = xstrdup(prev);
		for (p = *prev_copy; p != NULL && n < 8;) {
			char *comma = strchr(p, ',');

			if (comma != NULL)
				*comma = '\0';
			prev_keys[n++] = p;
			p = comma != NULL ? comma + 1 : NULL;
		}
		set.crypt.previous_encryption_keys = prev_keys;
		set.crypt.previous_count = n;
	}
	return blob_open(&set, b_r, err);
}

static int run(struct blob *b, const struct opts *o, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct blob_read_info info;
	struct blob_error err;
	int ret = 0;

#define NEED(n)                                                                  \
	do {                                                                     \
		if (argc != (n) + 1)                                             \
			usage("wrong number of arguments");                      \
	} while (0)
	if (strcmp(cmd, "put") == 0 || strcmp(cmd, "put-mem") == 0) {
		NEED(2);
		if (cmd[3] == '\0') {
			int fd = open(argv[2], O_RDONLY);

			if (fd < 0)
				usage("cannot open the input file");
			ret = blob_put_fd(b, argv[1], fd, &err);
			close(fd);
		} else {
			size_t len;
			char *data = load(argv[2], &len);

			ret = blob_put(b, argv[1], data, len, &err);
			free(data);
		}
	} else if (strcmp(cmd, "get") == 0) {
		struct buf out;

		NEED(2);
		buf_init(&out, 0);
		ret = blob_get(b, argv[1], &out, &info, &err);
		if (ret == 0) {
			int fd = open_out(argv[2]);

			print_info(&info);
			if (write_fd(fd, out.data, out.len) < 0)
				usage("cannot write the output");
			close_out(fd);
		}
		buf_free(&out);
	} else if (strcmp(cmd, "get-fd") == 0 || strcmp(cmd, "get-stream") == 0) {
		int fd;

		NEED(2);
		fd = open_out(argv[2]);
		if (cmd[4] == 'f')
			ret = blob_get_fd(b, argv[1], fd, &info, &err);
		else
			ret = blob_get_stream(b, argv[1], chunk_to_fd, &fd, &info, &err);
		close_out(fd);
		if (ret == 0)
			print_info(&info);
	} else if (strcmp(cmd, "head") == 0) {
		struct blob_stat st;

		NEED(1);
		ret = blob_head(b, argv[1], &st, &err);
		if (ret == 0)
			printf("%llu %llu\n", (unsigned long long)st.size,
			       (unsigned long long)st.stored_size);
	} else if (strcmp(cmd, "exists") == 0) {
		bool exists;

		NEED(1);
		ret = blob_exists(b, argv[1], &exists, &err);
		if (ret == 0)
			printf("%s\n", exists ? "yes" : "no");
	} else if (strcmp(cmd, "delete") == 0) {
		NEED(1);
		ret = blob_delete(b, argv[1], &err);
	} else if (strcmp(cmd, "copy") == 0) {
		NEED(2);
		ret = blob_copy(b, argv[1], argv[2], &err);
	} else if (strcmp(cmd, "list") == 0) {
		if (argc > 2)
			usage("wrong number of arguments");
		ret = blob_list(b, argc == 2 ? argv[1] : "", list_print, NULL, &err);
	} else if (strcmp(cmd, "key-id") == 0) {
		NEED(0);
		printf("%s\n", blob_key_id(b) != NULL ? blob_key_id(b) : "");
	} else if (strcmp(cmd, "verify-key") == 0) {
		static const char *const names[] = { "MATCH", "CREATED", "ROTATED", "MISMATCH" };
		enum blob_key_check res;

		NEED(0);
		ret = blob_crypt_verify_key(b, &res, &err);
		if (ret == 0) {
			printf("%s\n", names[res]);
			if (res == BLOB_KEY_CHECK_MISMATCH)
				fprintf(stderr, "blobcli: %s\n", err.msg);
		}
	} else if (strcmp(cmd, "bench") == 0) {
		NEED(2);
		return bench(b, num(argv[1]), num(argv[2]), o->threads);
	} else {
		usage("unknown command");
	}
#undef NEED
	fflush(stdout);
	return ret < 0 ? fail(&err) : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .bucket = "mail", .access_key = "S3RVER", .threads = 1 };
	const char *prev_keys[8];
	char *prev_copy = NULL;
	struct blob_error err;
	struct blob *b = NULL;
	int i, ret;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		const char *opt = argv[i] + 2, *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (val == NULL)
			usage("option without a value");
		if (strcmp(opt, "fs") == 0)
			o.fs = val;
		else if (strcmp(opt, "s3") == 0)
			o.s3 = val;
		else if (strcmp(opt, "bucket") == 0)
			o.bucket = val;
		else if (strcmp(opt, "access-key") == 0)
			o.access_key = val;
		else if (strcmp(opt, "attempts") == 0)
			o.attempts = num(val);
		else if (strcmp(opt, "retry-ms") == 0)
			o.retry_ms = num(val);
		else if (strcmp(opt, "timeout-ms") == 0)
			o.timeout_ms = num(val);
		else if (strcmp(opt, "page-size") == 0)
			o.page_size = num(val);
		else if (strcmp(opt, "pool") == 0)
			o.pool = num(val);
		else if (strcmp(opt, "threads") == 0)
			o.threads = num(val);
		else
			usage("unknown option");
	}
	if (i >= argc)
		usage("no command");
	if ((o.fs == NULL) == (o.s3 == NULL))
		usage("give exactly one of --fs and --s3");
	if (strcmp(argv[i], "key") == 0) {
		struct buf key;

		if (argc - i != 3)
			usage("wrong number of arguments");
		buf_init(&key, 0);
		ret = blob_key_from_address(argv[i + 1], argv[i + 2], &key, &err);
		if (ret == 0)
			printf("%s\n", key.data);
		buf_free(&key);
		return ret < 0 ? fail(&err) : 0;
	}
	if (open_blob(&o, &b, prev_keys, &prev_copy, &err) < 0)
		return fail(&err);
	ret = run(b, &o, argc - i, argv + i);
	blob_close(&b);
	if (prev_copy != NULL)
		util_wipe(prev_copy, strlen(prev_copy));
	free(prev_copy);
	return ret;
}
