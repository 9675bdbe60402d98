/* sora-admin uploader status | cache stats | cleanup run | blobs reencrypt.

   status and stats read the on-disk state (staging directory, cache
   directory and the counters file the server saves), so they work while
   sora runs, from another process; what only the server knows (upload
   attempts, stalled keys) is in its log. cleanup run and blobs reencrypt
   open both stores and do the work here, printing progress as they go. */
#include "admin-blobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver/cleanup.h"
#include "deliver/deliver.h"
#include "deliver/storage.h"
#include "lib/str.h"
#include "lib/units.h"
#include "store/blob.h"

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Common shape: "<group> <command> [flags]"; 0 = go on, else exit status + 1. */
static int want(int argc, char **argv, const char *cmd, const char *usage)
{
	if (argc == 0 || is_help(argv[0])) {
		fputs(usage, argc == 0 ? stderr : stdout);
		return argc == 0 ? 3 : 1;
	}
	if (strcmp(argv[0], cmd) != 0) {
		fprintf(stderr, "sora-admin: unknown command '%s'\n%s", argv[0], usage);
		return 3;
	}
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage, stdout);
			return 1;
		}
	}
	return 0;
}

static bool uses_s3(const struct config *cfg)
{
	return cfg->storage.driver != NULL && strcmp(cfg->storage.driver, "s3") == 0;
}

static void print_bytes(const char *label, uint64_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	printf("%-16s %llu (%.1f %s)\n", label, (unsigned long long)n, v, units[u]);
}

static void print_age(const char *label, int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		printf("%-16s -\n", label);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-16s %s (%llds ago)\n", label, buf, (long long)(time(NULL) - t));
}

/* ---- uploader status ------------------------------------------------------ */

static const char uploader_usage[] =
	"Usage: sora-admin [--config FILE] uploader status\n"
	"\n"
	"Bodies accepted but not yet in S3, from the staging directory ([uploader]\n"
	"path): how many, how many bytes (against max_staging_size), the oldest.\n"
	"Upload attempts and errors are known to the running server: see its log\n"
	"(event=upload.retry, upload.stalled).\n";

int admin_uploader(const struct config *cfg, int argc, char **argv)
{
	struct blob_staged_stats st;
	struct blob_error err;
	int w = want(argc, argv, "status", uploader_usage);

	if (w != 0)
		return w - 1;
	if (argc > 1) {
		fprintf(stderr, "sora-admin: uploader status: unknown flag '%s'\n", argv[1]);
		return 2;
	}
	if (!uses_s3(cfg))
		printf("note: storage.driver is not \"s3\": bodies are written directly, "
		       "nothing is staged\n");
	if (blob_staged_scan(cfg->uploader.path, &st, &err) < 0) {
		fprintf(stderr, "sora-admin: uploader status: %s\n", err.msg);
		return 1;
	}
	printf("%-16s %s\n", "path", cfg->uploader.path);
	printf("%-16s %llu\n", "staged", (unsigned long long)st.count);
	print_bytes("bytes", st.bytes);
	print_bytes("max_staging_size", cfg->uploader.max_staging_size);
	print_age("oldest", st.oldest);
	return 0;
}

/* ---- cache stats ------------------------------------------------------------ */

static const char cache_usage[] =
	"Usage: sora-admin [--config FILE] cache stats\n"
	"\n"
	"The local body cache ([local_cache] path): entries and bytes counted now\n"
	"from the directory; hits, misses, stores and evictions as the server last\n"
	"saved them (every few seconds while it reads, and when it stops).\n";

int admin_cache(const struct config *cfg, int argc, char **argv)
{
	struct blob_cache_stats st;
	struct blob_error err;
	int w = want(argc, argv, "stats", cache_usage);

	if (w != 0)
		return w - 1;
	if (argc > 1) {
		fprintf(stderr, "sora-admin: cache stats: unknown flag '%s'\n", argv[1]);
		return 2;
	}
	if (!uses_s3(cfg))
		printf("note: storage.driver is not \"s3\": the cache is not used\n");
	if (blob_cache_read_stats(cfg->local_cache.path, &st, &err) < 0) {
		fprintf(stderr, "sora-admin: cache stats: %s\n", err.msg);
		return 1;
	}
	printf("%-16s %s\n", "path", cfg->local_cache.path);
	printf("%-16s %llu\n", "entries", (unsigned long long)st.entries);
	print_bytes("bytes", st.bytes);
	print_bytes("capacity", cfg->local_cache.capacity);
	if (st.written_at == 0) {
		printf("counters         none saved yet (no server has used this cache)\n");
		return 0;
	}
	print_age("counters_saved", st.written_at);
	printf("%-16s %llu\n%-16s %llu\n%-16s %llu\n%-16s %llu\n", "hits",
	       (unsigned long long)st.hits, "misses", (unsigned long long)st.misses, "stores",
	       (unsigned long long)st.stores, "evictions", (unsigned long long)st.evictions);
	if (st.hits + st.misses > 0)
		printf("%-16s %.1f%%\n", "hit_ratio",
		       100.0 * (double)st.hits / (double)(st.hits + st.misses));
	return 0;
}

/* ---- cleanup run ------------------------------------------------------------ */

