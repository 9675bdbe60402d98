/* Store change events to IMAP sessions (see imap-notify.h).

   Per loop: a chained hash of mailbox id -> list of entries, and the ids
   changed since the last drain. Both behind the registry's mutex, which
   the committing thread holds only for a lookup and an append. The lists
   of entries are walked on the loop thread only; the mutex keeps the
   hash consistent for the lookups of other threads. */
#include "imap-notify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "../lib/util.h"
#include "../net/loop.h"
#include "../store/store.h"

#define NOTIFY_MAX_LOOPS 64
#define NOTIFY_MAX_HUBS 4
#define NOTIFY_MIN_BUCKETS 64

struct notify_node {
	struct notify_node *next;
	int64_t mailbox_id;
	struct imap_notify_entry *head;
	bool queued; /* in pending: a burst of changes queues the id once */
};

struct imap_notify_loop {
	struct loop *loop;
	pthread_mutex_t mu;
	struct notify_node **buckets;
	size_t bucket_count, node_count;
	int64_t *pending; /* changed ids not yet drained */
	size_t pending_count, pending_cap;
	bool posted;      /* a drain is queued on the loop */
};

struct imap_notify {
	struct store *store;
	pthread_mutex_t mu; /* adding loops */
	struct imap_notify_loop *loops[NOTIFY_MAX_LOOPS];
	atomic_size_t loop_count;
};

static struct imap_notify hubs[NOTIFY_MAX_HUBS];
static size_t hub_count;

static size_t bucket_of(const struct imap_notify_loop *r, int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (r->bucket_count - 1);
}

static struct notify_node *node_find(const struct imap_notify_loop *r, int64_t id)
{
	if (r->bucket_count == 0)
		return NULL;
	for (struct notify_node *n = r->buckets[bucket_of(r, id)]; n != NULL; n = n->next) {
		if (n->mailbox_id == id)
			return n;
	}
	return NULL;
}

static void drain(void *ctx);

/* Any thread: queue mailbox_id for r's loop if a session there watches it. */
static void loop_changed(struct imap_notify_loop *r, int64_t mailbox_id)
{
	struct notify_node *node;

	pthread_mutex_lock(&r->mu);
	node = node_find(r, mailbox_id);
	if (node != NULL) {
		if (!node->queued) {
			node->queued = true;
			if (r->pending_count == r->pending_cap) {
				r->pending_cap = r->pending_cap == 0 ? 16 : r->pending_cap * 2;
				r->pending = xrealloc(r->pending,
						      r->pending_cap * sizeof(*r->pending));
			}
			r->pending[r->pending_count++] = mailbox_id;
		}
		if (!r->posted) {
			r->posted = true;
			loop_post(r->loop, drain, r);
		}
	}
	pthread_mutex_unlock(&r->mu);
}

static void on_change(const struct store_change *change, void *ctx)
{
	struct imap_notify *n = ctx;
	size_t count = atomic_load(&n->loop_count);

	for (size_t i = 0; i < count; i++)
		loop_changed(n->loops[i], change->mailbox_id);
}

/* Loop thread: tell the sessions. */
static void drain(void *ctx)
{
	struct imap_notify_loop *r = ctx;
	int64_t *ids;
	size_t count;

	pthread_mutex_lock(&r->mu);
	ids = r->pending;
	count = r->pending_count;
	r->pending = NULL;
	r->pending_count = r->pending_cap = 0;
	r->posted = false;
	for (size_t i = 0; i < count; i++) {
		struct notify_node *node = node_find(r, ids[i]);

		if (node != NULL)
			node->queued = false;
	}
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < count; i++) {
		/* only this thread changes the lists: no lock needed to walk */
		struct notify_node *node = node_find(r, ids[i]);
		struct imap_notify_entry *e = node != NULL ? node->head : NULL;

		while (e != NULL) {
			struct imap_notify_entry *next = e->next;

			e->fn(e->ctx);
			e = next;
		}
	}
	free(ids);
}

