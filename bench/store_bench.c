/* store_bench: storage figures, run by hand (bench/store.sh starts an
   s3rver and runs it). Prints numbers, asserts nothing.

   1. Deliveries per second through the real write path (deliver_message:
      MIME parse, SHA-256, blob put, one metadata transaction) on
      --threads threads, for: fs; S3 (staged: acknowledged once fsynced
      locally), and the time until the uploader has drained staging into
      S3; the same with client-side encryption.
   2. A 100,000-message mailbox built by direct store_append_batch calls
      (batches of 1,000), then: flags of all messages (store_fetch),
      changes since a MODSEQ (store_changes_since after 10 flag changes),
      a UID range of 1,000 messages with their bodies (metadata from the
      store, bodies from the fs blob store). SQLite always; PostgreSQL when
      STORE_TEST_PG_CONNINFO is set and this build has the driver.

   store_bench [--s3 HOST:PORT] [--messages N] [--threads T] [--mailbox N]
               [--dir DIR] */

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "deliver/deliver.h"
#include "deliver/storage.h"
#include "lib/arena.h"
#include "lib/str.h"
#include "lib/util.h"
#include "store/blob.h"
#include "store/store.h"

#define BENCH_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char *opt_s3;
static unsigned opt_messages = 2000, opt_threads = 4, opt_mailbox = 100000;
static char opt_dir[256] = "/tmp/store-bench-XXXXXX";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what, const char *why)
{
	fprintf(stderr, "store_bench: %s: %s\n", what, why);
	exit(1);
}

/* ---- 1. deliveries ------------------------------------------------------- */

struct run {
	struct mail_services *ms;
	const char *address;
	unsigned first, count;
	unsigned failed;
};

static char *make_message(unsigned n, size_t *len_r)
{
	struct buf b;

	buf_init(&b, 0);
	(void)buf_printf(&b, "From: Bench <bench@example.net>\r\nTo: user@example.org\r\n"
			     "Subject: message %u\r\nMessage-ID: <%u.%ld@bench>\r\n"
			     "Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n", n, n, (long)getpid());
	/* ~8 KB of text: a typical small mail */
	for (int i = 0; i < 100; i++)
		(void)buf_printf(&b, "line %04d of message %u: the quick brown fox jumps over it\r\n",
				 i, n);
	*len_r = b.len;
	return b.data;
}

static void *deliver_thread(void *arg)
{
	struct run *r = arg;

	for (unsigned i = 0; i < r->count; i++) {
		struct deliver_result res;
		size_t len;
		char *m = make_message(r->first + i, &len);

		deliver_message(r->ms, r->address, NULL, m, len, 0, 0, &res);
		if (res.status != DELIVER_OK) {
			if (r->failed++ == 0)
				fprintf(stderr, "store_bench: delivery failed: %s\n", res.reason);
		}
		free(m);
	}
	return NULL;
}

static void bench_deliveries(const char *mode)
{
	bool s3 = strcmp(mode, "fs") != 0, enc = strcmp(mode, "s3+encryption") == 0;
	char dir[512], text[4096], err[768], address[128];
	struct config *cfg = NULL;
	struct mail_services ms = { 0 };
	struct store_error serr;
	struct buf diag;
	pthread_t th[64];
	struct run runs[64];
	unsigned threads = MIN(opt_threads, 64u), failed = 0;
	int64_t id;
	double t0, t1, t2 = 0;

	snprintf(dir, sizeof(dir), "%s/%s", opt_dir, s3 ? (enc ? "s3enc" : "s3") : "fs");
	snprintf(address, sizeof(address), "bench-%s-%ld@example.org",
		 s3 ? (enc ? "s3enc" : "s3") : "fs", (long)getpid());
	snprintf(text, sizeof(text),
		 "[database]\npath = \"%s/sora.db\"\n[storage]\ndriver = \"%s\"\npath = \"%s/blobs\"\n"
		 "[s3]\nendpoint = \"%s\"\ndisable_tls = true\naccess_key = \"S3RVER\"\n"
		 "secret_key = \"S3RVER\"\nbucket = \"mail\"\nencrypt = %s\n"
		 "encryption_key = \"" BENCH_KEY "\"\n"
		 "[uploader]\npath = \"%s/uploads\"\nretry_interval = \"1s\"\n"
		 "[local_cache]\npath = \"%s/cache\"\n",
		 dir, s3 ? "s3" : "fs", dir, s3 ? opt_s3 : "127.0.0.1:1", enc ? "true" : "false",
		 dir, dir);
	buf_init(&diag, 0);
	if (config_load_string("bench.toml", text, strlen(text), false, &cfg, &diag) < 0)
		die("config", diag.data != NULL ? diag.data : "?");
	buf_free(&diag);
	if (mail_services_open(cfg, &ms, err, sizeof(err)) < 0)
		die(mode, err);
	if (store_account_create(ms.store, address, "{PLAIN}x", &id, &serr) < 0)
		die("account", serr.msg);
	if (s3 && storage_start(&ms, err, sizeof(err)) < 0)
		die("uploader", err);
	t0 = now_s();
	for (unsigned i = 0; i < threads; i++) {
		runs[i] = (struct run){ .ms = &ms, .address = address,
					.first = i * (opt_messages / threads),
					.count = opt_messages / threads };
		REQUIRE(pthread_create(&th[i], NULL, deliver_thread, &runs[i]) == 0);
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failed += runs[i].failed;
	}
	t1 = now_s();
	if (s3) {
		struct blob_staged_stats st;
		struct blob_error berr;

		do {
			if (blob_staged_get_stats(ms.blob, &st, &berr) < 0)
				die("staging", berr.msg);
			if (st.count > 0)
				usleep(20 * 1000);
		} while (st.count > 0);
		t2 = now_s();
	}
	printf("deliveries %-14s %u messages, %u threads: %8.0f/s acknowledged (%.2f s)",
	       mode, threads * (opt_messages / threads), threads,
	       (double)(threads * (opt_messages / threads)) / (t1 - t0), t1 - t0);
	if (s3)
		printf(", %8.0f/s stored in S3 (%.2f s until staging was empty)",
		       (double)(threads * (opt_messages / threads)) / (t2 - t0), t2 - t0);
	printf("%s\n", failed > 0 ? " FAILURES" : "");
	fflush(stdout);
	mail_services_close(&ms);
	config_free(&cfg);
}

