/* PostgreSQL driver tests beyond the conformance suite (test_store.c runs
   on postgres as the meson test store_postgres): what only a shared server
   can show. Two store handles on one database stand for two nodes:
   - a change through one reaches a watcher of the other (LISTEN/NOTIFY);
   - auth blocks and the cleanup lock are shared;
   - several handles opening a fresh database at once migrate it once
     (advisory lock);
   - connections killed by the server (pg_terminate_backend) cost at most
     one STORE_TEMPORARY, then service resumes; the listener reconnects;
   - a server that is not there is STORE_TEMPORARY;
   - bytes that are not UTF-8 in parsed headers are stored, not refused.
   Runs through scripts/pg.sh run (STORE_TEST_PG_CONNINFO). */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/util.h"
#include "store/store.h"

#if defined(__SANITIZE_ADDRESS__)
#define EVENT_WAIT_MS 5000 /* sanitized builds: no tight timing */
#else
#define EVENT_WAIT_MS 1000 /* the contract: another node's change within 1 s */
#endif

static const char *conninfo(void)
{
	const char *c = getenv("STORE_TEST_PG_CONNINFO");

	if (c == NULL || c[0] == '\0')
		fail_msg("STORE_TEST_PG_CONNINFO is not set (run through scripts/pg.sh run)");
	return c;
}

static struct store *open_store(const char *info)
{
	struct store_settings set = { .driver = "postgres", .write_conninfo = info,
				      .write_connections = 2, .read_connections = 2 };
	struct store_error err;
	struct store *st = NULL;

	if (store_open(&set, &st, &err) < 0)
		fail_msg("store_open: %s: %s", store_err_name(err.code), err.msg);
	return st;
}

#define OK(expr)                                                                              \
	do {                                                                                  \
		if ((expr) != 0)                                                              \
			fail_msg("line %d: %s: %s: %s", __LINE__, #expr,                      \
				 store_err_name(err.code), err.msg);                          \
	} while (0)

static char tag[64];

static const char *addr(struct arena *a, const char *local)
{
	return arena_printf(a, "%s.%s@example.org", local, tag);
}

static void msg_init(struct store_message_new *m, char *hash, unsigned int n)
{
	REQUIRE(snprintf(hash, 65, "%064x", n) == 64);
	*m = (struct store_message_new){ .size = 10, .content_hash = hash,
					 .internal_date = 1700000000 };
}

/* ---- change events ----------------------------------------------------- */

struct events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct store_change last;
	unsigned int count;
};

static void on_change(const struct store_change *change, void *ctx)
{
	struct events *ev = ctx;

	REQUIRE(pthread_mutex_lock(&ev->lock) == 0);
	ev->last = *change;
	ev->count++;
	REQUIRE(pthread_cond_broadcast(&ev->cond) == 0);
	REQUIRE(pthread_mutex_unlock(&ev->lock) == 0);
}

/* Waits for an event about mailbox with modseq >= min_modseq; the time it
   took in ms, or -1. */
static int64_t wait_event(struct events *ev, int64_t mailbox, uint64_t min_modseq,
			  int timeout_ms)
{
	uint64_t start = util_now_ms();
	struct timespec until;
	int64_t took = -1;

	REQUIRE(clock_gettime(CLOCK_REALTIME, &until) == 0);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	REQUIRE(pthread_mutex_lock(&ev->lock) == 0);
	for (;;) {
		if (ev->count > 0 && ev->last.mailbox_id == mailbox &&
		    ev->last.modseq >= min_modseq) {
			took = (int64_t)(util_now_ms() - start);
			break;
		}
		if (pthread_cond_timedwait(&ev->cond, &ev->lock, &until) != 0)
			break;
	}
	REQUIRE(pthread_mutex_unlock(&ev->lock) == 0);
	return took;
}