static const char cleanup_usage[] =
	"Usage: sora-admin [--config FILE] cleanup run [--grace-period DURATION]\n"
	"\n"
	"One cleanup pass now: removes tombstones of messages expunged, and the data\n"
	"of accounts deleted, more than the grace period ago ([cleanup] grace_period\n"
	"unless given, e.g. \"0\", \"12h\", \"14d\"), then deletes from the blob store\n"
	"every body no message refers to any more, and the orphans: bodies of live\n"
	"accounts that no metadata row names (left by a crash mid-delivery), once\n"
	"older than the grace period (and at least a minute). Safe while sora runs.\n";

static void cleanup_progress(void *ctx, const char *phase, const struct cleanup_stats *st)
{
	(void)ctx;
	if (st->locked_out) {
		printf("another node is running cleanup now: nothing done\n");
		return;
	}
	printf("%-10s tombstones=%llu account_messages=%llu blobs_deleted=%llu "
	       "blob_errors=%llu rows=%llu accounts=%llu orphans_deleted=%llu "
	       "orphan_errors=%llu\n",
	       phase, (unsigned long long)st->tombstones,
	       (unsigned long long)st->account_messages, (unsigned long long)st->blobs_deleted,
	       (unsigned long long)st->blob_errors, (unsigned long long)st->rows_forgotten,
	       (unsigned long long)st->accounts, (unsigned long long)st->orphans_deleted,
	       (unsigned long long)st->orphan_errors);
	fflush(stdout);
}

int admin_cleanup(const struct config *cfg, int argc, char **argv)
{
	struct mail_services ms = { 0 };
	struct cleanup_stats st;
	uint64_t grace_ms = cfg->cleanup.grace_period_ms;
	char err[768];
	int w = want(argc, argv, "run", cleanup_usage), ret;

	if (w != 0)
		return w - 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--grace-period") == 0 && i + 1 < argc) {
			if (units_parse_duration(slice_cstr(argv[++i]), &grace_ms) < 0) {
				fprintf(stderr, "sora-admin: cleanup run: --grace-period: not a "
						"duration: '%s'\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "sora-admin: cleanup run: unknown flag or missing value "
					"'%s'\n", argv[i]);
			return 2;
		}
	}
	if (mail_services_open(cfg, &ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "sora-admin: %s\n", err);
		return 1;
	}
	printf("cleanup: grace period %llus\n", (unsigned long long)(grace_ms / 1000));
	ret = cleanup_run(&ms, (int64_t)(grace_ms / 1000), cleanup_progress, NULL, &st, err,
			  sizeof(err));
	mail_services_close(&ms);
	if (ret < 0) {
		fprintf(stderr, "sora-admin: cleanup run: %s\n", err);
		return 1;
	}
	if (st.blob_errors + st.orphan_errors > 0) {
		fprintf(stderr, "sora-admin: cleanup run: %llu bodies could not be deleted "
				"(kept; run again)\n",
			(unsigned long long)(st.blob_errors + st.orphan_errors));
		return 1;
	}
	return 0;
}

/* ---- blobs reencrypt ------------------------------------------------------- */

static const char blobs_usage[] =
	"Usage: sora-admin [--config FILE] blobs reencrypt\n"
	"\n"
	"Rewrites every stored body that is not yet encrypted with [s3]\n"
	"encryption_key (those written under one of previous_encryption_keys) and\n"
	"records the new key id. Resumable and idempotent: run it again after an\n"
	"interruption; bodies already done are skipped from their metadata. Once it\n"
	"reports failed=0, the previous keys can be removed from the configuration.\n";

static void reencrypt_progress(void *ctx, const struct reencrypt_stats *st, bool done)
{
	(void)ctx;
	printf("%s seen=%llu rewritten=%llu current=%llu staged=%llu missing=%llu failed=%llu\n",
	       done ? "done    " : "progress", (unsigned long long)st->seen,
	       (unsigned long long)st->rewritten, (unsigned long long)st->current,
	       (unsigned long long)st->staged, (unsigned long long)st->missing,
	       (unsigned long long)st->failed);
	fflush(stdout);
}

int admin_blobs(const struct config *cfg, int argc, char **argv)
{
	struct mail_services ms = { 0 };
	struct reencrypt_stats st;
	char err[768];
	int w = want(argc, argv, "reencrypt", blobs_usage), ret;

	if (w != 0)
		return w - 1;
	if (argc > 1) {
		fprintf(stderr, "sora-admin: blobs reencrypt: unknown flag '%s'\n", argv[1]);
		return 2;
	}
	if (!cfg->s3.encrypt) {
		fprintf(stderr, "sora-admin: blobs reencrypt: [s3] encrypt is off: nothing to "
				"re-encrypt with\n");
		return 1;
	}
	if (mail_services_open(cfg, &ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "sora-admin: %s\n", err);
		return 1;
	}
	ret = storage_reencrypt(&ms, reencrypt_progress, NULL, &st, err, sizeof(err));
	mail_services_close(&ms);
	if (ret < 0) {
		fprintf(stderr, "sora-admin: blobs reencrypt: %s\n", err);
		return 1;
	}
	if (st.failed > 0) {
		fprintf(stderr, "sora-admin: blobs reencrypt: %llu bodies failed (see above); "
				"run again\n", (unsigned long long)st.failed);
		return 1;
	}
	return 0;
}