/* ---- 2. a big mailbox ------------------------------------------------------ */

static int count_cb(const struct store_message *msg, void *ctx)
{
	(void)msg;
	(*(uint64_t *)ctx)++;
	return 0;
}

struct bodies_ctx {
	struct blob *blob;
	const char *address;
	uint64_t n, bytes, errors;
	char (*hashes)[65];
};

static int bodies_cb(const struct store_message *msg, void *ctx)
{
	struct bodies_ctx *b = ctx;

	/* collected first: the callback must not call into the stores */
	memcpy(b->hashes[b->n++], msg->content_hash, 65);
	return 0;
}

static void hash_of(unsigned n, char out[65])
{
	snprintf(out, 65, "%064x", n + 1);
}

static void bench_mailbox(const char *driver, const struct store_settings *set)
{
	struct store *st;
	struct store_error serr;
	struct arena *a = arena_new(1 << 20);
	struct store_mailbox mb;
	struct store_message_new *msgs;
	struct store_append *items;
	struct blob *blob;
	struct blob_error berr;
	char address[128], blobdir[512];
	struct buf key;
	int64_t acc;
	uint64_t count = 0;
	double t0, t;
	const unsigned batch = 1000;
	unsigned first_body = opt_mailbox / 2;

	if (store_open(set, &st, &serr) < 0) {
		printf("mailbox    %-14s skipped: %s\n", driver, serr.msg);
		arena_free(&a);
		return;
	}
	snprintf(address, sizeof(address), "big-%ld-%ld@example.org", (long)getpid(),
		 (long)time(NULL));
	snprintf(blobdir, sizeof(blobdir), "%s/big-%s-blobs", opt_dir, driver);
	if (store_account_create(st, address, "{PLAIN}x", &acc, &serr) < 0 ||
	    store_mailbox_get(st, acc, "INBOX", a, &mb, &serr) < 0)
		die("mailbox", serr.msg);
	if (blob_fs_open(blobdir, &blob, &berr) < 0)
		die("blobs", berr.msg);
	msgs = xcalloc(batch, sizeof(*msgs));
	items = xcalloc(batch, sizeof(*items));
	buf_init(&key, 0);
	t0 = now_s();
	for (unsigned base = 0; base < opt_mailbox; base += batch) {
		unsigned n = MIN(batch, opt_mailbox - base);
		char (*hashes)[65] = arena_alloc(a, n * 65);

		for (unsigned i = 0; i < n; i++) {
			hash_of(base + i, hashes[i]);
			msgs[i] = (struct store_message_new){
				.flags = (base + i) % 3 == 0 ? STORE_FLAG_SEEN : 0,
				.internal_date = 1700000000 + (int64_t)(base + i),
				.size = 8000,
				.content_hash = hashes[i],
				.headers = { .envelope = "(NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL)",
					     .subject = "subject", .from = "a@example.net" },
			};
			items[i] = (struct store_append){ .mailbox_id = mb.id, .msg = &msgs[i] };
		}
		if (store_append_batch(st, items, n, &serr) < 0)
			die("append", serr.msg);
	}
	t = now_s() - t0;
	printf("mailbox    %-14s %u messages appended in batches of %u: %.2f s (%.0f/s)\n",
	       driver, opt_mailbox, batch, t, opt_mailbox / t);
	/* real bodies for the UID range read below */
	for (unsigned i = first_body; i < first_body + 1000 && i < opt_mailbox; i++) {
		char h[65], body[8000];

		hash_of(i, h);
		memset(body, 'a' + (int)(i % 26), sizeof(body));
		if (blob_key_from_address(address, h, &key, &berr) < 0 ||
		    blob_put(blob, key.data, body, sizeof(body), &berr) < 0)
			die("body", berr.msg);
	}

	t0 = now_s();
	if (store_fetch(st, mb.id, NULL, 0, 0, 0, count_cb, &count, &serr) < 0)
		die("fetch", serr.msg);
	printf("mailbox    %-14s flags of all %" PRIu64 " messages (store_fetch): %.1f ms\n",
	       driver, count, (now_s() - t0) * 1000);

	{
		struct store_flags_result *res, *changed;
		uint32_t *failed, *vanished;
		size_t nres, nfailed, nchanged, nvanished;
		struct store_mailbox_status status;
		uint64_t before;

		if (store_mailbox_status(st, mb.id, &status, &serr) < 0)
			die("status", serr.msg);
		before = status.highest_modseq;
		for (unsigned i = 0; i < 10; i++) {
			uint32_t uid = 1 + (uint32_t)((i * 7919u) % opt_mailbox);
			struct store_uid_range r = { uid, uid };
			struct store_flags_update upd = { .op = STORE_FLAGS_ADD,
							   .flags = STORE_FLAG_FLAGGED };

			if (store_flags_update(st, mb.id, &r, 1, &upd, a, &res, &nres, &failed,
					       &nfailed, &serr) < 0)
				die("flags", serr.msg);
		}
		t0 = now_s();
		if (store_changes_since(st, mb.id, before, a, &changed, &nchanged, &vanished,
					&nvanished, &serr) < 0)
			die("changes", serr.msg);
		printf("mailbox    %-14s changes since MODSEQ (%zu changed): %.2f ms\n", driver,
		       nchanged, (now_s() - t0) * 1000);
	}

	{
		struct store_uid_range r = { first_body + 1, first_body + 1000 };
		struct bodies_ctx bc = { .blob = blob, .address = address };
		struct buf body;
		double tm;

		bc.hashes = arena_alloc(a, 1000 * 65);
		buf_init(&body, 0);
		t0 = now_s();
		if (store_fetch(st, mb.id, &r, 1, STORE_FETCH_BLOB | STORE_FETCH_ENVELOPE |
				STORE_FETCH_SIZE, 0, bodies_cb, &bc, &serr) < 0)
			die("fetch range", serr.msg);
		tm = now_s() - t0;
		for (uint64_t i = 0; i < bc.n; i++) {
			if (blob_key_from_address(address, bc.hashes[i], &key, &berr) < 0 ||
			    blob_get(blob, key.data, &body, NULL, &berr) < 0) {
				bc.errors++;
				continue;
			}
			bc.bytes += body.len;
		}
		t = now_s() - t0;
		printf("mailbox    %-14s UID range of %" PRIu64 " messages: metadata %.1f ms, "
		       "with bodies (%" PRIu64 " KB from fs) %.1f ms%s\n",
		       driver, bc.n, tm * 1000, bc.bytes / 1024, t * 1000,
		       bc.errors > 0 ? " ERRORS" : "");
		buf_free(&body);
	}
	fflush(stdout);
	buf_free(&key);
	free(msgs);
	free(items);
	blob_close(&blob);
	(void)store_account_delete(st, acc, &serr);
	store_close(&st);
	arena_free(&a);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	char sqlite_path[512];
	const char *pg = getenv("STORE_TEST_PG_CONNINFO");
	bool own_dir = true;

	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			die(a, "needs a value");
		if (strcmp(a, "--s3") == 0)
			opt_s3 = v;
		else if (strcmp(a, "--messages") == 0 || strcmp(a, "--threads") == 0 ||
			 strcmp(a, "--mailbox") == 0) {
			uint32_t n;

			if (str_to_u32(slice_cstr(v), &n) < 0)
				die(a, "not a number");
			if (strcmp(a, "--messages") == 0)
				opt_messages = n;
			else if (strcmp(a, "--threads") == 0)
				opt_threads = n;
			else
				opt_mailbox = n;
		}
		else if (strcmp(a, "--dir") == 0) {
			snprintf(opt_dir, sizeof(opt_dir), "%s", v);
			own_dir = false;
		} else
			die(a, "unknown option");
	}
	if (opt_messages == 0 || opt_threads == 0 || opt_mailbox < 2000)
		die("options", "--messages and --threads > 0, --mailbox >= 2000");
	if (own_dir && mkdtemp(opt_dir) == NULL)
		die("mkdtemp", strerror(errno));
	printf("store_bench: data under %s%s\n", opt_dir, own_dir ? " (removed at the end)" : "");

	bench_deliveries("fs");
	if (opt_s3 != NULL) {
		bench_deliveries("s3");
		bench_deliveries("s3+encryption");
	} else {
		printf("deliveries s3             skipped (no --s3 HOST:PORT)\n");
	}

	snprintf(sqlite_path, sizeof(sqlite_path), "%s/big.db", opt_dir);
	bench_mailbox("sqlite", &(struct store_settings){ .driver = "sqlite",
							   .path = sqlite_path });
	if (pg != NULL && pg[0] != '\0')
		bench_mailbox("postgres", &(struct store_settings){ .driver = "postgres",
								     .write_conninfo = pg });
	else
		printf("mailbox    postgres       skipped (STORE_TEST_PG_CONNINFO not set)\n");
	if (own_dir)
		(void)nftw(opt_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
