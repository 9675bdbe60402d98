/* imap/imap-notify.h against a real SQLite store and a real event loop:
   a change committed on another thread reaches exactly the entries that
   watch that mailbox, on their loop's thread; unwatched entries hear
   nothing; a burst of changes is coalesced but never lost. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/imap/imap-notify.h"
#include "../../src/lib/arena.h"
#include "../../src/lib/util.h"
#include "../../src/net/loop.h"
#include "../../src/store/store.h"

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	struct imap_notify *hub;
	struct loop *loop;
	pthread_t thread;
	int64_t inbox, sent;
};

struct hits {
	int count;
	pthread_t thread; /* where the callback ran */
};

static void *loop_main(void *arg)
{
	struct fx *fx = arg;

	(void)loop_run(fx->loop);
	return NULL;
}

static void on_change(void *ctx)
{
	struct hits *h = ctx;

	h->count++;
	h->thread = pthread_self();
}

static void append_one(struct fx *fx, int64_t mailbox_id)
{
	static const char hash[] =
		"0000000000000000000000000000000000000000000000000000000000000001";
	struct store_message_new m = { .internal_date = 1, .size = 10, .content_hash = hash };
	struct store_error err;

	if (store_append(fx->st, mailbox_id, &m, NULL, NULL, &err) < 0)
		fail_msg("store_append: %s", err.msg);
}

/* Work on the loop's thread and wait for it: watch/unwatch are loop-only. */
struct on_loop {
	void (*fn)(struct fx *fx, void *arg);
	struct fx *fx;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void run_posted(void *ctx)
{
	struct on_loop *o = ctx;

	o->fn(o->fx, o->arg);
	pthread_mutex_lock(&o->mu);
	o->done = true;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static void on_loop(struct fx *fx, void (*fn)(struct fx *fx, void *arg), void *arg)
{
	struct on_loop o = { .fn = fn, .fx = fx, .arg = arg };

	pthread_mutex_init(&o.mu, NULL);
	pthread_cond_init(&o.cv, NULL);
	loop_post(fx->loop, run_posted, &o);
	pthread_mutex_lock(&o.mu);
	while (!o.done)
		pthread_cond_wait(&o.cv, &o.mu);
	pthread_mutex_unlock(&o.mu);
	pthread_mutex_destroy(&o.mu);
	pthread_cond_destroy(&o.cv);
}

static void noop(struct fx *fx, void *arg)
{
	(void)fx;
	(void)arg;
}

/* Everything posted before now has run on the loop. */
static void settle(struct fx *fx)
{
	on_loop(fx, noop, NULL);
}

static int setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	struct store_settings set = { 0 };
	struct store_mailbox mbox;
	struct store_error err;
	struct arena *a = arena_new(4096);
	int64_t account;

