#ifndef SORA_NET_LOOP_H
#define SORA_NET_LOOP_H

/* The reactor: one epoll instance per event-loop thread. Sockets are owned
   by exactly one loop; everything that touches a socket runs on that loop's
   thread. Other threads talk to a loop only through loop_post(), which is
   thread-safe and wakes the loop through an eventfd.

   Timers live in a binary heap ordered by deadline; a timer is a struct the
   owner embeds, so arming one allocates nothing. Idle timers are refreshed
   lazily by their owners (store the last activity, re-arm when the timer
   fires early), which keeps per-command refresh at O(1).

   Freeing inside a callback is never done: loop_defer() runs a function
   after the current batch of events, when no stale event can point at the
   freed object any more. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_io;
struct timer;

typedef void loop_io_cb(struct loop_io *io, uint32_t events);
typedef void timer_cb(struct timer *t);
typedef void loop_fn(void *ctx);

struct loop_io {
	int fd;
	uint32_t events;   /* EPOLLIN / EPOLLOUT currently requested */
	bool registered;
	loop_io_cb *cb;
	void *ctx;
};

struct timer {
	uint64_t when_ms;
	size_t heap_idx;   /* SIZE_MAX when not armed */
	timer_cb *cb;
	void *ctx;
};

struct loop *loop_new(unsigned id);
void loop_free(struct loop **loop);
unsigned loop_id(const struct loop *loop);

/* Runs until loop_stop(); returns 0, or -1 if epoll itself failed. */
int loop_run(struct loop *loop);
/* Thread-safe. The loop returns after the current iteration. */
void loop_stop(struct loop *loop);

/* Monotonic milliseconds, cached once per iteration. */
uint64_t loop_now(struct loop *loop);

int loop_io_add(struct loop *loop, struct loop_io *io, int fd, uint32_t events,
		loop_io_cb *cb, void *ctx);
/* Changes the requested events; a no-op when they are already set. */
void loop_io_set(struct loop *loop, struct loop_io *io, uint32_t events);
/* Stops delivery; stale events already collected are dropped. */
void loop_io_remove(struct loop *loop, struct loop_io *io);

void timer_init(struct timer *t, timer_cb *cb, void *ctx);
/* (Re)arms t to fire once after delay_ms. */
void loop_timer_start(struct loop *loop, struct timer *t, uint64_t delay_ms);
void loop_timer_stop(struct loop *loop, struct timer *t);
static inline bool timer_is_armed(const struct timer *t)
{
	return t->heap_idx != SIZE_MAX;
}

/* Thread-safe: run fn(ctx) on the loop's thread soon. */
void loop_post(struct loop *loop, loop_fn *fn, void *ctx);
/* Loop thread only: run fn(ctx) after the current batch of events. */
void loop_defer(struct loop *loop, loop_fn *fn, void *ctx);

/* Counted objects keeping the loop busy during shutdown (connections). */
void loop_ref(struct loop *loop);
void loop_unref(struct loop *loop);
unsigned loop_refcount(const struct loop *loop);

#endif
