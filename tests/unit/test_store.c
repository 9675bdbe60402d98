/* Conformance suite for the metadata store (store/store.h). Every driver
   must pass it unchanged. The driver comes from STORE_TEST_DRIVER
   ("sqlite" by default; "postgres" takes its connection string from
   STORE_TEST_PG_CONNINFO). SQLite gets a fresh temporary directory per
   test; on a shared PostgreSQL database every test works on its own
   accounts (addresses carry a per-test tag), so no test depends on what
   others left behind. STORE_TEST_TIMING=1 prints each test's wall time;
   the big-mailbox test prints its timings always (information only,
   nothing is asserted on them). */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/util.h"
#include "store/store.h"

struct fx {
	char dir[64];
	char path[128];
	struct store_settings set;
	struct store *st;
	struct arena *arena;
	struct store_error err;
	char tag[40];
	uint64_t hash_counter;
	uint64_t t0;
};

static const char *test_driver(void)
{
	const char *d = getenv("STORE_TEST_DRIVER");

	return d != NULL && d[0] != '\0' ? d : "sqlite";
}

static bool is_sqlite(void)
{
	return strcmp(test_driver(), "sqlite") == 0;
}

static void check_ok(int rc, const struct store_error *err, const char *what, int line)
{
	if (rc != 0)
		fail_msg("line %d: %s failed: %s: %s", line, what, store_err_name(err->code),
			 err->msg);
}

#define E (&fx->err)
#define OK(expr) check_ok((expr), E, #expr, __LINE__)
#define FAILS(expr, want)                                                                     \
	do {                                                                                  \
		int rc_ = (expr);                                                             \
		if (rc_ != -1 || fx->err.code != (want))                                      \
			fail_msg("line %d: %s: want %s, got rc=%d %s (%s)", __LINE__, #expr, \
				 store_err_name(want), rc_, store_err_name(fx->err.code),     \
				 fx->err.msg);                                                \
	} while (0)

static void fx_open(struct fx *fx)
{
	OK(store_open(&fx->set, &fx->st, E));
}

static void fx_reopen(struct fx *fx)
{
	store_close(&fx->st);
	assert_null(fx->st);
	fx_open(fx);
}

static int setup(void **state)
{
	static unsigned int seq;
	struct fx *fx = xcalloc(1, sizeof(*fx));
	int n;

	n = snprintf(fx->tag, sizeof(fx->tag), "t%ld-%d-%u", (long)time(NULL), (int)getpid(),
		     ++seq);
	assert_true(n > 0 && (size_t)n < sizeof(fx->tag));
	fx->set.driver = test_driver();
	if (is_sqlite()) {
		memcpy(fx->dir, "/tmp/store-test-XXXXXX", sizeof("/tmp/store-test-XXXXXX"));
		assert_non_null(mkdtemp(fx->dir));
		n = snprintf(fx->path, sizeof(fx->path), "%s/sora.db", fx->dir);
		assert_true(n > 0 && (size_t)n < sizeof(fx->path));
		fx->set.path = fx->path;
	} else {
		fx->set.write_conninfo = getenv("STORE_TEST_PG_CONNINFO");
		if (fx->set.write_conninfo == NULL)
			fail_msg("STORE_TEST_PG_CONNINFO is not set");
	}
	fx->arena = arena_new(64 * 1024);
	fx->t0 = util_now_ms();
	fx_open(fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (getenv("STORE_TEST_TIMING") != NULL)
		fprintf(stderr, "  (%.1f ms)\n", (double)(util_now_ms() - fx->t0));

	store_close(&fx->st);
	arena_free(&fx->arena);
	if (fx->dir[0] != '\0') {
		DIR *d = opendir(fx->dir);
		struct dirent *de;

		while (d != NULL && (de = readdir(d)) != NULL) {
			char p[512];

			if (de->d_name[0] == '.')
				continue;
			if (snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name) < (int)sizeof(p))
				(void)unlink(p);
		}
		if (d != NULL)
			(void)closedir(d);
		(void)rmdir(fx->dir);
	}
	free(fx);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static const char *addr(struct fx *fx, const char *local)
{
	return arena_printf(fx->arena, "%s.%s@example.org", local, fx->tag);
}

static int64_t new_account(struct fx *fx, const char *local)
{
	int64_t id = 0;

	OK(store_account_create(fx->st, addr(fx, local), "{PLAIN}secret", &id, E));
	assert_true(id > 0);
	return id;
}

static int64_t mailbox_id(struct fx *fx, int64_t account, const char *name)
{
	struct store_mailbox mb;

	OK(store_mailbox_get(fx->st, account, name, fx->arena, &mb, E));
	return mb.id;
}

static const char *next_hash(struct fx *fx)
{
	char *h = arena_alloc(fx->arena, 65);
	int n = snprintf(h, 65, "%064" PRIx64, ++fx->hash_counter);

	assert_int_equal(n, 64);
	return h;
}

struct msg_spec {
	uint32_t flags;
	const char *const *keywords;
	size_t keyword_count;
	const char *subject;
	const char *from;
	const char *to;
	const char *body;
	uint64_t size;
	const char *hash; /* NULL: a new one */
};

static void msg_fill(struct fx *fx, struct store_message_new *m, const struct msg_spec *s)
{
	*m = (struct store_message_new){
		.flags = s->flags,
		.keywords = s->keywords,
		.keyword_count = s->keyword_count,
		.internal_date = 1700000000,
		.size = s->size != 0 ? s->size : 1000,
		.content_hash = s->hash != NULL ? s->hash : next_hash(fx),
		.blob_key_id = 7,
		.headers = {
			.envelope = "(NIL \"subject\" NIL NIL NIL NIL NIL NIL NIL NIL)",
			.bodystructure = "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1)",
			.subject = s->subject != NULL ? s->subject : "Hello",
			.base_subject = s->subject != NULL ? s->subject : "hello",
			.from = s->from != NULL ? s->from : "Alice Example <alice@example.org>",
			.to = s->to != NULL ? s->to : "Bob <bob@example.net>",
			.sort_from = "alice",
			.display_from = "Alice Example",
			.message_id = "<id@example.org>",
			.preview = "preview text",
			.sent_date = 1699999999,
		},
		.body_text = s->body,
	};
}

static uint32_t append_spec(struct fx *fx, int64_t mbox, const struct msg_spec *s,
			    uint64_t *modseq_r)
{
	struct store_message_new m;
	uint32_t uid = 0;
	uint64_t modseq = 0;

	msg_fill(fx, &m, s);
	OK(store_append(fx->st, mbox, &m, &uid, &modseq, E));
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return uid;
}

static uint32_t append_simple(struct fx *fx, int64_t mbox, uint32_t flags, uint64_t size)
{
	struct msg_spec s = { .flags = flags, .size = size };

	return append_spec(fx, mbox, &s, NULL);
}

static struct store_mailbox_status status_of(struct fx *fx, int64_t mbox)
{
	struct store_mailbox_status st;

	OK(store_mailbox_status(fx->st, mbox, &st, E));
	return st;
}

static struct store_account account_of(struct fx *fx, int64_t account)
{
	struct store_account a;

	OK(store_account_get(fx->st, account, fx->arena, &a, E));
	return a;
}

/* Collects fetch results into an arena array. */
struct collect {
	struct arena *arena;
	struct store_message *v;
	size_t n, cap;
	size_t stop_after; /* 0 = never */
};

static const char *dup0(struct arena *a, const char *s)
{
	return s == NULL ? NULL : arena_strdup(a, s);
}

static int collect_cb(const struct store_message *msg, void *ctx)
{
	struct collect *c = ctx;
	struct store_message *m;

	if (c->n == c->cap) {
		size_t cap = c->cap == 0 ? 64 : c->cap * 2;
		struct store_message *v = arena_alloc(c->arena, sizeof(*v) * cap);

		if (c->n > 0)
			memcpy(v, c->v, sizeof(*v) * c->n);
		c->v = v;
		c->cap = cap;
	}
	m = &c->v[c->n++];
	*m = *msg;
	m->keywords = dup0(c->arena, msg->keywords);
	m->content_hash = dup0(c->arena, msg->content_hash);
	m->headers.envelope = dup0(c->arena, msg->headers.envelope);
	m->headers.bodystructure = dup0(c->arena, msg->headers.bodystructure);
	m->headers.subject = dup0(c->arena, msg->headers.subject);
	m->headers.from = dup0(c->arena, msg->headers.from);
	m->headers.preview = dup0(c->arena, msg->headers.preview);
	m->headers.display_from = dup0(c->arena, msg->headers.display_from);
	if (msg->headers.parts != NULL) {
		void *p = arena_alloc(c->arena, msg->headers.parts_len);

		memcpy(p, msg->headers.parts, msg->headers.parts_len);
		m->headers.parts = p;
	}
	return c->stop_after != 0 && c->n >= c->stop_after;
}

static struct collect fetch_all(struct fx *fx, int64_t mbox, unsigned int fields)
{
	struct collect c = { .arena = fx->arena };

	OK(store_fetch(fx->st, mbox, NULL, 0, fields, 0, collect_cb, &c, E));
	return c;
}

static uint32_t *uid_list(struct fx *fx, int64_t mbox, size_t *n_r)
{
	struct store_mailbox_status st;
	uint32_t *uids = NULL, *copy;

	OK(store_mailbox_uids(fx->st, mbox, &uids, n_r, &st, E));
	copy = arena_alloc(fx->arena, sizeof(*copy) * (*n_r + 1));
	if (*n_r > 0)
		memcpy(copy, uids, sizeof(*copy) * *n_r);
	free(uids);
	return copy;
}

static void assert_uids(const uint32_t *got, size_t n, const uint32_t *want, size_t want_n)
{
	assert_int_equal(n, want_n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

/* ---- validation (no database) ----------------------------------------- */

static void test_address_rules(void **state)
{
	char out[STORE_ADDRESS_MAX + 1];
	struct store_error err;
	char longaddr[300];

	(void)state;
	assert_int_equal(store_address_normalize("Alice.Smith@Example.ORG", out, &err), 0);
	assert_string_equal(out, "alice.smith@example.org");
	assert_int_equal(store_address_normalize("user+tag@x.org", out, &err), 0);
	assert_true(store_address_strip_detail(out));
	assert_string_equal(out, "user@x.org");
	assert_false(store_address_strip_detail(out));
	memcpy(out, "+only@x.org", sizeof("+only@x.org"));
	assert_false(store_address_strip_detail(out));

	static const char *const bad[] = {
		"", "noat", "@x.org", "user@", "a@b@c", "sp ace@x.org", "ctl\x01@x.org",
		"bad\xff@x.org",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(store_address_normalize(bad[i], out, &err), -1);
		assert_int_equal(err.code, STORE_INVALID);
	}
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	longaddr[10] = '@';
	assert_int_equal(store_address_normalize(longaddr, out, &err), -1);
	assert_int_equal(store_address_normalize(NULL, out, &err), -1);
}

static void test_mailbox_name_rules(void **state)
{
	char out[STORE_MAILBOX_NAME_MAX + 1];
	char big[STORE_MAILBOX_NAME_MAX + 2];
	char deep[STORE_MAILBOX_DEPTH_MAX * 2 + 4];
	struct store_error err;
	size_t n = 0;

	(void)state;
	assert_int_equal(store_mailbox_name_normalize("inbox", out, &err), 0);
	assert_string_equal(out, "INBOX");
	assert_true(store_mailbox_name_is_inbox(out));
	assert_int_equal(store_mailbox_name_normalize("InBoX/Sub", out, &err), 0);
	assert_string_equal(out, "INBOX/Sub");
	assert_int_equal(store_mailbox_name_normalize("Inboxes", out, &err), 0);
	assert_string_equal(out, "Inboxes");
	assert_int_equal(store_mailbox_name_normalize("Donn\xc3\xa9" "es/\xe6\x97\xa5\xe6\x9c\xac/"
						      "\xf0\x9f\x93\xa7",
						      out, &err),
			 0);

	static const char *const bad[] = {
		"",             "/a",        "a/",           "a//b",      "a\x01",
		"a\x7f",        "\xc2\x85",  "\xff",         "\xc0\xaf",  "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xe2\x82", "a*b",       "a%b",       "a\tb",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err.code = STORE_OK;
		if (store_mailbox_name_normalize(bad[i], out, &err) != -1)
			fail_msg("accepted bad name #%zu", i);
		assert_int_equal(err.code, STORE_INVALID);
	}
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_mailbox_name_normalize(big, out, &err), -1);
	for (int i = 0; i <= STORE_MAILBOX_DEPTH_MAX; i++) {
		deep[n++] = 'd';
		deep[n++] = '/';
	}
	deep[n - 1] = '\0';
	assert_int_equal(store_mailbox_name_normalize(deep, out, &err), -1);
	assert_int_equal(err.code, STORE_INVALID);
}

/* ---- schema ----------------------------------------------------------- */

static void test_migrations(void **state)
{
	struct fx *fx = *state;
	unsigned int version = 0, latest = 0, applied = 99;

	OK(store_migrate_version(fx->st, &version, &latest, E));
	assert_true(latest >= 1);
	assert_int_equal(version, latest);
	OK(store_migrate_up(fx->st, &applied, E));
	assert_int_equal(applied, 0);
	assert_string_equal(store_driver_name(fx->st), test_driver());

	if (is_sqlite()) {
		/* a database opened without migrating reports 0, then migrates */
		struct store_settings set = fx->set;
		char path[160];
		struct store *st2 = NULL;

		assert_true(snprintf(path, sizeof(path), "%s/fresh.db",
				     fx->dir) < (int)sizeof(path));
		set.path = path;
		set.skip_migrations = true;
		OK(store_open(&set, &st2, E));
		OK(store_migrate_version(st2, &version, &latest, E));
		assert_int_equal(version, 0);
		OK(store_migrate_up(st2, &applied, E));
		assert_int_equal(applied, latest);
		OK(store_migrate_version(st2, &version, NULL, E));
		assert_int_equal(version, latest);
		store_close(&st2);
	}
	fx_reopen(fx);
	OK(store_migrate_version(fx->st, &version, NULL, E));
	assert_int_equal(version, latest);
}

static void test_open_errors(void **state)
{
	struct fx *fx = *state;
	struct store_settings set = { .driver = "nosuch", .path = "/nonexistent" };
	struct store *st = NULL;

	FAILS(store_open(&set, &st, E), STORE_INVALID);
	assert_null(st);
	if (is_sqlite()) {
		set.driver = "sqlite";
		set.path = "/nonexistent-dir/x/sora.db";
		assert_int_equal(store_open(&set, &st, E), -1);
		assert_null(st);
	}
}

/* ---- accounts and credentials ----------------------------------------- */

static void test_account_defaults(void **state)
{
	static const struct {
		const char *name;
		unsigned int special_use;
	} want[] = {
		{ "INBOX", 0 },
		{ "Archive", STORE_SPECIAL_ARCHIVE },
		{ "Drafts", STORE_SPECIAL_DRAFTS },
		{ "Junk", STORE_SPECIAL_JUNK },
		{ "Sent", STORE_SPECIAL_SENT },
		{ "Trash", STORE_SPECIAL_TRASH },
	};
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "alice");
	struct store_mailbox *list;
	struct store_account a = account_of(fx, acc);
	const char **subs;
	size_t n, nsubs;

	assert_int_equal(a.id, acc);
	assert_string_equal(a.primary_address, addr(fx, "alice"));
	assert_int_equal(a.deleted_at, 0);
	assert_true(a.created_at > 0);
	assert_int_equal(a.message_count, 0);
	assert_int_equal(a.total_bytes, 0);

	OK(store_mailbox_list(fx->st, acc, fx->arena, &list, &n, E));
	assert_int_equal(n, ARRAY_SIZE(want));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(list[i].name, want[i].name);
		assert_int_equal(list[i].special_use, want[i].special_use);
		assert_true(list[i].is_subscribed);
		assert_false(list[i].is_noselect);
		assert_int_equal(list[i].uidnext, 1);
		assert_int_equal(list[i].highest_modseq, 1);
		assert_true(list[i].uidvalidity > 0);
		assert_int_equal(list[i].account_id, acc);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(list[i].uidvalidity, list[j].uidvalidity);
	}
	OK(store_subscription_list(fx->st, acc, fx->arena, &subs, &nsubs, E));
	assert_int_equal(nsubs, ARRAY_SIZE(want));
}