static void test_notify_across_handles(void **state)
{
	struct store *a = open_store(conninfo()), *b = open_store(conninfo());
	struct events ev = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct arena *arena = arena_new(4096);
	struct store_uid_range one = { 1, 1 };
	struct store_flags_result *res;
	struct store_mailbox mb;
	struct store_error err;
	struct store_message_new m;
	uint32_t *failed, *uids, uid;
	size_t n, nf;
	uint64_t modseq;
	int64_t acc, took;
	char hash[65];

	(void)state;
	assert_int_equal(store_watch(b, on_change, &ev), 0);
	OK(store_account_create(a, addr(arena, "notify"), "{PLAIN}x", &acc, &err));
	OK(store_mailbox_get(a, acc, "INBOX", arena, &mb, &err));
	/* LISTEN runs on its own thread: give it a moment to subscribe */
	usleep(200 * 1000);

	msg_init(&m, hash, 0x4e01);
	OK(store_append(a, mb.id, &m, &uid, &modseq, &err));
	took = wait_event(&ev, mb.id, modseq, EVENT_WAIT_MS);
	printf("notify: append seen by the other handle after %lld ms\n", (long long)took);
	assert_true(took >= 0);

	OK(store_flags_update(a, mb.id, &one, 1,
			      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							    .flags = STORE_FLAG_SEEN },
			      arena, &res, &n, &failed, &nf, &err));
	assert_true(wait_event(&ev, mb.id, res[0].modseq, EVENT_WAIT_MS) >= 0);

	OK(store_expunge(a, mb.id, NULL, 0, false, arena, &uids, &n, &modseq, &err));
	assert_true(wait_event(&ev, mb.id, modseq, EVENT_WAIT_MS) >= 0);

	store_close(&a);
	store_close(&b);
	arena_free(&arena);
}

/* ---- shared state ------------------------------------------------------ */

static void test_auth_block_shared(void **state)
{
	struct store *a = open_store(conninfo()), *b = open_store(conninfo());
	struct arena *arena = arena_new(4096);
	const char *ip = arena_printf(arena, "192.0.2.%u", (unsigned int)(getpid() % 250) + 1);
	int64_t now = (int64_t)time(NULL), until = 0;
	struct store_error err;
	uint32_t count = 0;

	(void)state;
	OK(store_auth_block_clear(a, STORE_BLOCK_IP, ip, &err));
	OK(store_auth_block_set(a, STORE_BLOCK_IP, ip, now + 300, &err));
	/* no replica in between: the other node sees it on its next check */
	OK(store_auth_block_get(b, STORE_BLOCK_IP, ip, now, &until, &err));
	assert_int_equal(until, now + 300);
	{
		struct store_auth_block *list;
		size_t n;
		bool found = false;

		OK(store_auth_block_list(b, now, arena, &list, &n, &err));
		for (size_t i = 0; i < n; i++)
			found |= list[i].kind == STORE_BLOCK_IP && strcmp(list[i].key, ip) == 0 &&
				 list[i].until == now + 300;
		assert_true(found);
		OK(store_auth_block_list(b, now + 300, arena, &list, &n, &err));
		for (size_t i = 0; i < n; i++)
			assert_true(list[i].until > now + 300);
	}
	OK(store_auth_block_clear(b, STORE_BLOCK_IP, ip, &err));
	OK(store_auth_block_get(a, STORE_BLOCK_IP, ip, now, &until, &err));
	assert_int_equal(until, 0);

	OK(store_auth_attempt_add(a, ip, "Someone", false, now, &err));
	OK(store_auth_failures(b, ip, "someone", now, &count, &err));
	assert_int_equal(count, 1);
	store_close(&a);
	store_close(&b);
	arena_free(&arena);
}

static void test_cleanup_lock_exclusive(void **state)
{
	struct store *a = open_store(conninfo()), *b = open_store(conninfo());
	struct store_error err;
	bool got = false;

	(void)state;
	OK(store_cleanup_try_lock(a, &got, &err));
	assert_true(got);
	OK(store_cleanup_try_lock(b, &got, &err));
	assert_false(got); /* one node at a time */
	OK(store_cleanup_unlock(a, &err));
	OK(store_cleanup_try_lock(b, &got, &err));
	assert_true(got);
	/* a node that goes away releases it (once its server process has
	   seen the connection close: asynchronous) */
	store_close(&b);
	for (int i = 0; i < 100; i++) {
		OK(store_cleanup_try_lock(a, &got, &err));
		if (got)
			break;
		usleep(20 * 1000);
	}
	assert_true(got);
	OK(store_cleanup_unlock(a, &err));
	store_close(&a);
}

