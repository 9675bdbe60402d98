#ifndef SORA_DELIVER_CLEANUP_H
#define SORA_DELIVER_CLEANUP_H

/* Cleanup ([cleanup] grace_period, wake_interval): removes for good what
   was expunged or deleted more than grace_period ago: tombstones, the
   messages of soft-deleted accounts, then every body no message refers to
   any more (blob first, its metadata row after: a failed blob delete is
   retried by the next pass), then the deleted accounts' rows. Last, the
   orphan sweep: bodies under a live account's key prefix that no metadata
   row names (a crash between a body's write and its metadata's commit,
   deliver_prepare's order) and whose object is older than grace_period,
   and at least CLEANUP_ORPHAN_MIN_AGE, are deleted: a delivery in flight
   has a fresh object (blob-fs refreshes the mtime of a body written again)
   and is never touched. Needs both stores, hence here and not in
   src/store. One pass runs cluster-wide at a time
   (store_cleanup_try_lock). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mail_services;

struct cleanup_stats {
	bool locked_out;        /* another node holds the lock: nothing done */
	uint64_t account_messages; /* message rows of expired deleted accounts */
	uint64_t tombstones;    /* expunged rows removed */
	uint64_t blobs_deleted; /* bodies deleted from the blob store */
	uint64_t blob_errors;   /* bodies that could not be deleted (kept, retried) */
	uint64_t rows_forgotten; /* body metadata rows removed */
	uint64_t accounts;      /* account rows removed */
	uint64_t orphans_deleted; /* bodies no metadata row named, deleted */
	uint64_t orphan_errors; /* orphans that could not be deleted (retried next pass) */
};

/* Whatever grace_s says, an orphan younger than this stays: its delivery
   may still be between the body's write and the metadata's commit. */
#define CLEANUP_ORPHAN_MIN_AGE 60

/* phase: "accounts", "tombstones", "blobs", "orphans", "done". */
typedef void cleanup_progress_fn(void *ctx, const char *phase, const struct cleanup_stats *st);

/* One pass now, removing what is older than grace_s seconds. 0, or -1
   with err (the store failed; what was done stays done). */
int cleanup_run(const struct mail_services *ms, int64_t grace_s, cleanup_progress_fn *progress,
		void *ctx, struct cleanup_stats *st_r, char *err, size_t err_size);

/* A thread running cleanup_run every wake_interval_ms (the first pass one
   interval after the start). Stops between passes, or between batches of
   a pass. */
struct cleanup_worker;
struct cleanup_worker *cleanup_worker_start(const struct mail_services *ms, uint64_t grace_ms,
					    uint64_t wake_interval_ms);
void cleanup_worker_stop(struct cleanup_worker **w);

#endif