static void test_credentials(void **state)
{
	struct fx *fx = *state;
	int64_t alice = new_account(fx, "alice"), bob = new_account(fx, "bob"), found = 0;
	const char *alias = addr(fx, "ali");
	struct store_credential cred, *creds;
	char *upper, *detail;
	size_t n;

	/* an address belongs to one account, whatever its case */
	upper = arena_strdup(fx->arena, addr(fx, "alice"));
	for (char *p = upper; *p != '\0'; p++)
		*p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
	FAILS(store_account_create(fx->st, upper, "{PLAIN}x", NULL, E), STORE_EXISTS);
	FAILS(store_credential_add(fx->st, bob, upper, "{PLAIN}x", false, E), STORE_EXISTS);

	OK(store_credential_lookup(fx->st, upper, fx->arena, &cred, E));
	assert_int_equal(cred.account_id, alice);
	assert_string_equal(cred.address, addr(fx, "alice"));
	assert_string_equal(cred.password_hash, "{PLAIN}secret");
	assert_true(cred.is_primary);

	/* user+detail@domain finds user@domain */
	detail = arena_printf(fx->arena, "alice.%s+news@example.org", fx->tag);
	OK(store_credential_lookup(fx->st, detail, fx->arena, &cred, E));
	assert_int_equal(cred.account_id, alice);
	OK(store_account_find(fx->st, detail, false, &found, E));
	assert_int_equal(found, alice);
	/* ... unless the address with the detail exists itself */
	OK(store_credential_add(fx->st, bob, detail, "{PLAIN}bob", false, E));
	OK(store_credential_lookup(fx->st, detail, fx->arena, &cred, E));
	assert_int_equal(cred.account_id, bob);

	FAILS(store_credential_lookup(fx->st, addr(fx, "nobody"), fx->arena, &cred, E),
	      STORE_NOT_FOUND);
	FAILS(store_credential_lookup(fx->st, "not an address", fx->arena, &cred, E),
	      STORE_INVALID);
	FAILS(store_account_create(fx->st, addr(fx, "carol"), "", NULL, E), STORE_INVALID);
	FAILS(store_account_create(fx->st, addr(fx, "carol"), "x\ny", NULL, E), STORE_INVALID);

	/* secondary address, then made primary */
	OK(store_credential_add(fx->st, alice, alias, "{PLAIN}alias", false, E));
	OK(store_credential_list(fx->st, alice, fx->arena, &creds, &n, E));
	assert_int_equal(n, 2);
	assert_string_equal(creds[0].address, addr(fx, "alice"));
	assert_true(creds[0].is_primary);
	assert_false(creds[1].is_primary);
	OK(store_credential_set_primary(fx->st, alias, E));
	OK(store_credential_list(fx->st, alice, fx->arena, &creds, &n, E));
	assert_string_equal(creds[0].address, alias);
	assert_true(creds[0].is_primary);
	assert_false(creds[1].is_primary);
	assert_string_equal(account_of(fx, alice).primary_address, alias);

	/* the primary cannot go; a secondary can */
	FAILS(store_credential_delete(fx->st, alias, E), STORE_INVALID);
	OK(store_credential_delete(fx->st, addr(fx, "alice"), E));
	FAILS(store_credential_delete(fx->st, addr(fx, "alice"), E), STORE_NOT_FOUND);
	FAILS(store_credential_lookup(fx->st, addr(fx, "alice"), fx->arena, &cred, E),
	      STORE_NOT_FOUND);

	/* make_primary on add moves the primary flag */
	OK(store_credential_add(fx->st, alice, addr(fx, "alice2"), "{PLAIN}2", true, E));
	OK(store_credential_list(fx->st, alice, fx->arena, &creds, &n, E));
	assert_int_equal(n, 2);
	assert_string_equal(creds[0].address, addr(fx, "alice2"));
	assert_true(creds[0].is_primary);
	assert_false(creds[1].is_primary);

	OK(store_credential_set_password(fx->st, alias, "{PLAIN}new", E));
	OK(store_credential_lookup(fx->st, alias, fx->arena, &cred, E));
	assert_string_equal(cred.password_hash, "{PLAIN}new");
	FAILS(store_credential_set_password(fx->st, addr(fx, "nobody"), "{PLAIN}x", E),
	      STORE_NOT_FOUND);
	FAILS(store_credential_set_primary(fx->st, addr(fx, "nobody"), E), STORE_NOT_FOUND);
	FAILS(store_credential_add(fx->st, 999999999, addr(fx, "x"), "{PLAIN}x", false, E),
	      STORE_NOT_FOUND);
	FAILS(store_credential_list(fx->st, 999999999, fx->arena, &creds, &n, E), STORE_NOT_FOUND);
	FAILS(store_account_get(fx->st, 999999999, fx->arena, &(struct store_account){ 0 }, E),
	      STORE_NOT_FOUND);
	FAILS(store_account_get(fx->st, 0, fx->arena, &(struct store_account){ 0 }, E),
	      STORE_INVALID);
}

/* The primary address names the blob keys of an account's mail: once the
   account holds mail, the primary cannot move (a new secondary still can
   be added, and a mail-less account may switch). */
static void test_primary_pinned_by_mail(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "pinned");
	const char *alias = addr(fx, "pinned-alias");

	OK(store_credential_add(fx->st, acc, alias, "{PLAIN}a", false, E));
	append_simple(fx, mailbox_id(fx, acc, "INBOX"), 0, 100);
	FAILS(store_credential_set_primary(fx->st, alias, E), STORE_INVALID);
	FAILS(store_credential_add(fx->st, acc, addr(fx, "pinned2"), "{PLAIN}b", true, E),
	      STORE_INVALID);
	/* setting the primary that already is primary is no change */
	OK(store_credential_set_primary(fx->st, addr(fx, "pinned"), E));
	OK(store_credential_add(fx->st, acc, addr(fx, "pinned3"), "{PLAIN}c", false, E));
	assert_string_equal(account_of(fx, acc).primary_address, addr(fx, "pinned"));
}

/* Schema version 2: per-account QUOTA limits, and the part offsets of a
   content (NULL when not given, as for mail stored before). */
static void test_parts_and_quota(void **state)
{
	static const unsigned char parts[] = { 'M', 1, 0, 0, 0, 10, 20, 0, 0, 0, 0, 0, 7, 0 };
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "quinn"), inbox = mailbox_id(fx, acc, "INBOX");
	struct store_message_new m;
	struct store_account a;
	struct collect c;

	a = account_of(fx, acc);
	assert_int_equal(a.quota_storage, 0);
	assert_int_equal(a.quota_messages, 0);
	OK(store_account_set_quota(fx->st, acc, 5000000, 0, E));
	a = account_of(fx, acc);
	assert_int_equal(a.quota_storage, 5000000);
	assert_int_equal(a.quota_messages, 0);
	OK(store_account_set_quota(fx->st, acc, 0, 42, E));
	a = account_of(fx, acc);
	assert_int_equal(a.quota_storage, 0);
	assert_int_equal(a.quota_messages, 42);
	FAILS(store_account_set_quota(fx->st, 999999999, 1, 1, E), STORE_NOT_FOUND);
	FAILS(store_account_set_quota(fx->st, acc, (uint64_t)INT64_MAX + 1, 1, E),
	      STORE_INVALID);

	msg_fill(fx, &m, &(struct msg_spec){ 0 });
	m.headers.parts = parts;
	m.headers.parts_len = sizeof(parts);
	OK(store_append(fx->st, inbox, &m, NULL, NULL, E));
	append_simple(fx, inbox, 0, 100); /* no parts */
	c = fetch_all(fx, inbox, STORE_FETCH_PARTS | STORE_FETCH_BLOB);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.v[0].headers.parts_len, sizeof(parts));
	assert_memory_equal(c.v[0].headers.parts, parts, sizeof(parts));
	assert_null(c.v[1].headers.parts);
	assert_int_equal(c.v[1].headers.parts_len, 0);
	/* not asked for: not read */
	c = fetch_all(fx, inbox, STORE_FETCH_SIZE);
	assert_null(c.v[0].headers.parts);
}

static void test_account_delete_restore(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "dora"), other = new_account(fx, "eve"), found = 0;
	int64_t inbox = mailbox_id(fx, acc, "INBOX");
	struct store_credential cred;
	struct store_account *list;
	size_t n;
	bool seen_deleted = false;

	append_simple(fx, inbox, 0, 500);
	OK(store_account_delete(fx->st, acc, E));
	FAILS(store_account_delete(fx->st, acc, E), STORE_NOT_FOUND);
	FAILS(store_credential_lookup(fx->st, addr(fx, "dora"), fx->arena, &cred, E),
	      STORE_NOT_FOUND);
	FAILS(store_account_find(fx->st, addr(fx, "dora"), false, &found, E), STORE_NOT_FOUND);
	OK(store_account_find(fx->st, addr(fx, "dora"), true, &found, E));
	assert_int_equal(found, acc);
	assert_true(account_of(fx, acc).deleted_at > 0);
	/* the address stays taken while the account may come back */
	FAILS(store_account_create(fx->st, addr(fx, "dora"), "{PLAIN}x", NULL, E), STORE_EXISTS);
	/* a deleted account receives nothing */
	FAILS(store_mailbox_create(fx->st, acc, "New", 0, NULL, E), STORE_NOT_FOUND);
	{
		struct store_message_new m;

		msg_fill(fx, &m, &(struct msg_spec){ 0 });
		FAILS(store_append(fx->st, inbox, &m, NULL, NULL, E), STORE_NOT_FOUND);
	}

	OK(store_account_list(fx->st, false, fx->arena, &list, &n, E));
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(list[i].id, acc);
	OK(store_account_list(fx->st, true, fx->arena, &list, &n, E));
	for (size_t i = 0; i < n; i++) {
		if (list[i].id == acc) {
			seen_deleted = true;
			assert_true(list[i].deleted_at > 0);
		}
		if (i > 0)
			assert_true(list[i].id > list[i - 1].id);
	}
	assert_true(seen_deleted);

	OK(store_account_restore(fx->st, acc, E));
	FAILS(store_account_restore(fx->st, acc, E), STORE_INVALID);
	FAILS(store_account_restore(fx->st, 999999999, E), STORE_NOT_FOUND);
	OK(store_credential_lookup(fx->st, addr(fx, "dora"), fx->arena, &cred, E));
	assert_int_equal(cred.account_id, acc);
	assert_int_equal(account_of(fx, acc).deleted_at, 0);
	assert_int_equal(account_of(fx, acc).message_count, 1);
	assert_int_equal(status_of(fx, inbox).messages, 1);
	assert_int_equal(account_of(fx, other).deleted_at, 0);
}

/* ---- mailboxes -------------------------------------------------------- */

