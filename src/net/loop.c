#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../lib/util.h"

#define LOOP_MAX_EVENTS 256

struct loop_call {
	struct loop_call *next;
	loop_fn *fn;
	void *ctx;
};

struct loop {
	unsigned id;
	int epfd;
	struct loop_io wake_io;
	uint64_t now_ms;
	bool stopping;          /* written by other threads under post_lock */
	unsigned refs;

	struct timer **heap;
	size_t heap_len, heap_cap;

	pthread_mutex_t post_lock;
	struct loop_call *posted, *posted_tail;

	struct loop_call *deferred, *deferred_tail;
};

static void wake_cb(struct loop_io *io, uint32_t events);

struct loop *loop_new(unsigned id)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));
	int efd;

	loop->id = id;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->epfd == -1 || efd == -1)
		util_require_failed(__FILE__, __LINE__, "epoll_create1/eventfd");
	pthread_mutex_init(&loop->post_lock, NULL);
	loop->now_ms = util_now_ms();
	if (loop_io_add(loop, &loop->wake_io, efd, EPOLLIN, wake_cb, loop) < 0)
		util_require_failed(__FILE__, __LINE__, "epoll_ctl(eventfd)");
	return loop;
}

void loop_free(struct loop **lp)
{
	struct loop *loop = *lp;

	if (loop == NULL)
		return;
	(void)close(loop->wake_io.fd);
	(void)close(loop->epfd);
	while (loop->posted != NULL) {
		struct loop_call *next = loop->posted->next;

		free(loop->posted);
		loop->posted = next;
	}
	while (loop->deferred != NULL) {
		struct loop_call *next = loop->deferred->next;

		free(loop->deferred);
		loop->deferred = next;
	}
	pthread_mutex_destroy(&loop->post_lock);
	free(loop->heap);
	free(loop);
	*lp = NULL;
}

unsigned loop_id(const struct loop *loop)
{
	return loop->id;
}

uint64_t loop_now(struct loop *loop)
{
	return loop->now_ms;
}

void loop_ref(struct loop *loop)
{
	loop->refs++;
}

void loop_unref(struct loop *loop)
{
	if (!CHECK_FAILED(loop->refs > 0))
		loop->refs--;
}

unsigned loop_refcount(const struct loop *loop)
{
	return loop->refs;
}

int loop_io_add(struct loop *loop, struct loop_io *io, int fd, uint32_t events,
		loop_io_cb *cb, void *ctx)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	*io = (struct loop_io){ .fd = fd, .events = events, .cb = cb, .ctx = ctx };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -1;
	io->registered = true;
	return 0;
}

void loop_io_set(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (!io->registered || io->events == events)
		return;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) == 0)
		io->events = events;
}

void loop_io_remove(struct loop *loop, struct loop_io *io)
{
	if (!io->registered)
		return;
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->registered = false;
	io->events = 0;
}

/* --- timers: a binary min-heap of pointers; each timer knows its index --- */

void timer_init(struct timer *t, timer_cb *cb, void *ctx)
{
	*t = (struct timer){ .heap_idx = SIZE_MAX, .cb = cb, .ctx = ctx };
}

static void heap_swap(struct loop *loop, size_t a, size_t b)
{
	struct timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_idx = a;
	loop->heap[b]->heap_idx = b;
}

static void heap_up(struct loop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->heap[parent]->when_ms <= loop->heap[i]->when_ms)
			break;
		heap_swap(loop, i, parent);
		i = parent;
	}
}

static void heap_down(struct loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < loop->heap_len && loop->heap[l]->when_ms < loop->heap[m]->when_ms)
			m = l;
		if (r < loop->heap_len && loop->heap[r]->when_ms < loop->heap[m]->when_ms)
			m = r;
		if (m == i)
			break;
		heap_swap(loop, i, m);
		i = m;
	}
}

void loop_timer_stop(struct loop *loop, struct timer *t)
{
	size_t i = t->heap_idx;

	if (i == SIZE_MAX)
		return;
	t->heap_idx = SIZE_MAX;
	loop->heap_len--;
	if (i == loop->heap_len)
		return;
	loop->heap[i] = loop->heap[loop->heap_len];
	loop->heap[i]->heap_idx = i;
	heap_up(loop, i);
	heap_down(loop, loop->heap[i]->heap_idx);
}

