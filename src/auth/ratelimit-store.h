#ifndef SORA_AUTH_RATELIMIT_STORE_H
#define SORA_AUTH_RATELIMIT_STORE_H

/* The login limiter's blocks, persisted in the metadata store (issue 5:
   "with SQLite, in process plus persisted so a restart does not wipe a
   block"). It plugs into ratelimit.h through struct ratelimit_hooks:

	struct ratelimit_options opts = { 0 };
	rs = ratelimit_store_new(st, cfg, &opts);     // fills opts.hooks
	rl = ratelimit_new_with(cfg, &opts);
	ratelimit_store_attach(rs, rl);               // starts the watcher
	...
	ratelimit_store_free(&rs);                    // before ratelimit_free(&rl)

   Who decides. The in-memory limiter (rl) stays the judge of every rule
   while the process lives: the hooks keep a private shadow limiter with the
   same config, fed the same failures and successes through the record hook,
   so they know when rl has just decided a block, without asking rl (which
   would call the hooks again and skew its statistics).

   Writes (record hook). Only on failures, and only when the failure starts
   a block: an IP fast block (until now + fast_block_duration), an IP window
   block or a username window block (until now + the window: a persisted
   window block is the stricter bound, since the in-memory window may slide
   earlier, when its oldest failure leaves it). Usernames of master-form
   logins are stored as "master:NAME" so they never block the account. A
   success writes nothing. So the store holds blocks, never attempts.

   Reads (check hook, after rl said ALLOW, on every attempt): the store's
   block for the IP key and the username key (two point reads).
   - A window block written by this instance (tracked in memory) is
     ignored: rl already judged it and allowed (its window may have slid,
     or the address is a known one for that username).
   - A fast block written by this instance refuses until its exact end (in
     milliseconds, not the stored second): normally rl refused first, but
     rl may have lost the entry (evicted at its cap).
   - Any other block (written before a restart, by sora-admin, or by
     another server section of this process) refuses the attempt.
   - A store error refuses the attempt (fail closed) and is counted;
     ratelimit_store_take_error() hands the message to the caller to log.
   So blocks are per address and per username across every protocol that
   shares the store, as nodes sharing PostgreSQL would share them.

   Lifting (sora-admin auth unblock deletes the row). A block only in the
   store is lifted at the next attempt. A block rl holds in memory is lifted
   by a watcher thread: every RATELIMIT_STORE_POLL_MS it looks up the blocks
   this instance wrote and still tracks; one gone from the store before its
   end was lifted by an operator, so the watcher tells rl a success for that
   key (ratelimit_record_success with only the IP, or only the username),
   which forgets the IP's streak and fast block, or the username's window.
   Gap: ratelimit.h has no call to forget an IP's window, so an IP-window
   refusal held in memory ends only when its window slides. At most
   RATELIMIT_STORE_TRACK_MAX blocks are tracked (the soonest to end is
   dropped first; an untracked block is then judged by the store alone).

   Threads: the hooks run on worker threads (they block on SQL); the
   watcher is one thread per instance; one mutex guards the tracked list;
   rl and the shadow are locked by themselves. Times in the store are Unix
   seconds of the wall clock; block ends are rounded up to a second. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "ratelimit.h"

#define RATELIMIT_STORE_POLL_MS 250
#define RATELIMIT_STORE_TRACK_MAX 1024
/* Blocks that ended this long ago are pruned from the store. */
#define RATELIMIT_STORE_PRUNE_AGE_S (24 * 3600)
/* The username key prefix of master-form logins (RATELIMIT_KIND_MASTER). */
#define RATELIMIT_STORE_MASTER_PREFIX "master:"

struct store;
struct ratelimit_store;

/* st must outlive the result; cfg is copied. Sets opts->hooks to hooks that
   live as long as the result (the other fields of opts are left alone). */
struct ratelimit_store *ratelimit_store_new(struct store *st, const struct config_rate_limit *cfg,
					    struct ratelimit_options *opts);
/* rl: the limiter made with those options. Starts the watcher thread. */
void ratelimit_store_attach(struct ratelimit_store *rs, struct ratelimit *rl);
/* Stops the watcher, frees, sets *rs = NULL; accepts NULL. Call before
   freeing the limiter. */
void ratelimit_store_free(struct ratelimit_store **rs);

/* Store errors so far (each one refused an attempt, or lost a block write). */
uint64_t ratelimit_store_error_count(struct ratelimit_store *rs);
/* The last store error not yet taken, copied into buf; false when none. */
bool ratelimit_store_take_error(struct ratelimit_store *rs, char *buf, size_t size);

#endif