static void test_mailbox_create(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "mb"), id = 0, other = new_account(fx, "mb2");
	struct store_mailbox mb, *list;
	size_t n;

	OK(store_mailbox_create(fx->st, acc, "Work/Projects/2024", 0, &id, E));
	OK(store_mailbox_get(fx->st, acc, "Work/Projects/2024", fx->arena, &mb, E));
	assert_int_equal(mb.id, id);
	assert_int_equal(mb.uidnext, 1);
	assert_int_equal(mb.highest_modseq, 1);
	assert_false(mb.is_subscribed);
	OK(store_mailbox_get(fx->st, acc, "Work", fx->arena, &mb, E));
	OK(store_mailbox_get(fx->st, acc, "Work/Projects", fx->arena, &mb, E));
	assert_false(mb.is_noselect);
	OK(store_mailbox_get_by_id(fx->st, id, fx->arena, &mb, E));
	assert_string_equal(mb.name, "Work/Projects/2024");

	FAILS(store_mailbox_create(fx->st, acc, "Work/Projects", 0, NULL, E), STORE_EXISTS);
	FAILS(store_mailbox_create(fx->st, acc, "inbox", 0, NULL, E), STORE_EXISTS);
	FAILS(store_mailbox_create(fx->st, acc, "bad\xff", 0, NULL, E), STORE_INVALID);
	FAILS(store_mailbox_create(fx->st, acc, "a//b", 0, NULL, E), STORE_INVALID);
	FAILS(store_mailbox_create(fx->st, acc, "x", 1u << 20, NULL, E), STORE_INVALID);
	FAILS(store_mailbox_get(fx->st, acc, "Nope", fx->arena, &mb, E), STORE_NOT_FOUND);
	FAILS(store_mailbox_get_by_id(fx->st, 999999999, fx->arena, &mb, E), STORE_NOT_FOUND);
	FAILS(store_mailbox_create(fx->st, 999999999, "x", 0, NULL, E), STORE_NOT_FOUND);
	/* names are per account */
	OK(store_mailbox_create(fx->st, other, "Work", 0, NULL, E));

	/* INBOX in any case; other names are case-sensitive */
	OK(store_mailbox_get(fx->st, acc, "iNbOx", fx->arena, &mb, E));
	assert_string_equal(mb.name, "INBOX");
	OK(store_mailbox_create(fx->st, acc, "work", 0, NULL, E));
	OK(store_mailbox_create(fx->st, acc, "inbox/Sub", 0, NULL, E));
	OK(store_mailbox_get(fx->st, acc, "INBOX/Sub", fx->arena, &mb, E));

	/* special-use: one mailbox per attribute (RFC 6154 USEATTR) */
	FAILS(store_mailbox_create(fx->st, acc, "Sent2", STORE_SPECIAL_SENT, NULL, E),
	      STORE_INVALID);
	OK(store_mailbox_create(fx->st, acc, "Flagged", STORE_SPECIAL_FLAGGED, &id, E));
	OK(store_mailbox_get(fx->st, acc, "Flagged", fx->arena, &mb, E));
	assert_int_equal(mb.special_use, STORE_SPECIAL_FLAGGED);
	FAILS(store_mailbox_set_special_use(fx->st, id, STORE_SPECIAL_TRASH, E), STORE_INVALID);
	OK(store_mailbox_set_special_use(fx->st, id, STORE_SPECIAL_ALL | STORE_SPECIAL_FLAGGED, E));
	OK(store_mailbox_set_special_use(fx->st, mailbox_id(fx, acc, "Trash"), 0, E));
	OK(store_mailbox_set_special_use(fx->st, id, STORE_SPECIAL_TRASH, E));

	/* tree order: INBOX subtree, then each parent before its children */
	OK(store_mailbox_create(fx->st, acc, "Work Stuff", 0, NULL, E));
	OK(store_mailbox_list(fx->st, acc, fx->arena, &list, &n, E));
	static const char *const order[] = {
		"INBOX", "INBOX/Sub", "Archive", "Drafts", "Flagged", "Junk", "Sent", "Trash",
		"Work", "Work/Projects", "Work/Projects/2024", "Work Stuff", "work",
	};
	assert_int_equal(n, ARRAY_SIZE(order));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(list[i].name, order[i]);
}

static void test_mailbox_delete(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "del"), parent, child, leaf;
	struct store_mailbox mb;
	struct store_mailbox_status st;
	struct store_message_new m;
	uint32_t old_validity;
	const char **subs;
	size_t nsubs;

	FAILS(store_mailbox_delete(fx->st, acc, "INBOX", E), STORE_INVALID);
	FAILS(store_mailbox_delete(fx->st, acc, "inbox", E), STORE_INVALID);
	FAILS(store_mailbox_delete(fx->st, acc, "Missing", E), STORE_NOT_FOUND);

	OK(store_mailbox_create(fx->st, acc, "P/C", 0, &child, E));
	parent = mailbox_id(fx, acc, "P");
	OK(store_mailbox_create(fx->st, acc, "Leaf", 0, &leaf, E));
	OK(store_subscription_set(fx->st, acc, "Leaf", true, E));
	append_simple(fx, leaf, 0, 100);
	append_simple(fx, parent, 0, 200);
	append_simple(fx, parent, STORE_FLAG_SEEN, 300);
	append_simple(fx, child, 0, 400);
	assert_int_equal(account_of(fx, acc).message_count, 4);
	assert_int_equal(account_of(fx, acc).total_bytes, 1000);

	OK(store_mailbox_delete(fx->st, acc, "Leaf", E));
	FAILS(store_mailbox_get(fx->st, acc, "Leaf", fx->arena, &mb, E), STORE_NOT_FOUND);
	assert_int_equal(account_of(fx, acc).message_count, 3);
	assert_int_equal(account_of(fx, acc).total_bytes, 900);
	/* RFC 9051: subscriptions survive the mailbox */
	OK(store_subscription_list(fx->st, acc, fx->arena, &subs, &nsubs, E));
	bool found = false;
	for (size_t i = 0; i < nsubs; i++)
		found |= strcmp(subs[i], "Leaf") == 0;
	assert_true(found);

	/* a parent loses its messages and becomes \Noselect */
	OK(store_mailbox_get(fx->st, acc, "P", fx->arena, &mb, E));
	old_validity = mb.uidvalidity;
	OK(store_mailbox_delete(fx->st, acc, "P", E));
	OK(store_mailbox_get(fx->st, acc, "P", fx->arena, &mb, E));
	assert_true(mb.is_noselect);
	st = status_of(fx, parent);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.size, 0);
	assert_int_equal(account_of(fx, acc).message_count, 1);
	assert_int_equal(account_of(fx, acc).total_bytes, 400);
	msg_fill(fx, &m, &(struct msg_spec){ 0 });
	FAILS(store_append(fx->st, parent, &m, NULL, NULL, E), STORE_INVALID);
	FAILS(store_mailbox_delete(fx->st, acc, "P", E), STORE_INVALID);

	/* once the child is gone, the \Noselect parent can go too */
	OK(store_mailbox_delete(fx->st, acc, "P/C", E));
	assert_int_equal(account_of(fx, acc).message_count, 0);
	OK(store_mailbox_get(fx->st, acc, "P", fx->arena, &mb, E));
	assert_true(mb.is_noselect);
	OK(store_mailbox_delete(fx->st, acc, "P", E));
	FAILS(store_mailbox_get(fx->st, acc, "P", fx->arena, &mb, E), STORE_NOT_FOUND);

	/* a re-created name starts afresh */
	OK(store_mailbox_create(fx->st, acc, "P", 0, &parent, E));
	OK(store_mailbox_get(fx->st, acc, "P", fx->arena, &mb, E));
	assert_int_not_equal(mb.uidvalidity, old_validity);
	assert_int_equal(mb.uidnext, 1);
	assert_int_equal(status_of(fx, parent).messages, 0);

	/* creating a \Noselect name makes it a mailbox again */
	OK(store_mailbox_create(fx->st, acc, "Q/R", 0, NULL, E));
	OK(store_mailbox_get(fx->st, acc, "Q", fx->arena, &mb, E));
	old_validity = mb.uidvalidity;
	OK(store_mailbox_delete(fx->st, acc, "Q", E));
	OK(store_mailbox_create(fx->st, acc, "Q", 0, NULL, E));
	OK(store_mailbox_get(fx->st, acc, "Q", fx->arena, &mb, E));
	assert_false(mb.is_noselect);
	assert_int_not_equal(mb.uidvalidity, old_validity);
	FAILS(store_mailbox_create(fx->st, acc, "Q", 0, NULL, E), STORE_EXISTS);
}

static void test_mailbox_rename(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "ren"), a, ab, abc, other;
	struct store_mailbox mb, before;
	struct store_mailbox *list;
	const char **subs;
	size_t n, nsubs;

	OK(store_mailbox_create(fx->st, acc, "A/B/C", 0, &abc, E));
	a = mailbox_id(fx, acc, "A");
	ab = mailbox_id(fx, acc, "A/B");
	OK(store_mailbox_create(fx->st, acc, "AB", 0, &other, E));
	OK(store_subscription_set(fx->st, acc, "A/B", true, E));
	append_simple(fx, ab, STORE_FLAG_SEEN, 10);
	append_simple(fx, abc, 0, 20);
	OK(store_mailbox_get(fx->st, acc, "A/B", fx->arena, &before, E));

	FAILS(store_mailbox_rename(fx->st, acc, "Missing", "Z", E), STORE_NOT_FOUND);
	FAILS(store_mailbox_rename(fx->st, acc, "A", "AB", E), STORE_EXISTS);
	FAILS(store_mailbox_rename(fx->st, acc, "A", "Trash", E), STORE_EXISTS);
	FAILS(store_mailbox_rename(fx->st, acc, "A", "A/B/X", E), STORE_INVALID);
	FAILS(store_mailbox_rename(fx->st, acc, "A", "A", E), STORE_EXISTS);
	FAILS(store_mailbox_rename(fx->st, acc, "A", "Sent", E), STORE_EXISTS);
	FAILS(store_mailbox_rename(fx->st, acc, "A", "INBOX", E), STORE_EXISTS);
	FAILS(store_mailbox_rename(fx->st, acc, "A", "bad\xc0", E), STORE_INVALID);

	OK(store_mailbox_rename(fx->st, acc, "A", "X/Y", E));
	FAILS(store_mailbox_get(fx->st, acc, "A", fx->arena, &mb, E), STORE_NOT_FOUND);
	FAILS(store_mailbox_get(fx->st, acc, "A/B", fx->arena, &mb, E), STORE_NOT_FOUND);
	OK(store_mailbox_get(fx->st, acc, "X", fx->arena, &mb, E)); /* created parent */
	OK(store_mailbox_get(fx->st, acc, "X/Y", fx->arena, &mb, E));
	assert_int_equal(mb.id, a);
	OK(store_mailbox_get(fx->st, acc, "X/Y/B", fx->arena, &mb, E));
	assert_int_equal(mb.id, ab);
	assert_int_equal(mb.uidvalidity, before.uidvalidity); /* UIDs stay valid */
	assert_int_equal(mb.uidnext, before.uidnext);
	assert_true(mb.is_subscribed);
	OK(store_mailbox_get(fx->st, acc, "X/Y/B/C", fx->arena, &mb, E));
	assert_int_equal(mb.id, abc);
	assert_int_equal(status_of(fx, ab).messages, 1);
	assert_int_equal(status_of(fx, abc).messages, 1);
	OK(store_mailbox_get(fx->st, acc, "AB", fx->arena, &mb, E)); /* not a child of A */
	OK(store_subscription_list(fx->st, acc, fx->arena, &subs, &nsubs, E));
	for (size_t i = 0; i < nsubs; i++)
		assert_string_not_equal(subs[i], "A/B");
	assert_int_equal(account_of(fx, acc).message_count, 2);

	/* multi-byte names: the prefix is cut by characters, not bytes */
	OK(store_mailbox_create(fx->st, acc, "\xc3\x89t\xc3\xa9/Ao\xc3\xbbt", 0, NULL, E));
	OK(store_mailbox_rename(fx->st, acc, "\xc3\x89t\xc3\xa9", "Summer", E));
	OK(store_mailbox_get(fx->st, acc, "Summer/Ao\xc3\xbbt", fx->arena, &mb, E));
	OK(store_mailbox_rename(fx->st, acc, "Summer", "\xe5\xa4\x8f", E));
	OK(store_mailbox_get(fx->st, acc, "\xe5\xa4\x8f/Ao\xc3\xbbt", fx->arena, &mb, E));

	/* renaming a child only */
	OK(store_mailbox_rename(fx->st, acc, "X/Y/B/C", "C", E));
	OK(store_mailbox_get(fx->st, acc, "C", fx->arena, &mb, E));
	assert_int_equal(mb.id, abc);
	OK(store_mailbox_list(fx->st, acc, fx->arena, &list, &n, E));
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(list[i].name, "X/Y/B/C");
}

static void test_inbox_rename(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "inboxren"), inbox, old;
	static const char *const kw[] = { "$Important" };
	struct store_mailbox before, after, mb;
	struct store_flags_result *changed;
	struct collect c;
	uint32_t *vanished;
	size_t nchanged, nvanished;

	inbox = mailbox_id(fx, acc, "INBOX");
	OK(store_mailbox_create(fx->st, acc, "INBOX/Sub", 0, NULL, E));
	append_simple(fx, inbox, STORE_FLAG_SEEN, 100);
	append_spec(fx, inbox, &(struct msg_spec){ .keywords = kw, .keyword_count = 1,
						  .size = 200 },
		    NULL);
	append_simple(fx, inbox, STORE_FLAG_FLAGGED, 300);
	OK(store_mailbox_get(fx->st, acc, "INBOX", fx->arena, &before, E));

	OK(store_mailbox_rename(fx->st, acc, "inbox", "Old Inbox", E));
	OK(store_mailbox_get(fx->st, acc, "Old Inbox", fx->arena, &mb, E));
	old = mb.id;
	assert_int_not_equal(old, inbox);
	c = fetch_all(fx, old, STORE_FETCH_KEYWORDS | STORE_FETCH_SIZE);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.v[0].flags, STORE_FLAG_SEEN);
	assert_string_equal(c.v[1].keywords, "$Important");
	assert_int_equal(c.v[2].flags, STORE_FLAG_FLAGGED);
	assert_int_equal(c.v[2].size, 300);

	/* INBOX stays, empty, same UIDVALIDITY, UIDs not reused */
	OK(store_mailbox_get(fx->st, acc, "INBOX", fx->arena, &after, E));
	assert_int_equal(after.id, inbox);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.uidnext, before.uidnext);
	assert_true(after.highest_modseq > before.highest_modseq);
	assert_int_equal(status_of(fx, inbox).messages, 0);
	OK(store_changes_since(fx->st, inbox, before.highest_modseq, fx->arena, &changed, &nchanged,
			       &vanished, &nvanished, E));
	assert_int_equal(nchanged, 0);
	assert_uids(vanished, nvanished, (uint32_t[]){ 1, 2, 3 }, 3);
	/* its children stay where they are */
	OK(store_mailbox_get(fx->st, acc, "INBOX/Sub", fx->arena, &mb, E));
	assert_int_equal(account_of(fx, acc).message_count, 3);
	assert_int_equal(account_of(fx, acc).total_bytes, 600);
	FAILS(store_mailbox_rename(fx->st, acc, "INBOX", "Old Inbox", E), STORE_EXISTS);
	assert_int_equal(append_simple(fx, inbox, 0, 1), 4);
}