	memcpy(fx->dir, "/tmp/imap-notify-XXXXXX", sizeof("/tmp/imap-notify-XXXXXX"));
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/sora.db", fx->dir);
	set.path = fx->path;
	if (store_open(&set, &fx->st, &err) < 0)
		fail_msg("store_open: %s", err.msg);
	fx->hub = imap_notify_get(fx->st);
	assert_non_null(fx->hub);
	/* one hub per store: asking again registers no second watcher */
	assert_ptr_equal(imap_notify_get(fx->st), fx->hub);
	assert_int_equal(store_account_create(fx->st, "a@example.org", "{PLAIN}x", &account, &err),
			 0);
	assert_int_equal(store_mailbox_get(fx->st, account, "INBOX", a, &mbox, &err), 0);
	fx->inbox = mbox.id;
	assert_int_equal(store_mailbox_get(fx->st, account, "Sent", a, &mbox, &err), 0);
	fx->sent = mbox.id;
	arena_free(&a);
	fx->loop = loop_new(0);
	assert_int_equal(pthread_create(&fx->thread, NULL, loop_main, fx), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[160];

	loop_stop(fx->loop);
	pthread_join(fx->thread, NULL);
	loop_free(&fx->loop);
	store_close(&fx->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	(void)!system(cmd);
	free(fx);
	return 0;
}

struct watch_req {
	struct imap_notify_entry *e;
	int64_t mailbox_id;
	struct hits *hits;
};

static void do_watch(struct fx *fx, void *arg)
{
	struct watch_req *w = arg;

	imap_notify_watch(fx->hub, fx->loop, w->e, w->mailbox_id, on_change, w->hits);
}

static void do_unwatch(struct fx *fx, void *arg)
{
	(void)fx;
	imap_notify_unwatch(arg);
}

static void watch(struct fx *fx, struct imap_notify_entry *e, int64_t mailbox_id,
		  struct hits *hits)
{
	struct watch_req w = { .e = e, .mailbox_id = mailbox_id, .hits = hits };

	on_loop(fx, do_watch, &w);
}

static void test_routes_to_watchers_of_the_mailbox(void **state)
{
	struct fx *fx = *state;
	struct imap_notify_entry e1 = { 0 }, e2 = { 0 }, e3 = { 0 };
	struct hits h1 = { 0 }, h2 = { 0 }, h3 = { 0 };

	watch(fx, &e1, fx->inbox, &h1);
	watch(fx, &e2, fx->inbox, &h2);
	watch(fx, &e3, fx->sent, &h3);
	append_one(fx, fx->inbox); /* this thread commits: the callback posts */
	settle(fx);
	settle(fx);
	assert_int_equal(h1.count, 1);
	assert_int_equal(h2.count, 1);
	assert_int_equal(h3.count, 0);
	/* on the loop's thread, not the committing one */
	assert_true(pthread_equal(h1.thread, fx->thread));
	append_one(fx, fx->sent);
	settle(fx);
	assert_int_equal(h3.count, 1);
	assert_int_equal(h1.count, 1);
	on_loop(fx, do_unwatch, &e1);
	on_loop(fx, do_unwatch, &e2);
	on_loop(fx, do_unwatch, &e3);
	assert_null(e1.reg);
	/* unwatching twice is harmless */
	on_loop(fx, do_unwatch, &e1);
}

static void test_unwatched_hears_nothing(void **state)
{
	struct fx *fx = *state;
	struct imap_notify_entry e = { 0 };
	struct hits h = { 0 };

	watch(fx, &e, fx->inbox, &h);
	on_loop(fx, do_unwatch, &e);
	append_one(fx, fx->inbox);
	settle(fx);
	assert_int_equal(h.count, 0);
	/* re-watching another mailbox moves the entry */
	watch(fx, &e, fx->inbox, &h);
	watch(fx, &e, fx->sent, &h);
	append_one(fx, fx->inbox);
	settle(fx);
	assert_int_equal(h.count, 0);
	append_one(fx, fx->sent);
	settle(fx);
	assert_int_equal(h.count, 1);
	on_loop(fx, do_unwatch, &e);
}

struct burst {
	struct fx *fx;
	int n;
};

static void *burst_main(void *arg)
{
	struct burst *b = arg;

	for (int i = 0; i < b->n; i++)
		append_one(b->fx, b->fx->inbox);
	return NULL;
}

static void test_burst_from_threads_is_never_lost(void **state)
{
	struct fx *fx = *state;
	enum { SESSIONS = 300, THREADS = 4, PER_THREAD = 25 };
	struct imap_notify_entry *e = xcalloc(SESSIONS, sizeof(*e));
	struct hits *h = xcalloc(SESSIONS, sizeof(*h));
	struct burst b = { .fx = fx, .n = PER_THREAD };
	pthread_t th[THREADS];

	/* enough distinct mailboxes to make the per-loop hash grow */
	for (int i = 0; i < SESSIONS; i++)
		watch(fx, &e[i], i % 3 == 0 ? fx->inbox : 1000000 + i, &h[i]);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, burst_main, &b), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	settle(fx);
	settle(fx);
	for (int i = 0; i < SESSIONS; i++) {
		if (i % 3 == 0) {
			/* coalesced: at least once, at most once per change */
			assert_true(h[i].count >= 1 && h[i].count <= THREADS * PER_THREAD);
		} else {
			assert_int_equal(h[i].count, 0);
		}
	}
	for (int i = 0; i < SESSIONS; i++)
		on_loop(fx, do_unwatch, &e[i]);
	free(e);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_to_watchers_of_the_mailbox),
		cmocka_unit_test(test_unwatched_hears_nothing),
		cmocka_unit_test(test_burst_from_threads_is_never_lost),
	};

	/* one store and hub for the group: a hub lives as long as its store,
	   which in the server is the whole process */
	return cmocka_run_group_tests(tests, setup, teardown);
}
