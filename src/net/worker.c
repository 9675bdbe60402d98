#include "worker.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>

#include "../lib/util.h"
#include "loop.h"

struct worker_job {
	struct worker_job *next;
	struct loop *loop;
	worker_fn *fn;
	worker_done_fn *done;
	void *arg;
};

struct worker_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct worker_job *head, *tail;
	size_t pending;
	bool stopping;
	unsigned nthreads;
	int nice;
	pthread_t *threads;
};

static void job_done(void *ctx)
{
	struct worker_job *job = ctx;

	job->done(job->arg);
	free(job);
}

static void *worker_main(void *ctx)
{
	struct worker_pool *pool = ctx;

	/* Linux nice values are per thread: only this pool's threads yield */
	if (pool->nice != 0)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), pool->nice);
	for (;;) {
		struct worker_job *job;

		pthread_mutex_lock(&pool->lock);
		while (pool->head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->cond, &pool->lock);
		job = pool->head;
		if (job == NULL) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pthread_mutex_unlock(&pool->lock);

		job->fn(job->arg);

		pthread_mutex_lock(&pool->lock);
		pool->pending--;
		pthread_mutex_unlock(&pool->lock);
		if (job->done != NULL)
			loop_post(job->loop, job_done, job);
		else
			free(job);
	}
}

struct worker_pool *worker_pool_new(unsigned threads)
{
	return worker_pool_new_niced(threads, 0);
}

struct worker_pool *worker_pool_new_niced(unsigned threads, int nice)
{
	struct worker_pool *pool = xcalloc(1, sizeof(*pool));
	pthread_attr_t attr;

	if (threads == 0)
		threads = 1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->nthreads = threads;
	pool->nice = nice;
	pool->threads = xcalloc(threads, sizeof(*pool->threads));
	pthread_attr_init(&attr);
	/* room for libxcrypt's 32 KiB crypt_data and OpenSSL on the stack */
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&pool->threads[i], &attr, worker_main, pool) != 0)
			util_require_failed(__FILE__, __LINE__, "pthread_create");
	}
	pthread_attr_destroy(&attr);
	return pool;
}

void worker_pool_free(struct worker_pool **pp)
{
	struct worker_pool *pool = *pp;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
	*pp = NULL;
}

void worker_submit(struct worker_pool *pool, struct loop *loop, worker_fn *fn,
		   worker_done_fn *done, void *arg)
{
	struct worker_job *job = xmalloc(sizeof(*job));

	*job = (struct worker_job){ .loop = loop, .fn = fn, .done = done, .arg = arg };
	pthread_mutex_lock(&pool->lock);
	if (pool->tail == NULL)
		pool->head = job;
	else
		pool->tail->next = job;
	pool->tail = job;
	pool->pending++;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

size_t worker_pool_pending(struct worker_pool *pool)
{
	size_t n;

	pthread_mutex_lock(&pool->lock);
	n = pool->pending;
	pthread_mutex_unlock(&pool->lock);
	return n;
}