static void test_subscriptions(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "subs");
	const char **subs;
	size_t n;

	OK(store_subscription_set(fx->st, acc, "Does/Not/Exist", true, E));
	OK(store_subscription_set(fx->st, acc, "Does/Not/Exist", true, E));
	OK(store_subscription_set(fx->st, acc, "Trash", false, E));
	OK(store_subscription_set(fx->st, acc, "Trash", false, E));
	OK(store_subscription_set(fx->st, acc, "inbox", false, E));
	OK(store_subscription_list(fx->st, acc, fx->arena, &subs, &n, E));
	static const char *const want[] = { "Archive", "Does/Not/Exist", "Drafts", "Junk", "Sent" };
	assert_int_equal(n, ARRAY_SIZE(want));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(subs[i], want[i]);
	FAILS(store_subscription_set(fx->st, acc, "a//b", true, E), STORE_INVALID);
	FAILS(store_subscription_set(fx->st, 999999999, "x", true, E), STORE_NOT_FOUND);
}

/* ---- messages --------------------------------------------------------- */

static void test_append(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "app"), inbox, sent;
	static const char *const kw1[] = { "$Label1", "NonJunk", "$label1" };
	static const char *const kw2[] = { "$LABEL1", "$Forwarded" };
	static const char *const badkw[] = { "\\Seen" };
	static const char *const badkw2[] = { "a b" };
	struct store_mailbox mb;
	struct store_mailbox_status st;
	struct store_message_new m;
	const char **kws;
	struct collect c;
	uint64_t ms1, ms2, ms3;
	const char *hash;
	size_t n;

	inbox = mailbox_id(fx, acc, "INBOX");
	sent = mailbox_id(fx, acc, "Sent");
	OK(store_mailbox_get(fx->st, acc, "INBOX", fx->arena, &mb, E));

	assert_int_equal(append_spec(fx, inbox,
				     &(struct msg_spec){ .keywords = kw1, .keyword_count = 3,
							 .size = 111 },
				     &ms1),
			 1);
	assert_int_equal(append_spec(fx, inbox,
				     &(struct msg_spec){ .flags = STORE_FLAG_SEEN, .keywords = kw2,
							 .keyword_count = 2, .size = 222 },
				     &ms2),
			 2);
	hash = next_hash(fx);
	assert_int_equal(append_spec(fx, inbox,
				     &(struct msg_spec){ .flags = STORE_FLAG_DELETED |
								  STORE_FLAG_SEEN,
							 .size = 333, .hash = hash },
				     &ms3),
			 3);
	assert_true(ms1 > mb.highest_modseq && ms2 > ms1 && ms3 > ms2);

	st = status_of(fx, inbox);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.first_unseen_uid, 1);
	assert_int_equal(st.uidnext, 4);
	assert_int_equal(st.uidvalidity, mb.uidvalidity);
	assert_int_equal(st.highest_modseq, ms3);
	assert_int_equal(st.size, 666);

	/* keywords: deduplicated, sorted, first spelling wins per mailbox */
	c = fetch_all(fx, inbox, STORE_FETCH_ALL);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0].keywords, "$Label1 NonJunk");
	assert_string_equal(c.v[1].keywords, "$Forwarded $Label1");
	assert_string_equal(c.v[2].keywords, "");
	OK(store_mailbox_keywords(fx->st, inbox, fx->arena, &kws, &n, E));
	assert_int_equal(n, 3);
	assert_string_equal(kws[0], "$Forwarded");
	assert_string_equal(kws[1], "$Label1");
	assert_string_equal(kws[2], "NonJunk");

	/* everything stored comes back */
	assert_int_equal(c.v[2].uid, 3);
	assert_int_equal(c.v[2].modseq, ms3);
	assert_int_equal(c.v[2].flags, STORE_FLAG_DELETED | STORE_FLAG_SEEN);
	assert_int_equal(c.v[2].size, 333);
	assert_int_equal(c.v[2].internal_date, 1700000000);
	assert_true(c.v[2].save_date > 0);
	assert_string_equal(c.v[2].content_hash, hash);
	assert_int_equal(c.v[2].blob_key_id, 7);
	assert_string_equal(c.v[2].headers.envelope,
			    "(NIL \"subject\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_string_equal(c.v[2].headers.bodystructure,
			    "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1)");
	assert_string_equal(c.v[2].headers.subject, "Hello");
	assert_string_equal(c.v[2].headers.display_from, "Alice Example");
	assert_string_equal(c.v[2].headers.preview, "preview text");
	assert_int_equal(c.v[2].headers.sent_date, 1699999999);
	assert_true(c.v[2].email_id > 0);
	assert_int_not_equal(c.v[0].email_id, c.v[1].email_id);

	/* the same content again shares its EMAILID; a new mailbox has its own UIDs */
	assert_int_equal(append_spec(fx, sent, &(struct msg_spec){ .hash = hash, .size = 333 },
				     NULL),
			 1);
	c = fetch_all(fx, sent, STORE_FETCH_BLOB);
	assert_int_equal(c.v[0].email_id, fetch_all(fx, inbox, 0).v[2].email_id);

	/* bad input */
	msg_fill(fx, &m, &(struct msg_spec){ .keywords = badkw, .keyword_count = 1 });
	FAILS(store_append(fx->st, inbox, &m, NULL, NULL, E), STORE_INVALID);
	msg_fill(fx, &m, &(struct msg_spec){ .keywords = badkw2, .keyword_count = 1 });
	FAILS(store_append(fx->st, inbox, &m, NULL, NULL, E), STORE_INVALID);
	msg_fill(fx, &m, &(struct msg_spec){ .flags = 1u << 9 });
	FAILS(store_append(fx->st, inbox, &m, NULL, NULL, E), STORE_INVALID);
	msg_fill(fx, &m, &(struct msg_spec){ .hash = "abc" });
	FAILS(store_append(fx->st, inbox, &m, NULL, NULL, E), STORE_INVALID);
	msg_fill(fx, &m, &(struct msg_spec){ 0 });
	FAILS(store_append(fx->st, 999999999, &m, NULL, NULL, E), STORE_NOT_FOUND);
	assert_int_equal(status_of(fx, inbox).messages, 3);
	assert_int_equal(status_of(fx, inbox).uidnext, 4);
	assert_int_equal(account_of(fx, acc).message_count, 4);
	assert_int_equal(account_of(fx, acc).total_bytes, 999);
}

static void test_append_batch(void **state)
{
	struct fx *fx = *state;
	int64_t a1 = new_account(fx, "b1"), a2 = new_account(fx, "b2");
	int64_t in1 = mailbox_id(fx, a1, "INBOX"), in2 = mailbox_id(fx, a2, "INBOX");
	struct store_message_new m[4];
	struct store_append items[4];
	struct store_mailbox mb;

	for (size_t i = 0; i < 4; i++)
		msg_fill(fx, &m[i], &(struct msg_spec){ .size = 10 * (i + 1) });
	append_simple(fx, in2, 0, 1);
	items[0] = (struct store_append){ .mailbox_id = in1, .msg = &m[0] };
	items[1] = (struct store_append){ .mailbox_id = in2, .msg = &m[1] };
	items[2] = (struct store_append){ .mailbox_id = in1, .msg = &m[2] };
	OK(store_append_batch(fx->st, items, 3, E));
	OK(store_mailbox_get(fx->st, a1, "INBOX", fx->arena, &mb, E));
	assert_int_equal(items[0].uid_r, 1);
	assert_int_equal(items[2].uid_r, 2);
	assert_int_equal(items[1].uid_r, 2);
	assert_int_equal(items[0].uidvalidity_r, mb.uidvalidity);
	assert_true(items[2].modseq_r > items[0].modseq_r);
	assert_int_equal(account_of(fx, a1).total_bytes, 40);
	assert_int_equal(account_of(fx, a2).total_bytes, 21);

	/* all or nothing */
	items[0] = (struct store_append){ .mailbox_id = in1, .msg = &m[3] };
	items[1] = (struct store_append){ .mailbox_id = in2, .msg = &m[3] };
	items[2] = (struct store_append){ .mailbox_id = 999999999, .msg = &m[3] };
	FAILS(store_append_batch(fx->st, items, 3, E), STORE_NOT_FOUND);
	assert_int_equal(status_of(fx, in1).messages, 2);
	assert_int_equal(status_of(fx, in1).uidnext, 3);
	assert_int_equal(status_of(fx, in2).messages, 2);
	assert_int_equal(account_of(fx, a1).total_bytes, 40);
	OK(store_append_batch(fx->st, items, 0, E));
}

#define WORKERS 4
#define PER_WORKER 250

struct worker {
	struct store *st;
	int64_t mbox;
	int index;
	uint32_t uids[PER_WORKER];
	uint64_t modseqs[PER_WORKER];
	int failures;
	char error[STORE_ERROR_MSG_MAX];
};

static void *append_worker(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_WORKER; i++) {
		char hash[65];
		struct store_message_new m = {
			.internal_date = 1700000000 + i,
			.size = 100,
			.content_hash = hash,
			.headers = { .subject = "concurrent" },
		};
		struct store_error err;
		struct store_mailbox_status st;

		if (snprintf(hash, sizeof(hash), "%032x%032x", (unsigned int)w->index + 1,
			     (unsigned int)i) != 64 ||
		    store_append(w->st, w->mbox, &m, &w->uids[i], &w->modseqs[i], &err) < 0 ||
		    store_mailbox_status(w->st, w->mbox, &st, &err) < 0) {
			w->failures++;
			memcpy(w->error, err.msg, sizeof(w->error));
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_concurrent_appends(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "conc"), inbox = mailbox_id(fx, acc, "INBOX");
	struct worker w[WORKERS];
	pthread_t t[WORKERS];
	uint64_t all_uids[WORKERS * PER_WORKER], all_modseqs[WORKERS * PER_WORKER];
	struct store_mailbox_status st;
	uint32_t *uids;
	size_t n;

	for (int i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .st = fx->st, .mbox = inbox, .index = i };
		assert_int_equal(pthread_create(&t[i], NULL, append_worker, &w[i]), 0);
	}
	for (int i = 0; i < WORKERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (w[i].failures != 0)
			fail_msg("worker %d: %d failures, last: %s", i, w[i].failures, w[i].error);
		for (int j = 0; j < PER_WORKER; j++) {
			all_uids[i * PER_WORKER + j] = w[i].uids[j];
			all_modseqs[i * PER_WORKER + j] = w[i].modseqs[j];
			/* monotonic within one thread */
			if (j > 0) {
				assert_true(w[i].uids[j] > w[i].uids[j - 1]);
				assert_true(w[i].modseqs[j] > w[i].modseqs[j - 1]);
			}
		}
	}
	qsort(all_uids, WORKERS * PER_WORKER, sizeof(uint64_t), cmp_u64);
	qsort(all_modseqs, WORKERS * PER_WORKER, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < WORKERS * PER_WORKER; i++) {
		assert_int_equal(all_uids[i], i + 1); /* no duplicates, no gaps */
		if (i > 0)
			assert_true(all_modseqs[i] > all_modseqs[i - 1]);
	}
	OK(store_mailbox_uids(fx->st, inbox, &uids, &n, &st, E));
	assert_int_equal(n, WORKERS * PER_WORKER);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(uids[i], i + 1);
	free(uids);
	assert_int_equal(st.messages, WORKERS * PER_WORKER);
	assert_int_equal(st.uidnext, WORKERS * PER_WORKER + 1);
	assert_int_equal(st.highest_modseq, all_modseqs[WORKERS * PER_WORKER - 1]);
	assert_int_equal(account_of(fx, acc).message_count, WORKERS * PER_WORKER);
	assert_int_equal(account_of(fx, acc).total_bytes, WORKERS * PER_WORKER * 100);
}