/* ---- writers on two nodes at once ---------------------------------------- */

struct writer {
	struct store *st;
	int64_t a, b; /* two mailboxes of one account */
	unsigned int seed;
	int failures;
	char msg[STORE_ERROR_MSG_MAX];
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	struct arena *arena = arena_new(4096);

	for (int i = 0; i < 40; i++) {
		struct store_message_new m[2];
		struct store_append items[2];
		struct store_copy_result res;
		struct store_error err;
		uint32_t *uids;
		size_t n;
		uint64_t modseq;
		char h[2][65];
		bool flip = (w->seed + (unsigned int)i) % 2 == 0;
		int rc;

		msg_init(&m[0], h[0], w->seed * 1000 + (unsigned int)i * 2);
		msg_init(&m[1], h[1], w->seed * 1000 + (unsigned int)i * 2 + 1);
		/* one batch into both mailboxes, in either order */
		items[0] = (struct store_append){ .mailbox_id = flip ? w->a : w->b, .msg = &m[0] };
		items[1] = (struct store_append){ .mailbox_id = flip ? w->b : w->a, .msg = &m[1] };
		rc = store_append_batch(w->st, items, 2, &err);
		if (rc == 0) {
			/* the message just appended to the copy's source */
			struct store_uid_range one = { items[0].uid_r, items[0].uid_r };

			rc = store_copy(w->st, flip ? w->a : w->b, &one, 1, flip ? w->b : w->a,
					i % 4 == 0, arena, &res, &err);
		}
		if (rc == 0 && i % 5 == 0)
			rc = store_expunge(w->st, flip ? w->b : w->a, NULL, 0, false, arena, &uids,
					   &n, &modseq, &err);
		if (rc != 0) {
			w->failures++;
			memcpy(w->msg, err.msg, sizeof(w->msg));
		}
		arena_reset(arena);
	}
	arena_free(&arena);
	return NULL;
}

/* Appends, copies, moves and expunges across two mailboxes, in both
   orders, from two handles: no deadlock, no lost update, counters exact. */
