/* sora-admin auth blocked | unblock.

   store.h has no call to list blocks, so `blocked` reads the auth_blocks
   table of the SQLite database itself, read-only, after store_open() has
   checked and migrated the schema. Move it behind a store_auth_block_list()
   when the store grows one (PostgreSQL will need it). Unblocking goes
   through store_auth_block_clear(). Errors go to stderr, exit 1; usage
   errors exit 2. */
#include "admin-auth.h"
#include "admin-common.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/ratelimit.h"
#include "deliver/deliver.h"
#include "lib/arena.h"
#include "lib/util.h"
#include "store/store.h"

static const char auth_usage[] =
    "Usage: sora-admin [--config FILE] auth <command> [flags]\n"
    "\n"
    "  blocked                     list active login blocks: kind, key, until (UTC)\n"
    "  unblock --ip IP | --user ADDRESS\n"
    "                              lift a block; a running server follows within a second\n"
    "\n"
    "IPv6 addresses are blocked per /64: --ip takes any address of the prefix.\n"
    "A master user's block is listed and lifted as --user master:NAME.\n";

static void print_time(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		printf("%lld", (long long)t);
	else
		printf("%s", buf);
}

static void print_block(int kind, const char *key, int64_t until, int64_t now)
{
	printf("%-5s %-40s ",
	       kind == STORE_BLOCK_IP	  ? "ip"
	       : kind == STORE_BLOCK_USER ? "user"
					  : "?",
	       key);
	print_time(until);
	printf("  %llds\n", (long long)(until - now));
}

static int auth_blocked_listed(struct store *st, int64_t now)
{
	struct arena *arena = arena_new(4096);
	struct store_auth_block *blocks;
	struct store_error err;
	size_t n;
	int ret = 1;

	if (store_auth_block_list(st, now, arena, &blocks, &n, &err) < 0) {
		fprintf(stderr, "sora-admin: auth blocked: %s\n", err.msg);
	} else {
		printf("%-5s %-40s %-21s %s\n", "KIND", "KEY", "UNTIL", "LEFT");
		for (size_t i = 0; i < n; i++)
			print_block((int)blocks[i].kind, blocks[i].key, blocks[i].until, now);
		printf("%zu active block%s\n", n, n == 1 ? "" : "s");
		ret = 0;
	}
	arena_free(&arena);
	return ret;
}

static int auth_blocked(const struct config *cfg)
{
	static const char sql[] =
	    "SELECT kind, key, until FROM auth_blocks WHERE until > ? ORDER BY until, kind, key";
	int64_t now = (int64_t)time(NULL);
	struct store *st = admin_open_store(cfg, false);
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int ret = 1, rc;
	size_t n = 0;

	if (st == NULL)
		return 1;
	if (strcmp(store_driver_name(st), "sqlite") != 0) {
		/* PostgreSQL: through the store (the SQLite driver has no
		   store_auth_block_list yet, hence the direct read below) */
		ret = auth_blocked_listed(st, now);
		store_close(&st);
		return ret;
	}
	store_close(&st);
	if (sqlite3_open_v2(cfg->database.path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 1, now) != SQLITE_OK) {
		fprintf(stderr, "sora-admin: auth blocked: %s\n",
			db == NULL ? "out of memory" : sqlite3_errmsg(db));
		goto out;
	}
	printf("%-5s %-40s %-21s %s\n", "KIND", "KEY", "UNTIL", "LEFT");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int kind = sqlite3_column_int(s, 0);
		const unsigned char *key = sqlite3_column_text(s, 1);
		int64_t until = sqlite3_column_int64(s, 2);

		printf("%-5s %-40s ",
		       kind == STORE_BLOCK_IP	  ? "ip"
		       : kind == STORE_BLOCK_USER ? "user"
						  : "?",
		       key == NULL ? "" : (const char *)key);
		print_time(until);
		printf("  %llds\n", (long long)(until - now));
		n++;
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "sora-admin: auth blocked: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	printf("%zu active block%s\n", n, n == 1 ? "" : "s");
	ret = 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return ret;
}

static int auth_unblock(const struct config *cfg, int argc, char **argv)
{
	const char *ip = NULL, *user = NULL, *key;
	enum store_block_kind kind;
	char ip_key[RATELIMIT_KEY_MAX + 1], user_key[RATELIMIT_KEY_MAX + 1];
	int64_t until = 0;
	struct store_error err;
	struct store *st;

	for (int i = 0; i < argc; i++) {
		const char **val;

		if (strcmp(argv[i], "--ip") == 0) {
			val = &ip;
		} else if (strcmp(argv[i], "--user") == 0) {
			val = &user;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(auth_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "sora-admin: unknown flag '%s'\n", argv[i]);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "sora-admin: %s needs a value\n", argv[i]);
			return 2;
		}
		*val = argv[++i];
	}
	if ((ip == NULL) == (user == NULL)) {
		fprintf(stderr, "sora-admin: auth unblock: give one of --ip, --user\n");
		return 2;
	}
	if (ip != NULL) {
		/* the limiter's key: IPv4 as is, IPv6 per /64 */
		(void)ratelimit_ip_key(ip, 0, ip_key, sizeof(ip_key));
		kind = STORE_BLOCK_IP;
		key = ip_key;
	} else {
		/* the limiter's key: the address without +detail (the store
		   lower-cases it); "master:NAME" names a master user's block */
		kind = STORE_BLOCK_USER;
		if (snprintf(user_key, sizeof(user_key), "%s", user) >= (int)sizeof(user_key)) {
			fprintf(stderr, "sora-admin: auth unblock: --user is too long\n");
			return 2;
		}
		if (strncmp(user_key, "master:", 7) != 0)
			(void)store_address_strip_detail(user_key);
		key = user_key;
	}
	st = admin_open_store(cfg, false);
	if (st == NULL)
		return 1;
	if (store_auth_block_get(st, kind, key, (int64_t)time(NULL), &until, &err) < 0 ||
	    (until != 0 && store_auth_block_clear(st, kind, key, &err) < 0)) {
		fprintf(stderr, "sora-admin: auth unblock: %s\n", err.msg);
		store_close(&st);
		return 1;
	}
	store_close(&st);
	printf("%s %s: %s\n", kind == STORE_BLOCK_IP ? "ip" : "user", key,
	       until != 0 ? "unblocked" : "was not blocked");
	return 0;
}

int admin_auth(const struct config *cfg, int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(auth_usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	if (strcmp(argv[0], "blocked") == 0) {
		if (argc > 1) {
			fputs(auth_usage, strcmp(argv[1], "--help") == 0 ? stdout : stderr);
			return strcmp(argv[1], "--help") == 0 ? 0 : 2;
		}
		return auth_blocked(cfg);
	}
	if (strcmp(argv[0], "unblock") == 0)
		return auth_unblock(cfg, argc - 1, argv + 1);
	fprintf(stderr, "sora-admin: auth: unknown command '%s'\n%s", argv[0], auth_usage);
	return 2;
}