static void test_flags(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "flags"), inbox = mailbox_id(fx, acc, "INBOX");
	static const char *const work[] = { "Work" };
	static const char *const work_lc[] = { "work", "$Todo" };
	struct store_flags_result *res, *changed;
	struct store_uid_range all = { 1, UINT32_MAX }, two_four = { 2, 4 }, five = { 5, 5 };
	struct store_uid_range r[2] = { { 4, 5 }, { 1, 1 } };
	uint32_t *failed, *vanished;
	size_t n, nfailed, nchanged, nvanished;
	struct store_flags_update upd;
	uint64_t base, m1, m2;
	struct collect c;

	for (int i = 0; i < 5; i++)
		append_simple(fx, inbox, 0, 10);
	base = status_of(fx, inbox).highest_modseq;
	assert_int_equal(status_of(fx, inbox).unseen, 5);

	/* +FLAGS \Seen on 2:4: one new MODSEQ for all three */
	OK(store_flags_update(fx->st, inbox, &two_four, 1,
			      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							    .flags = STORE_FLAG_SEEN },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	assert_int_equal(n, 3);
	assert_int_equal(nfailed, 0);
	m1 = res[0].modseq;
	assert_int_equal(m1, base + 1);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(res[i].uid, i + 2);
		assert_int_equal(res[i].flags, STORE_FLAG_SEEN);
		assert_int_equal(res[i].modseq, m1);
		assert_true(res[i].changed);
	}
	assert_int_equal(status_of(fx, inbox).unseen, 2);
	assert_int_equal(status_of(fx, inbox).first_unseen_uid, 1);
	assert_int_equal(status_of(fx, inbox).highest_modseq, m1);

	/* again: nothing changes, MODSEQ kept */
	OK(store_flags_update(fx->st, inbox, &two_four, 1,
			      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							    .flags = STORE_FLAG_SEEN },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_false(res[i].changed);
		assert_int_equal(res[i].modseq, m1);
	}
	assert_int_equal(status_of(fx, inbox).highest_modseq, m1);

	/* keywords, in two ranges given out of order */
	OK(store_flags_update(fx->st, inbox, r, 2,
			      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							    .flags = STORE_FLAG_FLAGGED,
							    .keywords = work, .keyword_count = 1 },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	assert_int_equal(n, 3);
	assert_int_equal(res[0].uid, 1);
	assert_int_equal(res[1].uid, 4);
	assert_int_equal(res[2].uid, 5);
	assert_string_equal(res[1].keywords, "Work");
	assert_int_equal(res[1].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	m2 = res[0].modseq;
	assert_int_equal(m2, m1 + 1);
	upd = (struct store_flags_update){ .op = STORE_FLAGS_ADD, .keywords = work_lc,
					   .keyword_count = 2 };
	OK(store_flags_update(fx->st, inbox, &five, 1, &upd, fx->arena, &res, &n, &failed, &nfailed,
			      E));
	assert_string_equal(res[0].keywords, "$Todo Work");
	upd = (struct store_flags_update){ .op = STORE_FLAGS_REMOVE, .keywords = work_lc,
					   .keyword_count = 1 };
	OK(store_flags_update(fx->st, inbox, &five, 1, &upd, fx->arena, &res, &n, &failed, &nfailed,
			      E));
	assert_string_equal(res[0].keywords, "$Todo");

	/* UNCHANGEDSINCE (RFC 7162): 1 and 4 changed after m1, 2 and 3 did not */
	OK(store_flags_update(fx->st, inbox, &all, 1,
			      &(struct store_flags_update){ .op = STORE_FLAGS_REPLACE,
							    .flags = STORE_FLAG_DELETED,
							    .unchanged_since = m1 },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	assert_uids(failed, nfailed, (uint32_t[]){ 1, 4, 5 }, 3);
	assert_int_equal(n, 2);
	assert_int_equal(res[0].uid, 2);
	assert_int_equal(res[0].flags, STORE_FLAG_DELETED);
	assert_string_equal(res[0].keywords, "");
	assert_int_equal(res[1].uid, 3);
	assert_int_equal(status_of(fx, inbox).deleted, 2);
	assert_int_equal(status_of(fx, inbox).unseen, 4); /* 1, 2, 3, 5 */

	/* CONDSTORE: what changed since m1 */
	OK(store_changes_since(fx->st, inbox, m1, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_int_equal(nvanished, 0);
	assert_int_equal(nchanged, 5);
	OK(store_changes_since(fx->st, inbox, res[0].modseq - 1, fx->arena, &changed, &nchanged,
			       &vanished, &nvanished, E));
	assert_int_equal(nchanged, 2);
	assert_int_equal(changed[0].uid, 2);
	assert_int_equal(changed[0].flags, STORE_FLAG_DELETED);
	assert_int_equal(changed[1].uid, 3);
	OK(store_changes_since(fx->st, inbox, status_of(fx, inbox).highest_modseq, fx->arena,
			       &changed, &nchanged, &vanished, &nvanished, E));
	assert_int_equal(nchanged, 0);

	/* FETCH (CHANGEDSINCE) restricted to a UID set */
	c = (struct collect){ .arena = fx->arena };
	OK(store_fetch(fx->st, inbox, &two_four, 1, STORE_FETCH_KEYWORDS, m1, collect_cb, &c, E));
	assert_int_equal(c.n, 3);
	assert_int_equal(c.v[0].uid, 2);
	assert_int_equal(c.v[2].uid, 4);

	/* bad input */
	FAILS(store_flags_update(fx->st, inbox, &all, 1,
				 &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							       .flags = 1u << 12 },
				 fx->arena, &res, &n, &failed, &nfailed, E),
	      STORE_INVALID);
	FAILS(store_flags_update(fx->st, inbox, &(struct store_uid_range){ 5, 2 }, 1,
				 &(struct store_flags_update){ .op = STORE_FLAGS_ADD },
				 fx->arena, &res, &n, &failed, &nfailed, E),
	      STORE_INVALID);
	FAILS(store_flags_update(fx->st, 999999999, &all, 1,
				 &(struct store_flags_update){ .op = STORE_FLAGS_ADD },
				 fx->arena, &res, &n, &failed, &nfailed, E),
	      STORE_NOT_FOUND);
}

static void test_keyword_limits(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "kwl"), inbox = mailbox_id(fx, acc, "INBOX");
	const char *kw[STORE_KEYWORDS_PER_MESSAGE_MAX + 1];
	struct store_uid_range one = { 1, 1 };
	struct store_flags_result *res;
	uint32_t *failed;
	size_t n, nfailed;
	struct store_message_new m;

	for (size_t i = 0; i < ARRAY_SIZE(kw); i++)
		kw[i] = arena_printf(fx->arena, "kw%zu", i);
	msg_fill(fx, &m, &(struct msg_spec){ .keywords = kw, .keyword_count = ARRAY_SIZE(kw) });
	FAILS(store_append(fx->st, inbox, &m, NULL, NULL, E), STORE_INVALID);
	append_spec(fx, inbox,
		    &(struct msg_spec){ .keywords = kw,
					.keyword_count = STORE_KEYWORDS_PER_MESSAGE_MAX },
		    NULL);
	FAILS(store_flags_update(fx->st, inbox, &one, 1,
				 &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							       .keywords = &kw[50],
							       .keyword_count = 1 },
				 fx->arena, &res, &n, &failed, &nfailed, E),
	      STORE_INVALID);
	OK(store_flags_update(fx->st, inbox, &one, 1,
			      &(struct store_flags_update){ .op = STORE_FLAGS_REPLACE,
							    .keywords = &kw[50],
							    .keyword_count = 1 },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	assert_string_equal(res[0].keywords, "kw50");
}

static void test_expunge_vanished(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "exp"), inbox = mailbox_id(fx, acc, "INBOX");
	struct store_uid_range del[3] = { { 3, 3 }, { 5, 5 }, { 7, 7 } }, six_nine = { 6, 9 };
	struct store_flags_result *res, *changed;
	uint32_t *failed, *uids, *vanished, *list;
	size_t n, nfailed, nchanged, nvanished;
	uint64_t before, m1, m2;
	struct store_mailbox_status st;

	for (int i = 0; i < 10; i++)
		append_simple(fx, inbox, i % 2 == 0 ? STORE_FLAG_SEEN : 0, 100 + i);
	OK(store_flags_update(fx->st, inbox, del, 3,
			      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							    .flags = STORE_FLAG_DELETED },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	before = status_of(fx, inbox).highest_modseq;

	/* EXPUNGE: only \Deleted */
	OK(store_expunge(fx->st, inbox, NULL, 0, true, fx->arena, &uids, &n, &m1, E));
	assert_uids(uids, n, (uint32_t[]){ 3, 5, 7 }, 3);
	assert_int_equal(m1, before + 1);
	st = status_of(fx, inbox);
	assert_int_equal(st.messages, 7);
	assert_int_equal(st.deleted, 0);
	assert_int_equal(st.highest_modseq, m1);
	assert_int_equal(st.size, 1045 - 102 - 104 - 106);
	assert_int_equal(st.unseen, 5); /* 2, 4, 6, 8, 10; the expunged were seen */
	list = uid_list(fx, inbox, &n);
	assert_uids(list, n, (uint32_t[]){ 1, 2, 4, 6, 8, 9, 10 }, 7);

	/* QRESYNC: VANISHED since before, nothing since m1 */
	OK(store_changes_since(fx->st, inbox, before, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_uids(vanished, nvanished, (uint32_t[]){ 3, 5, 7 }, 3);
	assert_int_equal(nchanged, 0);
	OK(store_changes_since(fx->st, inbox, m1, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_int_equal(nvanished, 0);

	/* UID EXPUNGE on a set, regardless of \Deleted */
	OK(store_expunge(fx->st, inbox, &six_nine, 1, false, fx->arena, &uids, &n, &m2, E));
	assert_uids(uids, n, (uint32_t[]){ 6, 8, 9 }, 3);
	assert_int_equal(m2, m1 + 1);
	OK(store_changes_since(fx->st, inbox, before, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_uids(vanished, nvanished, (uint32_t[]){ 3, 5, 6, 7, 8, 9 }, 6);
	OK(store_changes_since(fx->st, inbox, m1, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_uids(vanished, nvanished, (uint32_t[]){ 6, 8, 9 }, 3);

	/* nothing to expunge: no new MODSEQ */
	OK(store_expunge(fx->st, inbox, NULL, 0, true, fx->arena, &uids, &n, &m1, E));
	assert_int_equal(n, 0);
	assert_int_equal(m1, 0);
	assert_int_equal(status_of(fx, inbox).highest_modseq, m2);
	/* expunged messages are gone for fetch, flags and search */
	assert_int_equal(fetch_all(fx, inbox, 0).n, 4);
	OK(store_flags_update(fx->st, inbox, &six_nine, 1,
			      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							    .flags = STORE_FLAG_SEEN },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	assert_int_equal(n, 0);
	assert_int_equal(account_of(fx, acc).message_count, 4);
	assert_int_equal(account_of(fx, acc).total_bytes, 100 + 101 + 103 + 109);
	assert_int_equal(append_simple(fx, inbox, 0, 1), 11); /* UIDs are never reused */
}

static void test_copy_move(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "cm"), other = new_account(fx, "cm2");
	int64_t inbox = mailbox_id(fx, acc, "INBOX"), arch = mailbox_id(fx, acc, "Archive");
	int64_t trash = mailbox_id(fx, acc, "Trash"), foreign = mailbox_id(fx, other, "INBOX");
	static const char *const kw[] = { "$Label1" };
	static const char *const kw_up[] = { "$LABEL1" };
	struct store_uid_range one_three = { 1, 3 }, two = { 2, 2 }, all = { 1, UINT32_MAX };
	struct store_copy_result res;
	struct store_flags_result *changed;
	struct store_mailbox mb;
	uint32_t *vanished;
	size_t nchanged, nvanished;
	uint64_t before;
	struct collect c;

	/* the destination spells the keyword its own way already */
	append_spec(fx, arch, &(struct msg_spec){ .keywords = kw_up, .keyword_count = 1,
						 .size = 5 },
		    NULL);
	append_simple(fx, inbox, STORE_FLAG_SEEN, 100);
	append_spec(fx, inbox,
		    &(struct msg_spec){ .flags = STORE_FLAG_FLAGGED, .keywords = kw,
					.keyword_count = 1, .size = 200 },
		    NULL);
	append_simple(fx, inbox, 0, 300);
	append_simple(fx, inbox, 0, 400);
	OK(store_mailbox_get(fx->st, acc, "Archive", fx->arena, &mb, E));

	OK(store_copy(fx->st, inbox, &one_three, 1, arch, false, fx->arena, &res, E));
	assert_int_equal(res.dst_uidvalidity, mb.uidvalidity);
	assert_uids(res.src_uids, res.count, (uint32_t[]){ 1, 2, 3 }, 3);
	assert_uids(res.dst_uids, res.count, (uint32_t[]){ 2, 3, 4 }, 3);
	assert_int_equal(res.src_modseq, 0);
	c = fetch_all(fx, arch, STORE_FETCH_KEYWORDS | STORE_FETCH_SIZE | STORE_FETCH_DATES);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.v[1].flags, STORE_FLAG_SEEN);
	assert_int_equal(c.v[2].flags, STORE_FLAG_FLAGGED);
	assert_string_equal(c.v[2].keywords, "$LABEL1");
	assert_int_equal(c.v[2].size, 200);
	assert_int_equal(c.v[2].internal_date, 1700000000);
	assert_int_equal(status_of(fx, inbox).messages, 4);
	assert_int_equal(status_of(fx, arch).messages, 4);
	assert_int_equal(status_of(fx, arch).unseen, 3);
	assert_int_equal(account_of(fx, acc).message_count, 8);
	assert_int_equal(account_of(fx, acc).total_bytes, 5 + 1000 + 600);

	/* MOVE: expunged from the source with one MODSEQ, counters follow */
	before = status_of(fx, inbox).highest_modseq;
	OK(store_copy(fx->st, inbox, &all, 1, trash, true, fx->arena, &res, E));
	assert_uids(res.src_uids, res.count, (uint32_t[]){ 1, 2, 3, 4 }, 4);
	assert_uids(res.dst_uids, res.count, (uint32_t[]){ 1, 2, 3, 4 }, 4);
	assert_int_equal(res.src_modseq, before + 1);
	assert_int_equal(status_of(fx, inbox).messages, 0);
	assert_int_equal(status_of(fx, inbox).size, 0);
	assert_int_equal(status_of(fx, trash).messages, 4);
	assert_int_equal(status_of(fx, trash).size, 1000);
	assert_int_equal(account_of(fx, acc).message_count, 8);
	assert_int_equal(account_of(fx, acc).total_bytes, 1605);
	OK(store_changes_since(fx->st, inbox, before, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_uids(vanished, nvanished, (uint32_t[]){ 1, 2, 3, 4 }, 4);

	/* copy within one mailbox; nothing to copy */
	OK(store_copy(fx->st, trash, &two, 1, trash, false, fx->arena, &res, E));
	assert_uids(res.dst_uids, res.count, (uint32_t[]){ 5 }, 1);
	OK(store_copy(fx->st, inbox, &all, 1, arch, false, fx->arena, &res, E));
	assert_int_equal(res.count, 0);
	assert_int_equal(res.dst_uidvalidity, mb.uidvalidity);

	FAILS(store_copy(fx->st, trash, &all, 1, trash, true, fx->arena, &res, E), STORE_INVALID);
	FAILS(store_copy(fx->st, trash, &all, 1, foreign, false, fx->arena, &res, E),
	      STORE_INVALID);
	FAILS(store_copy(fx->st, trash, &all, 1, 999999999, false, fx->arena, &res, E),
	      STORE_NOT_FOUND);
	OK(store_mailbox_create(fx->st, acc, "NS/Child", 0, NULL, E));
	OK(store_mailbox_delete(fx->st, acc, "NS", E));
	FAILS(store_copy(fx->st, trash, &all, 1, mailbox_id(fx, acc, "NS"), false, fx->arena, &res,
			 E),
	      STORE_INVALID);
	assert_int_equal(account_of(fx, acc).message_count, 9);
}

static void test_usage_counters(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "usage");
	int64_t inbox = mailbox_id(fx, acc, "INBOX"), sent = mailbox_id(fx, acc, "Sent");
	struct store_uid_range odd[3] = { { 1, 1 }, { 3, 3 }, { 5, 5 } };
	struct store_uid_range even[3] = { { 2, 2 }, { 4, 4 }, { 6, 6 } };
	struct store_copy_result res;
	struct store_mailbox *list;
	uint64_t want_count = 0, want_bytes = 0, m;
	uint32_t *uids;
	size_t n, nl;

	for (int i = 1; i <= 20; i++)
		append_simple(fx, i % 2 ? inbox : sent, 0, (uint64_t)i * 1000);
	OK(store_expunge(fx->st, inbox, odd, 3, false, fx->arena, &uids, &n, &m, E));
	OK(store_copy(fx->st, sent, NULL, 0, inbox, false, fx->arena, &res, E));
	OK(store_copy(fx->st, inbox, even, 3, sent, true, fx->arena, &res, E));
	assert_int_equal(res.count, 3);
	OK(store_mailbox_create(fx->st, acc, "Tmp", 0, NULL, E));
	OK(store_copy(fx->st, sent, NULL, 0, mailbox_id(fx, acc, "Tmp"), false, fx->arena, &res,
		      E));
	OK(store_mailbox_delete(fx->st, acc, "Tmp", E));

	/* the counters equal what the rows say, mailbox by mailbox */
	OK(store_mailbox_list(fx->st, acc, fx->arena, &list, &nl, E));
	for (size_t i = 0; i < nl; i++) {
		struct collect c = fetch_all(fx, list[i].id, STORE_FETCH_SIZE);
		struct store_mailbox_status st = status_of(fx, list[i].id);
		uint64_t bytes = 0, unseen = 0;

		for (size_t j = 0; j < c.n; j++) {
			bytes += c.v[j].size;
			unseen += (c.v[j].flags & STORE_FLAG_SEEN) == 0;
		}
		assert_int_equal(st.messages, c.n);
		assert_int_equal(st.size, bytes);
		assert_int_equal(st.unseen, unseen);
		want_count += c.n;
		want_bytes += bytes;
	}
	assert_int_equal(account_of(fx, acc).message_count, want_count);
	assert_int_equal(account_of(fx, acc).total_bytes, want_bytes);
	assert_int_equal(want_count, 14 + 13); /* INBOX, Sent; Tmp went */
}

static void test_fetch(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "fetch"), inbox = mailbox_id(fx, acc, "INBOX");
	struct store_uid_range set[3] = { { 8, 9 }, { 2, 3 }, { 3, 4 } };
	struct collect c = { .arena = fx->arena };

	for (int i = 0; i < 10; i++)
		append_simple(fx, inbox, 0, (uint64_t)i + 1);
	OK(store_fetch(fx->st, inbox, set, 3, STORE_FETCH_SIZE, 0, collect_cb, &c, E));
	assert_int_equal(c.n, 5);
	static const uint32_t want[] = { 2, 3, 4, 8, 9 };
	for (size_t i = 0; i < c.n; i++) {
		assert_int_equal(c.v[i].uid, want[i]);
		assert_int_equal(c.v[i].size, want[i]);
		assert_null(c.v[i].keywords); /* not asked for */
		assert_null(c.v[i].headers.envelope);
	}
	/* the callback can stop the walk */
	c = (struct collect){ .arena = fx->arena, .stop_after = 3 };
	OK(store_fetch(fx->st, inbox, NULL, 0, 0, 0, collect_cb, &c, E));
	assert_int_equal(c.n, 3);
	/* an empty set or a range past the end matches nothing */
	c = (struct collect){ .arena = fx->arena };
	OK(store_fetch(fx->st, inbox, set, 0, 0, 0, collect_cb, &c, E));
	OK(store_fetch(fx->st, inbox, &(struct store_uid_range){ 11, 99 }, 1, 0, 0, collect_cb, &c,
		       E));
	assert_int_equal(c.n, 0);
	FAILS(store_fetch(fx->st, inbox, &(struct store_uid_range){ 0, 3 }, 1, 0, 0, collect_cb, &c,
			  E),
	      STORE_INVALID);
	FAILS(store_fetch(fx->st, 999999999, NULL, 0, 0, 0, collect_cb, &c, E), STORE_NOT_FOUND);
	FAILS(store_fetch(fx->st, inbox, NULL, 0, 1u << 20, 0, collect_cb, &c, E), STORE_INVALID);
}

static void test_search(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "search"), inbox = mailbox_id(fx, acc, "INBOX");
	int64_t sent = mailbox_id(fx, acc, "Sent");
	struct store_uid_range three = { 3, 3 };
	uint32_t *uids, *gone;
	size_t n;
	uint64_t m;

	append_spec(fx, inbox,
		    &(struct msg_spec){ .subject = "Quarterly report",
					.body = "The quick brown fox jumps over the lazy dog." },
		    NULL);
	append_spec(fx, inbox,
		    &(struct msg_spec){ .subject = "Lunch?", .from = "Carol <carol@example.com>",
					.body = "Meet at the caf\xc3\xa9 at noon, "
						"bring the report." },
		    NULL);
	append_spec(fx, inbox,
		    &(struct msg_spec){ .subject = "Re: lazy Sunday", .body = "Nothing here." },
		    NULL);
	append_spec(fx, sent,
		    &(struct msg_spec){ .subject = "Other mailbox", .body = "quick brown fox" },
		    NULL);

	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "quick brown", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1 }, 1);
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "bro", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1 }, 1); /* last word as a prefix */
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "brown quick", fx->arena, &uids, &n, E));
	assert_int_equal(n, 0); /* a phrase, in order */
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "REPORT", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 2 }, 1); /* the body only */
	OK(store_search(fx->st, inbox, STORE_SEARCH_TEXT, "report", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1, 2 }, 2); /* headers too */
	OK(store_search(fx->st, inbox, STORE_SEARCH_TEXT, "lazy", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1, 3 }, 2);
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "cafe", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 2 }, 1); /* diacritics folded */
	OK(store_search(fx->st, inbox, STORE_SEARCH_TEXT, "carol@example.com", fx->arena, &uids, &n,
			E));
	assert_uids(uids, n, (uint32_t[]){ 2 }, 1);
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "\"quote\" AND NOT) *", fx->arena, &uids,
			&n, E));
	assert_int_equal(n, 0); /* query syntax is not ours to parse */
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "  ", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1, 2, 3 }, 3);

	/* header criteria: substrings, ASCII case-insensitive */
	OK(store_search(fx->st, inbox, STORE_SEARCH_SUBJECT, "REPORT", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1 }, 1);
	OK(store_search(fx->st, inbox, STORE_SEARCH_SUBJECT, "re:", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 3 }, 1);
	OK(store_search(fx->st, inbox, STORE_SEARCH_SUBJECT, "%", fx->arena, &uids, &n, E));
	assert_int_equal(n, 0); /* LIKE wildcards are literal */
	OK(store_search(fx->st, inbox, STORE_SEARCH_FROM, "carol@", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 2 }, 1);
	OK(store_search(fx->st, inbox, STORE_SEARCH_TO, "bob", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1, 2, 3 }, 3);
	OK(store_search(fx->st, inbox, STORE_SEARCH_CC, "x", fx->arena, &uids, &n, E));
	assert_int_equal(n, 0);
	OK(store_search(fx->st, inbox, STORE_SEARCH_MESSAGE_ID, "<id@", fx->arena, &uids, &n, E));
	assert_int_equal(n, 3);

	/* expunged messages are not found */
	OK(store_expunge(fx->st, inbox, &three, 1, false, fx->arena, &gone, &n, &m, E));
	OK(store_search(fx->st, inbox, STORE_SEARCH_TEXT, "lazy", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1 }, 1);
	OK(store_search(fx->st, sent, STORE_SEARCH_BODY, "fox", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1 }, 1);
	FAILS(store_search(fx->st, 999999999, STORE_SEARCH_BODY, "fox", fx->arena, &uids, &n, E),
	      STORE_NOT_FOUND);
	FAILS(store_search(fx->st, inbox, STORE_SEARCH_KEY_COUNT, "x", fx->arena, &uids, &n, E),
	      STORE_INVALID);
}

