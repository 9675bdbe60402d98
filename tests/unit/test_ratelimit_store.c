/* The limiter's persisted blocks (auth/ratelimit-store.h) on a real SQLite
   store: a block survives closing and reopening the store, blocks that
   ended long ago are pruned, an operator's clear is followed by the
   running limiter, and a store error refuses the attempt and is handed up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "auth/ratelimit-store.h"
#include "auth/ratelimit.h"
#include "lib/util.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct config_rate_limit cfg;
	struct store *st;
	struct ratelimit_store *rs;
	struct ratelimit *rl;
};

static void open_all(struct fixture *f)
{
	struct store_settings set = { .path = f->path };
	struct ratelimit_options opts = { 0 };
	struct store_error err;

	assert_int_equal(store_open(&set, &f->st, &err), 0);
	f->rs = ratelimit_store_new(f->st, &f->cfg, &opts);
	assert_non_null(f->rs);
	f->rl = ratelimit_new_with(&f->cfg, &opts);
	ratelimit_store_attach(f->rs, f->rl);
}

static void close_all(struct fixture *f)
{
	ratelimit_store_free(&f->rs);
	ratelimit_free(&f->rl);
	store_close(&f->st);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-rls-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/sora.db", f->dir);
	/* only the fast block: 3 failures block the IP for a minute */
	f->cfg = (struct config_rate_limit){
		.enabled = true,
		.fast_block_threshold = 3,
		.fast_block_ms = 60000,
		.ip_window_ms = 15 * 60000,
	};
	open_all(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	close_all(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static enum ratelimit_verdict check_ip(struct fixture *f, const char *ip)
{
	uint64_t delay;

	return ratelimit_check(f->rl, ip, NULL, RATELIMIT_KIND_USER, util_now_ms(), &delay);
}

static void fail_ip(struct fixture *f, const char *ip, int n)
{
	for (int i = 0; i < n; i++)
		ratelimit_record_failure(f->rl, ip, NULL, RATELIMIT_KIND_USER, util_now_ms());
}

static int rows(struct fixture *f, const char *key)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int n = -1;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM auth_blocks WHERE key = ?",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static void exec_sql(struct fixture *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_block_survives_reopen(void **state)
{
	struct fixture *f = *state;

	fail_ip(f, "192.0.2.1", 3);
	assert_int_equal(check_ip(f, "192.0.2.1"), RATELIMIT_BLOCKED_FAST);
	assert_int_equal(rows(f, "192.0.2.1"), 1);
	/* a restart: fresh memory, the same database */
	close_all(f);
	open_all(f);
	assert_int_equal(check_ip(f, "192.0.2.1"), RATELIMIT_BLOCKED_SHARED);
	assert_int_equal(check_ip(f, "192.0.2.2"), RATELIMIT_ALLOW);
	assert_int_equal(ratelimit_store_error_count(f->rs), 0);
}

static void test_old_blocks_pruned(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	int64_t now = (int64_t)time(NULL);

	assert_int_equal(store_auth_block_set(f->st, STORE_BLOCK_USER, "old@example.org",
					      now - RATELIMIT_STORE_PRUNE_AGE_S - 3600, &err), 0);
	assert_int_equal(store_auth_block_set(f->st, STORE_BLOCK_USER, "new@example.org",
					      now + 3600, &err), 0);
	assert_int_equal(rows(f, "old@example.org"), 1);
	/* a recorded failure runs the (first) prune pass */
	fail_ip(f, "192.0.2.9", 1);
	assert_int_equal(rows(f, "old@example.org"), 0);
	assert_int_equal(rows(f, "new@example.org"), 1);
}

static void test_clear_lifts_running_block(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	uint64_t deadline;

	fail_ip(f, "198.51.100.7", 3);
	assert_int_equal(check_ip(f, "198.51.100.7"), RATELIMIT_BLOCKED_FAST);
	/* what `sora-admin auth unblock --ip` does */
	assert_int_equal(store_auth_block_clear(f->st, STORE_BLOCK_IP, "198.51.100.7", &err), 0);
	assert_int_equal(rows(f, "198.51.100.7"), 0);
	deadline = util_now_ms() + 10 * RATELIMIT_STORE_POLL_MS;
	while (check_ip(f, "198.51.100.7") != RATELIMIT_ALLOW) {
		assert_true(util_now_ms() < deadline);
		usleep(20 * 1000);
	}
}

static void test_store_error_fails_closed(void **state)
{
	struct fixture *f = *state;
	char msg[320];

	assert_false(ratelimit_store_take_error(f->rs, msg, sizeof(msg)));
	exec_sql(f, "ALTER TABLE auth_blocks RENAME TO auth_blocks_gone");
	assert_int_equal(check_ip(f, "203.0.113.5"), RATELIMIT_BLOCKED_SHARED);
	assert_true(ratelimit_store_error_count(f->rs) >= 1);
	assert_true(ratelimit_store_take_error(f->rs, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "auth block get"));
	/* taken once */
	assert_false(ratelimit_store_take_error(f->rs, msg, sizeof(msg)));
	exec_sql(f, "ALTER TABLE auth_blocks_gone RENAME TO auth_blocks");
	assert_int_equal(check_ip(f, "203.0.113.5"), RATELIMIT_ALLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_block_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_blocks_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_lifts_running_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_error_fails_closed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
