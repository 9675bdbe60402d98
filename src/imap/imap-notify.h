#ifndef SORA_IMAP_NOTIFY_H
#define SORA_IMAP_NOTIFY_H

/* Push for IMAP sessions: store change events (store_watch) routed to the
   sessions that have the changed mailbox selected.

   Threads: the store calls imap_notify's callback on whatever thread
   committed the change (a worker, or the PostgreSQL listener). It only
   looks the mailbox up in each loop's registry under that registry's
   mutex and, when some session of that loop watches it, queues the id and
   posts one drain call to the loop (coalesced: at most one post in
   flight per loop). On the loop, the drain calls each watching entry's
   callback. Entries are added and removed on their loop only. A session
   watching a mailbox costs one entry and no thread or connection. */

#include <stdint.h>

struct loop;
struct store;
struct imap_notify;
struct imap_notify_loop;

typedef void imap_notify_fn(void *ctx);

/* Embedded in the session; all-zero is "not watching". */
struct imap_notify_entry {
	struct imap_notify_entry *prev, *next;
	struct imap_notify_loop *reg; /* NULL: not registered */
	int64_t mailbox_id;
	imap_notify_fn *fn;
	void *ctx;
};

/* The hub of st, created and registered with store_watch() on first use.
   Setup only (store_watch is not thread-safe). NULL when the store has no
   room for another watcher. The hub lives until the process ends (a
   listener thread may still report after the servers are freed), so st
   must too: a store closed and another opened at its address would find
   the old hub, not registered with the new store. */
struct imap_notify *imap_notify_get(struct store *st);

/* Loop thread: e reports changes of mailbox_id through fn(ctx) on loop.
   A registered entry is unregistered first. */
void imap_notify_watch(struct imap_notify *n, struct loop *loop, struct imap_notify_entry *e,
		       int64_t mailbox_id, imap_notify_fn *fn, void *ctx);
/* Loop thread; accepts an entry that is not registered. */
void imap_notify_unwatch(struct imap_notify_entry *e);

#endif