/* ---- Sieve and auth records ------------------------------------------- */

static void test_sieve(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "sieve");
	struct store_sieve_script sc, *list;
	size_t n;

	FAILS(store_sieve_get_active(fx->st, acc, fx->arena, &sc, E), STORE_NOT_FOUND);
	OK(store_sieve_put(fx->st, acc, "vacation", "require \"vacation\";", E));
	OK(store_sieve_put(fx->st, acc, "filters", "keep;", E));
	OK(store_sieve_put(fx->st, acc, "filters", "discard;", E)); /* replace */
	OK(store_sieve_get(fx->st, acc, "filters", fx->arena, &sc, E));
	assert_string_equal(sc.content, "discard;");
	assert_false(sc.is_active);

	OK(store_sieve_activate(fx->st, acc, "filters", E));
	OK(store_sieve_get_active(fx->st, acc, fx->arena, &sc, E));
	assert_string_equal(sc.name, "filters");
	OK(store_sieve_activate(fx->st, acc, "vacation", E)); /* at most one active */
	OK(store_sieve_list(fx->st, acc, fx->arena, &list, &n, E));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "filters");
	assert_false(list[0].is_active);
	assert_string_equal(list[1].name, "vacation");
	assert_true(list[1].is_active);
	assert_null(list[0].content);
	OK(store_sieve_put(fx->st, acc, "vacation", "keep;", E)); /* stays active */
	OK(store_sieve_get_active(fx->st, acc, fx->arena, &sc, E));
	assert_string_equal(sc.content, "keep;");

	FAILS(store_sieve_delete(fx->st, acc, "vacation", E), STORE_INVALID);
	FAILS(store_sieve_delete(fx->st, acc, "nope", E), STORE_NOT_FOUND);
	FAILS(store_sieve_activate(fx->st, acc, "nope", E), STORE_NOT_FOUND);
	FAILS(store_sieve_rename(fx->st, acc, "filters", "vacation", E), STORE_EXISTS);
	FAILS(store_sieve_rename(fx->st, acc, "nope", "x", E), STORE_NOT_FOUND);
	OK(store_sieve_rename(fx->st, acc, "vacation", "away", E));
	OK(store_sieve_get_active(fx->st, acc, fx->arena, &sc, E));
	assert_string_equal(sc.name, "away");
	OK(store_sieve_activate(fx->st, acc, NULL, E));
	FAILS(store_sieve_get_active(fx->st, acc, fx->arena, &sc, E), STORE_NOT_FOUND);
	OK(store_sieve_delete(fx->st, acc, "away", E));
	FAILS(store_sieve_get(fx->st, acc, "away", fx->arena, &sc, E), STORE_NOT_FOUND);
	FAILS(store_sieve_put(fx->st, acc, "", "keep;", E), STORE_INVALID);
	FAILS(store_sieve_put(fx->st, acc, "a\nb", "keep;", E), STORE_INVALID);
	FAILS(store_sieve_put(fx->st, 999999999, "x", "keep;", E), STORE_NOT_FOUND);
}

