/* The reactor: timers fire in deadline order, re-arming and stopping work,
   posts from other threads arrive, deferred calls run after the batch, the
   worker pool runs jobs off the loop and completes them on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/loop.h"
#include "net/worker.h"

struct fired {
	struct loop *loop;
	int order[16];
	int count;
};

struct tagged_timer {
	struct timer t;
	struct fired *f;
	int tag;
};

static void on_timer(struct timer *t)
{
	struct tagged_timer *tt = t->ctx;

	tt->f->order[tt->f->count++] = tt->tag;
	if (tt->f->count == 3)
		loop_stop(tt->f->loop);
}

static void test_timers_fire_in_order(void **state)
{
	struct loop *loop = loop_new(0);
	struct fired f = { .loop = loop };
	struct tagged_timer t[4];
	uint64_t delays[4] = { 30, 10, 20, 5 };

	(void)state;
	for (int i = 0; i < 4; i++) {
		t[i] = (struct tagged_timer){ .f = &f, .tag = i };
		timer_init(&t[i].t, on_timer, &t[i]);
		loop_timer_start(loop, &t[i].t, delays[i]);
	}
	loop_timer_stop(loop, &t[3].t); /* the earliest never fires */
	assert_false(timer_is_armed(&t[3].t));
	loop_timer_start(loop, &t[0].t, 1); /* re-arm: now the first */
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(f.count, 3);
	assert_int_equal(f.order[0], 0);
	assert_int_equal(f.order[1], 1);
	assert_int_equal(f.order[2], 2);
	loop_free(&loop);
	assert_null(loop);
}

static void count_timer(struct timer *t)
{
	int *n = t->ctx;

	(*n)++;
}

static void test_timer_heap_many(void **state)
{
	struct loop *loop = loop_new(0);
	enum { N = 2000 };
	struct timer *timers = calloc(N, sizeof(*timers));
	int fired = 0;

	(void)state;
	/* arm and stop in a scrambled order: the heap must stay consistent */
	for (int i = 0; i < N; i++) {
		timer_init(&timers[i], count_timer, &fired);
		loop_timer_start(loop, &timers[i], (uint64_t)((i * 7919) % N) + 100000);
	}
	for (int i = 0; i < N; i += 3)
		loop_timer_stop(loop, &timers[i]);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0)
			assert_false(timer_is_armed(&timers[i]));
		else
			assert_true(timer_is_armed(&timers[i]));
	}
	for (int i = 0; i < N; i++)
		loop_timer_stop(loop, &timers[i]);
	assert_int_equal(fired, 0);
	free(timers);
	loop_free(&loop);
}

struct post_ctx {
	struct loop *loop;
	int received;
	int expected;
};

static void on_post(void *ctx)
{
	struct post_ctx *p = ctx;

	if (++p->received == p->expected)
		loop_stop(p->loop);
}

static void *poster(void *ctx)
{
	struct post_ctx *p = ctx;

	for (int i = 0; i < 1000; i++)
		loop_post(p->loop, on_post, p);
	return NULL;
}

static void test_posts_from_threads(void **state)
{
	struct loop *loop = loop_new(1);
	struct post_ctx p = { .loop = loop, .expected = 4000 };
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, poster, &p), 0);
	assert_int_equal(loop_run(loop), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(p.received, 4000);
	loop_free(&loop);
}

struct io_ctx {
	struct loop *loop;
	struct loop_io io;
	int reads;
	bool deferred_ran, deferred_after_io;
};

static void deferred(void *ctx)
{
	struct io_ctx *x = ctx;

	x->deferred_ran = true;
	x->deferred_after_io = x->reads == 1;
	loop_stop(x->loop);
}

static void on_readable(struct loop_io *io, uint32_t events)
{
	struct io_ctx *x = io->ctx;
	char buf[16];

	assert_true((events & EPOLLIN) != 0);
	assert_int_equal(read(io->fd, buf, sizeof(buf)), 5);
	x->reads++;
	loop_defer(x->loop, deferred, x);
	/* removing inside the callback is safe; nothing more arrives */
	loop_io_remove(x->loop, io);
}

static void test_io_and_defer(void **state)
{
	struct io_ctx x = { 0 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	x.loop = loop_new(2);
	assert_int_equal(loop_io_add(x.loop, &x.io, sv[0], EPOLLIN, on_readable, &x), 0);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	assert_int_equal(loop_run(x.loop), 0);
	assert_int_equal(x.reads, 1);
	assert_true(x.deferred_ran);
	assert_true(x.deferred_after_io);
	close(sv[0]);
	close(sv[1]);
	loop_free(&x.loop);
}

struct job_ctx {
	struct loop *loop;
	pthread_t loop_thread;
	int done;
	int ran_off_loop;
	int completed_on_loop;
	long values[64];
};

struct job {
	struct job_ctx *ctx;
	int index;
};

static void job_run(void *arg)
{
	struct job *j = arg;

	if (!pthread_equal(pthread_self(), j->ctx->loop_thread))
		__atomic_fetch_add(&j->ctx->ran_off_loop, 1, __ATOMIC_SEQ_CST);
	j->ctx->values[j->index] = (long)j->index * j->index;
}

static void job_done(void *arg)
{
	struct job *j = arg;

	if (pthread_equal(pthread_self(), j->ctx->loop_thread))
		j->ctx->completed_on_loop++;
	if (++j->ctx->done == 64)
		loop_stop(j->ctx->loop);
	free(j);
}

static void test_worker_pool(void **state)
{
	struct job_ctx ctx = { .loop = loop_new(3), .loop_thread = pthread_self() };
	struct worker_pool *pool = worker_pool_new(3);

	(void)state;
	for (int i = 0; i < 64; i++) {
		struct job *j = malloc(sizeof(*j));

		*j = (struct job){ .ctx = &ctx, .index = i };
		worker_submit(pool, ctx.loop, job_run, job_done, j);
	}
	assert_int_equal(loop_run(ctx.loop), 0);
	assert_int_equal(ctx.done, 64);
	assert_int_equal(ctx.ran_off_loop, 64);
	assert_int_equal(ctx.completed_on_loop, 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(ctx.values[i], (long)i * i);
	worker_pool_free(&pool);
	assert_null(pool);
	loop_free(&ctx.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_order),
		cmocka_unit_test(test_timer_heap_many),
		cmocka_unit_test(test_posts_from_threads),
		cmocka_unit_test(test_io_and_defer),
		cmocka_unit_test(test_worker_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