struct imap_notify *imap_notify_get(struct store *st)
{
	struct imap_notify *n;

	for (size_t i = 0; i < hub_count; i++) {
		if (hubs[i].store == st)
			return &hubs[i];
	}
	if (hub_count == NOTIFY_MAX_HUBS)
		return NULL;
	n = &hubs[hub_count];
	if (store_watch(st, on_change, n) < 0)
		return NULL;
	hub_count++;
	n->store = st;
	pthread_mutex_init(&n->mu, NULL);
	return n;
}

static struct imap_notify_loop *loop_registry(struct imap_notify *n, struct loop *loop)
{
	struct imap_notify_loop *r = NULL;
	size_t count;

	pthread_mutex_lock(&n->mu);
	count = atomic_load(&n->loop_count);
	for (size_t i = 0; i < count && r == NULL; i++) {
		if (n->loops[i]->loop == loop)
			r = n->loops[i];
	}
	if (r == NULL && count < NOTIFY_MAX_LOOPS) {
		r = xcalloc(1, sizeof(*r));
		r->loop = loop;
		pthread_mutex_init(&r->mu, NULL);
		n->loops[count] = r;
		/* published after it is complete: on_change reads without n->mu */
		atomic_store(&n->loop_count, count + 1);
	}
	pthread_mutex_unlock(&n->mu);
	return r;
}

static void rehash(struct imap_notify_loop *r, size_t new_count)
{
	struct notify_node **nb = xcalloc(new_count, sizeof(*nb));
	struct notify_node **old = r->buckets;
	size_t old_count = r->bucket_count;

	r->buckets = nb;
	r->bucket_count = new_count;
	for (size_t i = 0; i < old_count; i++) {
		struct notify_node *node = old[i];

		while (node != NULL) {
			struct notify_node *next = node->next;
			size_t b = bucket_of(r, node->mailbox_id);

			node->next = nb[b];
			nb[b] = node;
			node = next;
		}
	}
	free(old);
}

void imap_notify_watch(struct imap_notify *n, struct loop *loop, struct imap_notify_entry *e,
		       int64_t mailbox_id, imap_notify_fn *fn, void *ctx)
{
	struct imap_notify_loop *r;
	struct notify_node *node;

	imap_notify_unwatch(e);
	if (n == NULL || (r = loop_registry(n, loop)) == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	node = node_find(r, mailbox_id);
	if (node == NULL) {
		if (r->node_count + 1 > r->bucket_count * 2)
			rehash(r, MAX(NOTIFY_MIN_BUCKETS, r->bucket_count * 2));
		node = xcalloc(1, sizeof(*node));
		node->mailbox_id = mailbox_id;
		node->next = r->buckets[bucket_of(r, mailbox_id)];
		r->buckets[bucket_of(r, mailbox_id)] = node;
		r->node_count++;
	}
	*e = (struct imap_notify_entry){ .next = node->head, .reg = r, .mailbox_id = mailbox_id,
					 .fn = fn, .ctx = ctx };
	if (node->head != NULL)
		node->head->prev = e;
	node->head = e;
	pthread_mutex_unlock(&r->mu);
}

void imap_notify_unwatch(struct imap_notify_entry *e)
{
	struct imap_notify_loop *r = e->reg;
	struct notify_node *node, **link;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	if (e->prev != NULL)
		e->prev->next = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	link = &r->buckets[bucket_of(r, e->mailbox_id)];
	while ((node = *link) != NULL && node->mailbox_id != e->mailbox_id)
		link = &node->next;
	if (node != NULL) {
		if (node->head == e)
			node->head = e->next;
		if (node->head == NULL) {
			*link = node->next;
			free(node);
			r->node_count--;
		}
	}
	pthread_mutex_unlock(&r->mu);
	*e = (struct imap_notify_entry){ 0 };
}