static void test_auth_records(void **state)
{
	struct fx *fx = *state;
	/* unique per test, so that a shared database does not mix counts */
	const char *ip = arena_printf(fx->arena, "198.51.100.7/%s", fx->tag);
	const char *ip2 = arena_printf(fx->arena, "2001:db8::1/%s", fx->tag);
	const char *user = addr(fx, "Mallory"), *user_lc = addr(fx, "mallory");
	int64_t now = 1800000000, until = 0;
	uint32_t count = 0;

	for (int i = 0; i < 5; i++)
		OK(store_auth_attempt_add(fx->st, ip, user, false, now - i * 60, E));
	OK(store_auth_attempt_add(fx->st, ip, user, true, now, E));
	OK(store_auth_attempt_add(fx->st, ip2, user_lc, false, now, E));
	OK(store_auth_attempt_add(fx->st, ip2, NULL, false, now, E));

	OK(store_auth_failures(fx->st, ip, NULL, now - 120, &count, E));
	assert_int_equal(count, 3);
	OK(store_auth_failures(fx->st, NULL, user_lc, now - 3600, &count, E));
	assert_int_equal(count, 6); /* case does not escape the count */
	OK(store_auth_failures(fx->st, ip2, user, now - 3600, &count, E));
	assert_int_equal(count, 1);
	OK(store_auth_failures(fx->st, ip2, NULL, now - 3600, &count, E));
	assert_int_equal(count, 2);
	FAILS(store_auth_failures(fx->st, NULL, NULL, 0, &count, E), STORE_INVALID);
	FAILS(store_auth_attempt_add(fx->st, "", NULL, false, now, E), STORE_INVALID);

	OK(store_auth_block_get(fx->st, STORE_BLOCK_IP, ip, now, &until, E));
	assert_int_equal(until, 0);
	OK(store_auth_block_set(fx->st, STORE_BLOCK_IP, ip, now + 300, E));
	OK(store_auth_block_set(fx->st, STORE_BLOCK_USER, user, now + 600, E));
	OK(store_auth_block_get(fx->st, STORE_BLOCK_IP, ip, now, &until, E));
	assert_int_equal(until, now + 300);
	OK(store_auth_block_get(fx->st, STORE_BLOCK_USER, user_lc, now, &until, E));
	assert_int_equal(until, now + 600);
	OK(store_auth_block_get(fx->st, STORE_BLOCK_USER, ip, now, &until, E));
	assert_int_equal(until, 0); /* kinds are separate */
	OK(store_auth_block_get(fx->st, STORE_BLOCK_IP, ip, now + 300, &until, E));
	assert_int_equal(until, 0); /* expired */
	OK(store_auth_block_set(fx->st, STORE_BLOCK_IP, ip, now + 900, E));
	OK(store_auth_block_get(fx->st, STORE_BLOCK_IP, ip, now, &until, E));
	assert_int_equal(until, now + 900);
	OK(store_auth_block_clear(fx->st, STORE_BLOCK_IP, ip, E));
	OK(store_auth_block_get(fx->st, STORE_BLOCK_IP, ip, now, &until, E));
	assert_int_equal(until, 0);
	FAILS(store_auth_block_set(fx->st, STORE_BLOCK_KIND_COUNT, ip, now, E), STORE_INVALID);

	OK(store_auth_prune(fx->st, now - 60, E));
	OK(store_auth_failures(fx->st, ip, NULL, 0, &count, E));
	assert_int_equal(count, 2); /* now and now-60 remain */
	OK(store_auth_prune(fx->st, now + 601, E));
	OK(store_auth_block_get(fx->st, STORE_BLOCK_USER, user, now, &until, E));
	assert_int_equal(until, 0);
}

/* ---- durability ------------------------------------------------------- */

static void test_reopen(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "dur"), inbox = mailbox_id(fx, acc, "INBOX"), work;
	static const char *const kw[] = { "Durable" };
	struct store_uid_range two = { 2, 2 }, three = { 3, 3 };
	struct store_flags_result *res;
	struct store_sieve_script sc;
	struct store_credential cred;
	struct store_mailbox mb, before;
	uint32_t *failed, *uids;
	size_t n, nfailed;
	uint64_t m;
	struct collect c;

	OK(store_mailbox_create(fx->st, acc, "Work/Deep", 0, &work, E));
	append_spec(fx, inbox, &(struct msg_spec){ .body = "persistent words", .size = 10 }, NULL);
	append_simple(fx, inbox, 0, 20);
	append_simple(fx, inbox, 0, 30);
	append_simple(fx, work, 0, 40);
	OK(store_flags_update(fx->st, inbox, &two, 1,
			      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
							    .flags = STORE_FLAG_ANSWERED,
							    .keywords = kw, .keyword_count = 1 },
			      fx->arena, &res, &n, &failed, &nfailed, E));
	OK(store_expunge(fx->st, inbox, &three, 1, false, fx->arena, &uids, &n, &m, E));
	OK(store_sieve_put(fx->st, acc, "main", "keep;", E));
	OK(store_sieve_activate(fx->st, acc, "main", E));
	OK(store_mailbox_get(fx->st, acc, "INBOX", fx->arena, &before, E));

	fx_reopen(fx);

	OK(store_credential_lookup(fx->st, addr(fx, "dur"), fx->arena, &cred, E));
	assert_int_equal(cred.account_id, acc);
	OK(store_mailbox_get(fx->st, acc, "INBOX", fx->arena, &mb, E));
	assert_int_equal(mb.uidvalidity, before.uidvalidity);
	assert_int_equal(mb.uidnext, 4);
	assert_int_equal(mb.highest_modseq, before.highest_modseq);
	OK(store_mailbox_get(fx->st, acc, "Work/Deep", fx->arena, &mb, E));
	c = fetch_all(fx, inbox, STORE_FETCH_KEYWORDS | STORE_FETCH_SIZE);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.v[1].uid, 2);
	assert_int_equal(c.v[1].flags, STORE_FLAG_ANSWERED);
	assert_string_equal(c.v[1].keywords, "Durable");
	assert_int_equal(account_of(fx, acc).message_count, 3);
	assert_int_equal(account_of(fx, acc).total_bytes, 70);
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "persistent", fx->arena, &uids, &n, E));
	assert_uids(uids, n, (uint32_t[]){ 1 }, 1);
	OK(store_sieve_get_active(fx->st, acc, fx->arena, &sc, E));
	assert_string_equal(sc.content, "keep;");
	/* allocation goes on where it stopped */
	assert_int_equal(append_simple(fx, inbox, 0, 1), 4);
	assert_int_equal(append_simple(fx, work, 0, 1), 2);
}

/* Acknowledged means on disk: a process killed with SIGKILL right after
   its calls returned loses nothing. */
static void test_crash_durability(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "crash"), inbox = mailbox_id(fx, acc, "INBOX");
	struct collect c;
	int status = 0;
	pid_t pid;

	/* the child opens its own handle: nothing open crosses the fork */
	store_close(&fx->st);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st = NULL;
		struct store_error err;
		struct store_uid_range one = { 1, 1 };
		struct store_flags_result *res;
		struct arena *a = arena_new(4096);
		uint32_t *failed;
		size_t n, nf;

		if (store_open(&fx->set, &st, &err) < 0)
			_exit(2);
		for (int i = 0; i < 20; i++) {
			char hash[65];
			struct store_message_new m = { .size = 10, .content_hash = hash };

			if (snprintf(hash, sizeof(hash), "%064x", 0xc0de00 + i) != 64 ||
			    store_append(st, inbox, &m, NULL, NULL, &err) < 0)
				_exit(3);
		}
		if (store_flags_update(st, inbox, &one, 1,
				       &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
								     .flags = STORE_FLAG_SEEN },
				       a, &res, &n, &failed, &nf, &err) < 0)
			_exit(4);
		(void)kill(getpid(), SIGKILL);
		_exit(5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	fx_open(fx);
	c = fetch_all(fx, inbox, 0);
	assert_int_equal(c.n, 20);
	assert_int_equal(c.v[0].flags, STORE_FLAG_SEEN);
	assert_int_equal(c.v[19].uid, 20);
	assert_int_equal(account_of(fx, acc).message_count, 20);
	assert_int_equal(status_of(fx, inbox).unseen, 19);
}

/* A lock held by another process is STORE_TEMPORARY after busy_timeout,
   and the store works again once it is released (SQLite only: the lock
   is taken with the SQLite library directly). */
static void test_busy_is_temporary(void **state)
{
	struct fx *fx = *state;
	struct store_settings set = fx->set;
	struct store_message_new m;
	struct store *st = NULL;
	int64_t acc, inbox;
	sqlite3 *db = NULL;

	if (!is_sqlite()) {
		skip();
		return;
	}
	acc = new_account(fx, "busy");
	inbox = mailbox_id(fx, acc, "INBOX");
	set.busy_timeout_ms = 50;
	store_close(&fx->st);
	OK(store_open(&set, &fx->st, E));
	assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	msg_fill(fx, &m, &(struct msg_spec){ 0 });
	FAILS(store_append(fx->st, inbox, &m, NULL, NULL, E), STORE_TEMPORARY);
	FAILS(store_mailbox_create(fx->st, acc, "Blocked", 0, NULL, E), STORE_TEMPORARY);
	/* readers are not blocked by a writer */
	assert_int_equal(status_of(fx, inbox).messages, 0);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	OK(store_append(fx->st, inbox, &m, NULL, NULL, E));
	assert_int_equal(status_of(fx, inbox).messages, 1);

	/* a database written by a newer schema is refused */
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO schema_migrations (version, name, applied_at) "
				      "VALUES (9999, 'future', 0)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	FAILS(store_open(&set, &st, E), STORE_INVALID);
	assert_null(st);
}

/* ---- a big mailbox ---------------------------------------------------- */

#define BIG 100000