static void test_concurrent_writers(void **state)
{
	enum { N = 4 };
	struct store *st[2] = { open_store(conninfo()), open_store(conninfo()) };
	struct arena *arena = arena_new(4096);
	struct store_mailbox_status sa, sb;
	struct store_account acct;
	struct store_error err;
	struct store_mailbox mb;
	struct writer w[N];
	pthread_t th[N];
	uint32_t *uids;
	size_t na, nb;
	int64_t acc, a, b;

	(void)state;
	OK(store_account_create(st[0], addr(arena, "writers"), "{PLAIN}x", &acc, &err));
	OK(store_mailbox_get(st[0], acc, "INBOX", arena, &mb, &err));
	a = mb.id;
	OK(store_mailbox_get(st[0], acc, "Archive", arena, &mb, &err));
	b = mb.id;
	for (int i = 0; i < N; i++) {
		w[i] = (struct writer){ .st = st[i % 2], .a = a, .b = b,
					.seed = 0x51000u + (unsigned int)i };
		assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &w[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (w[i].failures > 0)
			fail_msg("writer %d: %d failures, last: %s", i, w[i].failures, w[i].msg);
	}
	OK(store_mailbox_uids(st[1], a, &uids, &na, &sa, &err));
	free(uids);
	OK(store_mailbox_uids(st[1], b, &uids, &nb, &sb, &err));
	free(uids);
	assert_int_equal(sa.messages, na);
	assert_int_equal(sb.messages, nb);
	OK(store_account_get(st[1], acc, arena, &acct, &err));
	assert_int_equal(acct.message_count, na + nb);
	assert_int_equal(acct.total_bytes, (na + nb) * 10);
	store_close(&st[0]);
	store_close(&st[1]);
	arena_free(&arena);
}

/* ---- migrations under concurrency -------------------------------------- */

struct opener {
	const char *info;
	int rc;
	struct store_error err;
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	struct store_settings set = { .driver = "postgres", .write_conninfo = o->info,
				      .write_connections = 1, .read_connections = 1 };
	struct store *st = NULL;

	o->rc = store_open(&set, &st, &o->err);
	store_close(&st);
	return NULL;
}

static PGconn *admin_connect(void)
{
	PGconn *db = PQconnectdb(conninfo());

	if (PQstatus(db) != CONNECTION_OK)
		fail_msg("admin connection: %s", PQerrorMessage(db));
	return db;
}

static void admin_exec(PGconn *db, const char *sql)
{
	PGresult *r = PQexec(db, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	PQclear(r);
}

static void test_concurrent_migrations(void **state)
{
	enum { N = 6 };
	struct opener o[N];
	pthread_t th[N];
	PGconn *db = admin_connect(), *fresh;
	char name[64], create[128], drop[160], info[1024];
	PGresult *r;
	unsigned int version = 0, latest = 0;
	struct store_error err;
	struct store *st;

	(void)state;
	REQUIRE(snprintf(name, sizeof(name), "sora_mig_%d", (int)getpid()) > 0);
	REQUIRE(snprintf(create, sizeof(create), "CREATE DATABASE %s", name) > 0);
	REQUIRE(snprintf(drop, sizeof(drop), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name) > 0);
	/* a later dbname overrides the conninfo's */
	REQUIRE(snprintf(info, sizeof(info), "%s dbname=%s", conninfo(), name) > 0);
	admin_exec(db, drop);
	admin_exec(db, create);
	for (int i = 0; i < N; i++) {
		o[i] = (struct opener){ .info = info };
		assert_int_equal(pthread_create(&th[i], NULL, open_thread, &o[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (o[i].rc != 0)
			fail_msg("opener %d: %s: %s", i, store_err_name(o[i].err.code),
				 o[i].err.msg);
	}
	st = open_store(info);
	OK(store_migrate_version(st, &version, &latest, &err));
	assert_int_equal(version, latest);
	store_close(&st);
	fresh = PQconnectdb(info);
	assert_int_equal(PQstatus(fresh), CONNECTION_OK);
	r = PQexec(fresh, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	/* each version applied exactly once */
	assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), latest);
	assert_int_equal(strtol(PQgetvalue(r, 0, 1), NULL, 10), latest);
	PQclear(r);
	PQfinish(fresh);
	admin_exec(db, drop);
	PQfinish(db);
}

/* ---- lost connections -------------------------------------------------- */

static void terminate_sora_backends(void)
{
	PGconn *db = admin_connect();

	admin_exec(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		       "WHERE application_name = 'sora' AND datname = current_database() "
		       "AND pid <> pg_backend_pid()");
	PQfinish(db);
}

static void test_reconnect(void **state)
{
	struct store *a = open_store(conninfo()), *b = open_store(conninfo());
	struct events ev = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct arena *arena = arena_new(4096);
	struct store_mailbox_status status;
	struct store_message_new m;
	struct store_mailbox mb;
	struct store_error err;
	char hash[65];
	int64_t acc;
	uint64_t modseq = 0;
	uint32_t uid;
	int rc, failures = 0;

	(void)state;
	assert_int_equal(store_watch(b, on_change, &ev), 0);
	OK(store_account_create(a, addr(arena, "reconnect"), "{PLAIN}x", &acc, &err));
	OK(store_mailbox_get(a, acc, "INBOX", arena, &mb, &err));
	OK(store_mailbox_status(a, mb.id, &status, &err));

	/* every connection of both handles dies, listeners included */
	terminate_sora_backends();
	usleep(200 * 1000); /* pg_terminate_backend only signals */
	msg_init(&m, hash, 0x7e01);
	for (int i = 0; i < 2; i++) {
		rc = store_append(a, mb.id, &m, &uid, &modseq, &err);
		if (rc == 0)
			break;
		/* a lost connection is temporary, never internal */
		assert_int_equal(err.code, STORE_TEMPORARY);
		failures++;
	}
	assert_int_equal(rc, 0);
	assert_true(failures <= 1);
	OK(store_mailbox_status(b, mb.id, &status, &err));
	assert_int_equal(status.messages, 1);

	/* the listener came back too (backoff starts at 100 ms) */
	for (int i = 0; i < 50; i++) {
		char h[65];

		msg_init(&m, h, 0x7e10 + (unsigned int)i);
		OK(store_append(a, mb.id, &m, &uid, &modseq, &err));
		if (wait_event(&ev, mb.id, modseq, 200) >= 0)
			break;
		modseq = 0;
	}
	assert_true(modseq > 0);
	store_close(&a);
	store_close(&b);
	arena_free(&arena);
}

static void test_server_down_is_temporary(void **state)
{
	/* nothing listens on port 1 */
	struct store_settings set = { .driver = "postgres",
				      .write_conninfo = "host=127.0.0.1 port=1 user=postgres "
							"connect_timeout=2" };
	struct store_error err;
	struct store *st = NULL;

	(void)state;
	assert_int_equal(store_open(&set, &st, &err), -1);
	assert_int_equal(err.code, STORE_TEMPORARY);
	assert_null(st);
	/* no conninfo at all: a configuration error */
	set.write_conninfo = NULL;
	assert_int_equal(store_open(&set, &st, &err), -1);
	assert_int_equal(err.code, STORE_INVALID);
}

static void test_invalid_utf8_stored(void **state)
{
	struct store *st = open_store(conninfo());
	struct arena *arena = arena_new(4096);
	struct store_message_new m;
	struct store_mailbox mb;
	struct store_error err;
	uint32_t *uids;
	size_t n;
	char hash[65];
	int64_t acc;

	(void)state;
	OK(store_account_create(st, addr(arena, "utf8"), "{PLAIN}x", &acc, &err));
	OK(store_mailbox_get(st, acc, "INBOX", arena, &mb, &err));
	msg_init(&m, hash, 0x0bad);
	m.headers.subject = "Caf\xe9 latin-1 \xff";
	m.body_text = "na\xefve body text";
	OK(store_append(st, mb.id, &m, NULL, NULL, &err));
	OK(store_search(st, mb.id, STORE_SEARCH_SUBJECT, "latin-1", arena, &uids, &n, &err));
	assert_int_equal(n, 1);
	OK(store_search(st, mb.id, STORE_SEARCH_BODY, "body text", arena, &uids, &n, &err));
	assert_int_equal(n, 1);
	store_close(&st);
	arena_free(&arena);
}

/* ---- schema version 2: part offsets, per-account quotas ------------------ */

struct parts_seen {
	size_t len;
	unsigned char bytes[16];
	bool had;
};

static int parts_cb(const struct store_message *msg, void *ctx)
{
	struct parts_seen *ps = ctx;

	ps[msg->uid - 1].had = msg->headers.parts != NULL;
	ps[msg->uid - 1].len = msg->headers.parts_len;
	if (msg->headers.parts_len <= sizeof(ps->bytes) && msg->headers.parts != NULL)
		memcpy(ps[msg->uid - 1].bytes, msg->headers.parts, msg->headers.parts_len);
	return 0;
}

static void test_parts_and_quota(void **state)
{
	static const unsigned char blob[] = { 0x00, 0x01, 0xff, 0x5c, 0x78, 0x00, 0x27 };
	struct store *st = open_store(conninfo());
	struct arena *arena = arena_new(4096);
	struct parts_seen seen[2] = { 0 };
	struct store_message_new m;
	struct store_account a;
	struct store_mailbox mb;
	struct store_error err;
	char hash[65];
	int64_t acc;

	(void)state;
	OK(store_account_create(st, addr(arena, "v2"), "{PLAIN}x", &acc, &err));
	OK(store_account_get(st, acc, arena, &a, &err));
	assert_int_equal(a.quota_storage, 0);
	OK(store_account_set_quota(st, acc, 1ULL << 40, 5000, &err));
	OK(store_account_get(st, acc, arena, &a, &err));
	assert_int_equal(a.quota_storage, 1ULL << 40);
	assert_int_equal(a.quota_messages, 5000);
	OK(store_account_set_quota(st, acc, 0, 0, &err));
	OK(store_account_get(st, acc, arena, &a, &err));
	assert_int_equal(a.quota_storage, 0);
	assert_int_equal(a.quota_messages, 0);
	assert_int_equal(store_account_set_quota(st, INT64_MAX - 1, 1, 1, &err), -1);
	assert_int_equal(err.code, STORE_NOT_FOUND);

	/* part offsets are binary: NUL bytes, backslashes and quotes survive */
	OK(store_mailbox_get(st, acc, "INBOX", arena, &mb, &err));
	msg_init(&m, hash, 0x9a01);
	m.headers.parts = blob;
	m.headers.parts_len = sizeof(blob);
	OK(store_append(st, mb.id, &m, NULL, NULL, &err));
	msg_init(&m, hash, 0x9a02); /* none stored (mail from before v2) */
	OK(store_append(st, mb.id, &m, NULL, NULL, &err));
	OK(store_fetch(st, mb.id, NULL, 0, STORE_FETCH_PARTS, 0, parts_cb, seen, &err));
	assert_true(seen[0].had);
	assert_int_equal(seen[0].len, sizeof(blob));
	assert_memory_equal(seen[0].bytes, blob, sizeof(blob));
	assert_false(seen[1].had);
	store_close(&st);
	arena_free(&arena);
}

/* A database at version 1 (before parts and quotas) is brought to the
   latest version at open. */
static void test_migration_from_v1(void **state)
{
	PGconn *db = admin_connect(), *fresh;
	char name[64], create[128], drop[160], info[1024];
	unsigned int version = 0, latest = 0;
	struct store_account a;
	struct store_error err;
	struct arena *arena = arena_new(4096);
	struct store *st;
	int64_t acc;

	(void)state;
	REQUIRE(snprintf(name, sizeof(name), "sora_v1_%d", (int)getpid()) > 0);
	REQUIRE(snprintf(create, sizeof(create), "CREATE DATABASE %s", name) > 0);
	REQUIRE(snprintf(drop, sizeof(drop), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name) > 0);
	REQUIRE(snprintf(info, sizeof(info), "%s dbname=%s", conninfo(), name) > 0);
	admin_exec(db, drop);
	admin_exec(db, create);
	st = open_store(info);
	OK(store_account_create(st, addr(arena, "old"), "{PLAIN}x", &acc, &err));
	store_close(&st);
	/* back to version 1 */
	fresh = PQconnectdb(info);
	assert_int_equal(PQstatus(fresh), CONNECTION_OK);
	admin_exec(fresh, "ALTER TABLE message_data DROP COLUMN parts; "
			  "ALTER TABLE accounts DROP COLUMN quota_storage, DROP COLUMN quota_messages; "
			  "DELETE FROM schema_migrations WHERE version >= 2");
	PQfinish(fresh);
	st = open_store(info);
	OK(store_migrate_version(st, &version, &latest, &err));
	assert_int_equal(version, latest);
	assert_true(latest >= 2);
	OK(store_account_set_quota(st, acc, 0, 7, &err));
	OK(store_account_get(st, acc, arena, &a, &err));
	assert_int_equal(a.quota_messages, 7);
	store_close(&st);
	admin_exec(db, drop);
	PQfinish(db);
	arena_free(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_across_handles),
		cmocka_unit_test(test_auth_block_shared),
		cmocka_unit_test(test_cleanup_lock_exclusive),
		cmocka_unit_test(test_concurrent_writers),
		cmocka_unit_test(test_concurrent_migrations),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_server_down_is_temporary),
		cmocka_unit_test(test_invalid_utf8_stored),
		cmocka_unit_test(test_parts_and_quota),
		cmocka_unit_test(test_migration_from_v1),
	};

	REQUIRE(snprintf(tag, sizeof(tag), "pg%ld-%d", (long)time(NULL), (int)getpid()) > 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
