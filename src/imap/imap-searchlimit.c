/* A chained hash of accounts, each with a ring of its last `limit` search
   times. A search is allowed when the ring is not full or its oldest time
   has left the window. Entries idle for a whole window are dropped as
   their bucket is walked, so memory follows the active accounts. */

#include "imap-searchlimit.h"

#include <pthread.h>
#include <stdlib.h>

#include "../lib/util.h"

#define SEARCHLIMIT_BUCKETS 1024
#define SEARCHLIMIT_MAX 100000 /* a ring bigger than this is no limit worth keeping */

struct sl_entry {
	struct sl_entry *next;
	int64_t account_id;
	uint32_t count, head; /* head: index of the oldest time */
	uint64_t times[];
};

struct search_limiter {
	pthread_mutex_t lock;
	uint32_t limit;
	uint64_t window_ms;
	struct sl_entry *buckets[SEARCHLIMIT_BUCKETS];
};

struct search_limiter *search_limiter_new(uint32_t limit, uint64_t window_ms)
{
	struct search_limiter *sl = xcalloc(1, sizeof(*sl));

	pthread_mutex_init(&sl->lock, NULL);
	sl->limit = limit > SEARCHLIMIT_MAX ? 0 : limit;
	sl->window_ms = window_ms;
	return sl;
}

void search_limiter_free(struct search_limiter **slp)
{
	struct search_limiter *sl = *slp;

	if (sl == NULL)
		return;
	for (size_t i = 0; i < SEARCHLIMIT_BUCKETS; i++) {
		while (sl->buckets[i] != NULL) {
			struct sl_entry *e = sl->buckets[i];

			sl->buckets[i] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&sl->lock);
	free(sl);
	*slp = NULL;
}

static uint64_t newest(const struct search_limiter *sl, const struct sl_entry *e)
{
	return e->times[(e->head + e->count - 1) % sl->limit];
}

uint64_t search_limiter_take(struct search_limiter *sl, int64_t account_id, uint64_t now_ms)
{
	struct sl_entry **pp, *e = NULL;
	uint64_t wait = 0;

	if (sl->limit == 0)
		return 0;
	pthread_mutex_lock(&sl->lock);
	pp = &sl->buckets[(uint64_t)account_id % SEARCHLIMIT_BUCKETS];
	while (*pp != NULL) {
		struct sl_entry *cur = *pp;

		if (cur->account_id == account_id) {
			e = cur;
			pp = &cur->next;
		} else if (now_ms - newest(sl, cur) >= sl->window_ms) {
			*pp = cur->next; /* idle for a whole window: forget it */
			free(cur);
		} else {
			pp = &cur->next;
		}
	}
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e) + sl->limit * sizeof(e->times[0]));
		e->account_id = account_id;
		e->next = sl->buckets[(uint64_t)account_id % SEARCHLIMIT_BUCKETS];
		sl->buckets[(uint64_t)account_id % SEARCHLIMIT_BUCKETS] = e;
	}
	/* times that left the window no longer count */
	while (e->count > 0 && now_ms - e->times[e->head] >= sl->window_ms) {
		e->head = (e->head + 1) % sl->limit;
		e->count--;
	}
	if (e->count >= sl->limit) {
		wait = e->times[e->head] + sl->window_ms - now_ms;
	} else {
		e->times[(e->head + e->count) % sl->limit] = now_ms;
		e->count++;
	}
	pthread_mutex_unlock(&sl->lock);
	return wait;
}