static uint64_t now_us(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static double ms_since(uint64_t start)
{
	return (double)(now_us() - start) / 1000.0;
}

static int count_cb(const struct store_message *msg, void *ctx)
{
	uint64_t *n = ctx;

	/* every third message was delivered \Seen */
	if (msg->flags != ((msg->uid % 3 == 0) ? STORE_FLAG_SEEN : 0u))
		return 1;
	(*n)++;
	return 0;
}

static void test_big_mailbox(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "big"), inbox = mailbox_id(fx, acc, "INBOX");
	struct store_message_new *msgs = xcalloc(BIG, sizeof(*msgs));
	struct store_append *items = xcalloc(BIG, sizeof(*items));
	struct store_uid_range range = { 50000, 51000 };
	struct store_flags_result *res, *changed;
	struct store_mailbox_status st;
	uint32_t *uids, *failed, *vanished, *found;
	size_t n, nfailed, nchanged, nvanished, nfound;
	uint64_t t, seen_ok = 0, hm;
	struct collect c;

	for (uint32_t i = 0; i < BIG; i++) {
		char *hash = arena_alloc(fx->arena, 65);

		assert_int_equal(snprintf(hash, 65, "%064x", i + 1), 64);
		msgs[i] = (struct store_message_new){
			.flags = (i + 1) % 3 == 0 ? STORE_FLAG_SEEN : 0,
			.internal_date = 1600000000 + i,
			.size = 1000 + i % 1000,
			.content_hash = hash,
			.headers = {
				.envelope = "(NIL \"big\" NIL NIL NIL NIL NIL NIL NIL NIL)",
				.subject = arena_printf(fx->arena, "Message %u", i + 1),
				.from = "Sender <sender@example.org>",
			},
			.body_text = i == 77777 ? "the needle is here" : "ordinary message body",
		};
		items[i] = (struct store_append){ .mailbox_id = inbox, .msg = &msgs[i] };
	}
	t = now_us();
	OK(store_append_batch(fx->st, items, BIG, E));
	printf("big mailbox: append %d messages in one batch: %.1f ms\n", BIG, ms_since(t));
	assert_int_equal(items[BIG - 1].uid_r, BIG);

	t = now_us();
	OK(store_mailbox_uids(fx->st, inbox, &uids, &n, &st, E));
	printf("big mailbox: UID list for SELECT: %.1f ms\n", ms_since(t));
	assert_int_equal(n, BIG);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(uids[i], i + 1);
	free(uids);
	assert_int_equal(st.messages, BIG);
	assert_int_equal(st.unseen, BIG - BIG / 3);
	assert_int_equal(st.first_unseen_uid, 1);

	t = now_us();
	OK(store_fetch(fx->st, inbox, NULL, 0, 0, 0, count_cb, &seen_ok, E));
	printf("big mailbox: flags of all messages: %.1f ms\n", ms_since(t));
	assert_int_equal(seen_ok, BIG);

	/* ten separate changes, then "what changed since" sees exactly them */
	hm = st.highest_modseq;
	for (uint32_t i = 0; i < 10; i++) {
		struct store_uid_range one = { 1 + i * 9973, 1 + i * 9973 };

		OK(store_flags_update(fx->st, inbox, &one, 1,
				      &(struct store_flags_update){ .op = STORE_FLAGS_ADD,
								    .flags = STORE_FLAG_FLAGGED },
				      fx->arena, &res, &n, &failed, &nfailed, E));
		assert_int_equal(n, 1);
		assert_int_equal(res[0].modseq, hm + i + 1);
	}
	t = now_us();
	OK(store_changes_since(fx->st, inbox, hm, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	printf("big mailbox: changes since MODSEQ (last 10 changes): %.1f ms\n", ms_since(t));
	assert_int_equal(nchanged, 10);
	assert_int_equal(nvanished, 0);
	for (uint32_t i = 0; i < 10; i++) {
		assert_int_equal(changed[i].uid, 1 + i * 9973);
		assert_true((changed[i].flags & STORE_FLAG_FLAGGED) != 0);
		assert_int_equal(changed[i].modseq, hm + i + 1);
	}
	c = (struct collect){ .arena = fx->arena };
	t = now_us();
	OK(store_fetch(fx->st, inbox, NULL, 0, 0, hm + 5, collect_cb, &c, E));
	printf("big mailbox: FETCH 1:* (FLAGS) (CHANGEDSINCE): %.1f ms\n", ms_since(t));
	assert_int_equal(c.n, 5);

	c = (struct collect){ .arena = fx->arena };
	t = now_us();
	OK(store_fetch(fx->st, inbox, &range, 1,
		       STORE_FETCH_SIZE | STORE_FETCH_DATES | STORE_FETCH_ENVELOPE |
			       STORE_FETCH_BLOB,
		       0, collect_cb, &c, E));
	printf("big mailbox: UID range 50000:51000 with envelope: %.1f ms\n", ms_since(t));
	assert_int_equal(c.n, 1001);
	for (size_t i = 0; i < c.n; i++) {
		uint32_t uid = 50000 + (uint32_t)i;

		assert_int_equal(c.v[i].uid, uid);
		assert_int_equal(c.v[i].size, 1000 + (uid - 1) % 1000);
		assert_int_equal(c.v[i].internal_date, 1600000000 + uid - 1);
		assert_string_equal(c.v[i].headers.envelope,
				    "(NIL \"big\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	}

	t = now_us();
	OK(store_search(fx->st, inbox, STORE_SEARCH_BODY, "needle", fx->arena, &found, &nfound, E));
	printf("big mailbox: SEARCH BODY (one hit): %.1f ms\n", ms_since(t));
	assert_uids(found, nfound, (uint32_t[]){ 77778 }, 1);
	t = now_us();
	OK(store_mailbox_status(fx->st, inbox, &st, E));
	printf("big mailbox: STATUS: %.3f ms\n", ms_since(t));
	assert_int_equal(st.messages, BIG);
	assert_int_equal(account_of(fx, acc).message_count, BIG);
	free(items);
	free(msgs);
}


/* ---- cleanup and blob bookkeeping ------------------------------------ */

/* The unreferenced bodies of one account (the database may be shared). */
static size_t unreferenced_of(struct fx *fx, int64_t account, struct store_blob_ref *out,
			      size_t cap)
{
	int64_t after = 0;
	size_t found = 0;

	for (;;) {
		struct store_blob_ref *refs;
		size_t n;

		OK(store_cleanup_unreferenced(fx->st, after, 2, fx->arena, &refs, &n, E));
		for (size_t i = 0; i < n; i++) {
			assert_true(refs[i].data_id > after);
			after = refs[i].data_id;
			if (refs[i].account_id == account && found < cap)
				out[found++] = refs[i];
		}
		if (n < 2)
			return found;
	}
}

static bool blob_listed(struct fx *fx, int64_t account, const char *hash, uint32_t *key_id_r)
{
	int64_t after = 0;

	for (;;) {
		struct store_blob_ref *refs;
		size_t n;

		OK(store_blob_list(fx->st, after, 100, fx->arena, &refs, &n, E));
		for (size_t i = 0; i < n; i++) {
			after = refs[i].data_id;
			if (refs[i].account_id == account && strcmp(refs[i].content_hash, hash) == 0) {
				*key_id_r = refs[i].blob_key_id;
				return true;
			}
		}
		if (n < 100)
			return false;
	}
}

static void test_cleanup_expunged(void **state)
{
	struct fx *fx = *state;
	int64_t acc = new_account(fx, "clean"), inbox = mailbox_id(fx, acc, "INBOX");
	int64_t arch = mailbox_id(fx, acc, "Archive");
	const char *h1 = next_hash(fx), *h2 = next_hash(fx);
	struct store_uid_range two = { 2, 2 };
	struct store_copy_result cres;
	struct store_flags_result *changed;
	struct store_blob_ref refs[8];
	uint32_t *uids, *vanished, key_id = 0;
	size_t n, nchanged, nvanished;
	uint64_t modseq, removed = 0, forgotten = 0, base;
	int64_t now = (int64_t)time(NULL);
	bool locked = false;

	OK(store_cleanup_try_lock(fx->st, &locked, E));
	assert_true(locked);
	OK(store_cleanup_unlock(fx->st, E));

	append_spec(fx, inbox, &(struct msg_spec){ .hash = h1, .size = 10 }, NULL);
	append_spec(fx, inbox, &(struct msg_spec){ .hash = h2, .size = 20 }, NULL);
	/* h2 is also kept by a copy in Archive */
	OK(store_copy(fx->st, inbox, &two, 1, arch, false, fx->arena, &cres, E));
	base = status_of(fx, inbox).highest_modseq;
	OK(store_expunge(fx->st, inbox, NULL, 0, false, fx->arena, &uids, &n, &modseq, E));
	assert_int_equal(n, 2);

	/* within the grace period: the tombstones stay, VANISHED still works */
	OK(store_cleanup_expunged(fx->st, now - 3600, &removed, E));
	OK(store_changes_since(fx->st, inbox, base, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_uids(vanished, nvanished, (uint32_t[]){ 1, 2 }, 2);
	assert_int_equal(unreferenced_of(fx, acc, refs, 8), 0);

	/* past it: tombstones go; h1 is unreferenced, h2 is not (Archive) */
	OK(store_cleanup_expunged(fx->st, now + 2, &removed, E));
	assert_true(removed >= 2);
	OK(store_changes_since(fx->st, inbox, base, fx->arena, &changed, &nchanged, &vanished,
			       &nvanished, E));
	assert_int_equal(nvanished, 0);
	assert_int_equal(status_of(fx, arch).messages, 1);
	assert_int_equal(unreferenced_of(fx, acc, refs, 8), 1);
	assert_string_equal(refs[0].content_hash, h1);
	assert_string_equal(refs[0].address, addr(fx, "clean"));
	assert_int_equal(refs[0].blob_key_id, 7);

	/* every body is listed for re-encryption, referenced or not */
	assert_true(blob_listed(fx, acc, h1, &key_id));
	assert_true(blob_listed(fx, acc, h2, &key_id));
	assert_int_equal(key_id, 7);

	/* forgetting: once; a referenced row is never forgotten */
	OK(store_cleanup_forget(fx->st, &refs[0].data_id, 1, &forgotten, E));
	assert_int_equal(forgotten, 1);
	OK(store_cleanup_forget(fx->st, &refs[0].data_id, 1, &forgotten, E));
	assert_int_equal(forgotten, 0);
	assert_false(blob_listed(fx, acc, h1, &key_id));
	assert_int_equal(unreferenced_of(fx, acc, refs, 8), 0);
	assert_true(blob_listed(fx, acc, h2, &key_id));
	{
		struct store_blob_ref *all;
		int64_t h2_id = 0, after = 0;

		for (;;) {
			OK(store_blob_list(fx->st, after, 100, fx->arena, &all, &n, E));
			for (size_t i = 0; i < n; i++) {
				after = all[i].data_id;
				if (all[i].account_id == acc &&
				    strcmp(all[i].content_hash, h2) == 0)
					h2_id = all[i].data_id;
			}
			if (n < 100)
				break;
		}
		assert_true(h2_id > 0);
		OK(store_cleanup_forget(fx->st, &h2_id, 1, &forgotten, E));
		assert_int_equal(forgotten, 0); /* still in Archive */
		OK(store_blob_set_key_id(fx->st, h2_id, 0xabcdef01u, E));
		assert_true(blob_listed(fx, acc, h2, &key_id));
		assert_int_equal(key_id, 0xabcdef01u);
		FAILS(store_blob_set_key_id(fx->st, INT64_MAX - 1, 1, E), STORE_NOT_FOUND);
	}
	/* the same content delivered again gets a fresh row */
	append_spec(fx, inbox, &(struct msg_spec){ .hash = h1, .size = 10 }, NULL);
	assert_true(blob_listed(fx, acc, h1, &key_id));
	assert_int_equal(fetch_all(fx, inbox, 0).n, 1);

	{
		struct store_blob_ref *none;

		FAILS(store_cleanup_unreferenced(fx->st, 0, 0, fx->arena, &none, &n, E),
		      STORE_INVALID);
	}
}

static void test_cleanup_accounts(void **state)
{
	struct fx *fx = *state;
	int64_t gone = new_account(fx, "gone"), kept = new_account(fx, "kept"), id;
	int64_t gone_inbox = mailbox_id(fx, gone, "INBOX"), kept_inbox = mailbox_id(fx, kept, "INBOX");
	struct store_blob_ref refs[8];
	uint64_t msgs = 0, accts = 0, forgotten = 0;
	int64_t now = (int64_t)time(NULL), ids[8];
	size_t n;

	append_simple(fx, gone_inbox, 0, 10);
	append_simple(fx, gone_inbox, 0, 20);
	append_simple(fx, kept_inbox, 0, 30);
	OK(store_account_delete(fx->st, gone, E));

	/* within the grace period nothing happens to it */
	OK(store_cleanup_accounts(fx->st, now - 3600, &msgs, &accts, E));
	OK(store_account_find(fx->st, addr(fx, "gone"), true, &id, E));
	assert_int_equal(unreferenced_of(fx, gone, refs, 8), 0);

	/* past it: its messages go first, the account row waits for its bodies */
	OK(store_cleanup_accounts(fx->st, now + 2, &msgs, &accts, E));
	assert_true(msgs >= 2);
	OK(store_account_find(fx->st, addr(fx, "gone"), true, &id, E));
	n = unreferenced_of(fx, gone, refs, 8);
	assert_int_equal(n, 2);
	assert_string_equal(refs[0].address, addr(fx, "gone"));
	for (size_t i = 0; i < n; i++)
		ids[i] = refs[i].data_id;
	OK(store_cleanup_forget(fx->st, ids, n, &forgotten, E));
	assert_int_equal(forgotten, 2);
	OK(store_cleanup_accounts(fx->st, now + 2, &msgs, &accts, E));
	assert_true(accts >= 1);
	FAILS(store_account_find(fx->st, addr(fx, "gone"), true, &id, E), STORE_NOT_FOUND);
	/* the address can be used again */
	new_account(fx, "gone");

	/* live accounts are never touched */
	assert_int_equal(fetch_all(fx, kept_inbox, 0).n, 1);
	assert_int_equal(unreferenced_of(fx, kept, refs, 8), 0);
	assert_int_equal(account_of(fx, kept).message_count, 1);
}

static void test_cleanup_hashes_referenced(void **state)
{
	struct fx *fx = *state;
	int64_t a = new_account(fx, "orph-a"), b = new_account(fx, "orph-b");
	int64_t a_inbox = mailbox_id(fx, a, "INBOX"), b_inbox = mailbox_id(fx, b, "INBOX");
	const char *h1 = next_hash(fx), *h2 = next_hash(fx), *h3 = next_hash(fx);
	const char *many[STORE_CLEANUP_HASHES_MAX + 1];
	bool ref[STORE_CLEANUP_HASHES_MAX + 1];
	struct store_blob_ref refs[8];
	uint64_t removed = 0, forgotten = 0;
	uint32_t *uids;
	uint64_t modseq;
	size_t n;

	append_spec(fx, a_inbox, &(struct msg_spec){ .hash = h1, .size = 10 }, NULL);
	append_spec(fx, b_inbox, &(struct msg_spec){ .hash = h2, .size = 20 }, NULL);

	/* per account: b's body is not a's */
	OK(store_cleanup_hashes_referenced(fx->st, a, (const char *[]){ h1, h2, h3 }, 3, ref, E));
	assert_true(ref[0]);
	assert_false(ref[1]);
	assert_false(ref[2]);
	OK(store_cleanup_hashes_referenced(fx->st, b, (const char *[]){ h1, h2 }, 2, ref, E));
	assert_false(ref[0]);
	assert_true(ref[1]);

	/* a full batch, with repeats, answers each entry */
	for (size_t i = 0; i < STORE_CLEANUP_HASHES_MAX; i++)
		many[i] = i % 3 == 0 ? h1 : i % 3 == 1 ? h2 : next_hash(fx);
	OK(store_cleanup_hashes_referenced(fx->st, a, many, STORE_CLEANUP_HASHES_MAX, ref, E));
	for (size_t i = 0; i < STORE_CLEANUP_HASHES_MAX; i++)
		assert_true(ref[i] == (i % 3 == 0));

	/* expunged and its tombstone gone: the metadata row still names the
	   body (store_cleanup_unreferenced deletes it), until it is forgotten */
	OK(store_expunge(fx->st, a_inbox, NULL, 0, false, fx->arena, &uids, &n, &modseq, E));
	OK(store_cleanup_expunged(fx->st, (int64_t)time(NULL) + 2, &removed, E));
	OK(store_cleanup_hashes_referenced(fx->st, a, &h1, 1, ref, E));
	assert_true(ref[0]);
	assert_int_equal(unreferenced_of(fx, a, refs, 8), 1);
	OK(store_cleanup_forget(fx->st, &refs[0].data_id, 1, &forgotten, E));
	assert_int_equal(forgotten, 1);
	OK(store_cleanup_hashes_referenced(fx->st, a, &h1, 1, ref, E));
	assert_false(ref[0]);

	/* bad arguments */
	many[0] = "ABCDEF0000000000000000000000000000000000000000000000000000000000";
	FAILS(store_cleanup_hashes_referenced(fx->st, a, many, 1, ref, E), STORE_INVALID);
	many[0] = "abc";
	FAILS(store_cleanup_hashes_referenced(fx->st, a, many, 1, ref, E), STORE_INVALID);
	many[0] = h1;
	many[STORE_CLEANUP_HASHES_MAX] = h1;
	FAILS(store_cleanup_hashes_referenced(fx->st, a, many, 0, ref, E), STORE_INVALID);
	FAILS(store_cleanup_hashes_referenced(fx->st, a, many, STORE_CLEANUP_HASHES_MAX + 1, ref,
					      E),
	      STORE_INVALID);
	FAILS(store_cleanup_hashes_referenced(fx->st, 0, many, 1, ref, E), STORE_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_rules),
		cmocka_unit_test(test_mailbox_name_rules),
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_migrations),
		T(test_primary_pinned_by_mail),
		T(test_parts_and_quota),
		T(test_open_errors),
		T(test_account_defaults),
		T(test_credentials),
		T(test_account_delete_restore),
		T(test_mailbox_create),
		T(test_mailbox_delete),
		T(test_mailbox_rename),
		T(test_inbox_rename),
		T(test_subscriptions),
		T(test_append),
		T(test_append_batch),
		T(test_concurrent_appends),
		T(test_flags),
		T(test_keyword_limits),
		T(test_expunge_vanished),
		T(test_copy_move),
		T(test_usage_counters),
		T(test_fetch),
		T(test_search),
		T(test_sieve),
		T(test_auth_records),
		T(test_reopen),
		T(test_crash_durability),
		T(test_busy_is_temporary),
		T(test_big_mailbox),
		T(test_cleanup_expunged),
		T(test_cleanup_accounts),
		T(test_cleanup_hashes_referenced),
#undef T
	};

	printf("store driver under test: %s\n", test_driver());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