void loop_timer_start(struct loop *loop, struct timer *t, uint64_t delay_ms)
{
	loop_timer_stop(loop, t);
	if (loop->heap_len == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap == 0 ? 64 : loop->heap_cap * 2;
		loop->heap = xrealloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
	}
	/* a fresh clock, not the iteration's cached one (callbacks may have
	   run for a while), and +1 for the millisecond truncation: a timer
	   never fires before delay_ms has passed */
	t->when_ms = util_now_ms() + delay_ms + 1;
	t->heap_idx = loop->heap_len;
	loop->heap[loop->heap_len++] = t;
	heap_up(loop, t->heap_idx);
}

static void run_timers(struct loop *loop)
{
	while (loop->heap_len > 0 && loop->heap[0]->when_ms <= loop->now_ms) {
		struct timer *t = loop->heap[0];

		loop_timer_stop(loop, t);
		t->cb(t);
	}
}

/* --- cross-thread posts and deferred calls --- */

static void call_append(struct loop_call **head, struct loop_call **tail, loop_fn *fn,
			void *ctx)
{
	struct loop_call *c = xmalloc(sizeof(*c));

	*c = (struct loop_call){ .fn = fn, .ctx = ctx };
	if (*tail == NULL)
		*head = c;
	else
		(*tail)->next = c;
	*tail = c;
}

void loop_post(struct loop *loop, loop_fn *fn, void *ctx)
{
	uint64_t one = 1;

	pthread_mutex_lock(&loop->post_lock);
	call_append(&loop->posted, &loop->posted_tail, fn, ctx);
	pthread_mutex_unlock(&loop->post_lock);
	(void)!write(loop->wake_io.fd, &one, sizeof(one));
}

void loop_defer(struct loop *loop, loop_fn *fn, void *ctx)
{
	call_append(&loop->deferred, &loop->deferred_tail, fn, ctx);
}

static void run_calls(struct loop_call *c)
{
	while (c != NULL) {
		struct loop_call *next = c->next;

		c->fn(c->ctx);
		free(c);
		c = next;
	}
}

static void run_deferred(struct loop *loop)
{
	/* deferred calls may defer more; run until none is left */
	while (loop->deferred != NULL) {
		struct loop_call *list = loop->deferred;

		loop->deferred = loop->deferred_tail = NULL;
		run_calls(list);
	}
}

static void wake_cb(struct loop_io *io, uint32_t events)
{
	struct loop *loop = io->ctx;
	struct loop_call *list;
	uint64_t n;

	(void)events;
	(void)!read(io->fd, &n, sizeof(n));
	pthread_mutex_lock(&loop->post_lock);
	list = loop->posted;
	loop->posted = loop->posted_tail = NULL;
	pthread_mutex_unlock(&loop->post_lock);
	run_calls(list);
}

void loop_stop(struct loop *loop)
{
	uint64_t one = 1;

	pthread_mutex_lock(&loop->post_lock);
	loop->stopping = true;
	pthread_mutex_unlock(&loop->post_lock);
	(void)!write(loop->wake_io.fd, &one, sizeof(one));
}

static bool loop_is_stopping(struct loop *loop)
{
	bool stopping;

	pthread_mutex_lock(&loop->post_lock);
	stopping = loop->stopping;
	pthread_mutex_unlock(&loop->post_lock);
	return stopping;
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[LOOP_MAX_EVENTS];

	while (!loop_is_stopping(loop)) {
		int timeout = -1, n;

		loop->now_ms = util_now_ms();
		if (loop->deferred != NULL)
			timeout = 0;
		else if (loop->heap_len > 0)
			timeout = loop->heap[0]->when_ms <= loop->now_ms
					  ? 0
					  : (int)MIN(loop->heap[0]->when_ms - loop->now_ms,
						     (uint64_t)60000);
		n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		loop->now_ms = util_now_ms();
		for (int i = 0; i < n; i++) {
			struct loop_io *io = events[i].data.ptr;

			/* an earlier callback of this batch may have removed it;
			   its memory stays valid until run_deferred() */
			if (io->registered)
				io->cb(io, events[i].events);
		}
		run_timers(loop);
		run_deferred(loop);
	}
	run_deferred(loop);
	return 0;
}
