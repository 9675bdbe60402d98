#ifndef SORA_NET_WORKER_H
#define SORA_NET_WORKER_H

/* A fixed pool of worker threads for what may block or burn CPU (SQL, S3,
   files, password hashing, MIME, Sieve). A job carries copies of its inputs,
   never a connection; its completion runs on the loop that submitted it. */

#include <stddef.h>

struct loop;
struct worker_pool;

typedef void worker_fn(void *arg);      /* on a worker thread */
typedef void worker_done_fn(void *arg); /* on the submitting loop's thread */

struct worker_pool *worker_pool_new(unsigned threads);
/* Threads that run at a lower priority (nice > 0): for CPU-heavy work
   that must not delay the rest, e.g. password hashing during a login
   storm, which then only takes the CPU the other threads leave. */
struct worker_pool *worker_pool_new_niced(unsigned threads, int nice);
/* Runs every queued job, then joins the threads. */
void worker_pool_free(struct worker_pool **pool);

/* done may be NULL. Never blocks. */
void worker_submit(struct worker_pool *pool, struct loop *loop, worker_fn *fn,
		   worker_done_fn *done, void *arg);

/* Jobs queued or running (for metrics and shutdown). */
size_t worker_pool_pending(struct worker_pool *pool);

#endif
