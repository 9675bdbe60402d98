#ifndef SORA_AUTH_RATELIMIT_H
#define SORA_AUTH_RATELIMIT_H

/* The brute-force limiter for logins: the seed's promise (security guide
   "Authentication Rate Limiting", sora-security §1.1-1.2), in memory.

   Keys. An IP key is the client address (the PROXY-protocol one behind a
   trusted proxy) as text; ratelimit_ip_key() normalises it: IPv4 per
   address, IPv4-mapped IPv6 as IPv4, IPv6 grouped by its /64 (any other
   prefix via ratelimit_options). Sora keys IPv6 per address; one host
   usually owns a whole /64, so per-address keys would let it make 2^64
   fresh attempts and flood the table. A username key is the canonical
   address from sasl_login_name_parse() (lower-cased here again, ASCII),
   or for a master-form login the master name with RATELIMIT_KIND_MASTER:
   the two kinds are separate namespaces, so failed master logins never
   count against the target account (they do count against the IP).
   Keys longer than RATELIMIT_KEY_MAX bytes are cut there.

   Per attempt the caller does:
	v = ratelimit_check(rl, ip, user, kind, now, &delay);
	wait delay ms on a loop timer (never a sleeping thread), then
	if v != RATELIMIT_ALLOW: answer exactly like a wrong password, record
	nothing; else verify, then ratelimit_record_success() or _failure().
   The delay applies whether or not the attempt is refused, so a refused
   attempt looks and times like a wrong password.

   Rules, with c = struct config_rate_limit (0 in a count or duration turns
   that rule off; explicit zeros are kept, see config.h):
   - IP streak: failures of an IP since its last success, forgotten once
     no failure came for ip_window (the seed's in-memory ipFailureCounts,
     whose sweep dropped records idle for ip_window_duration; here the
     reset is exact rather than at the next sweep). With ip_window 0 the
     streak is forgotten after RATELIMIT_STREAK_TTL_DEFAULT.
   - Progressive delay: streak n >= delay_start_threshold gives
     initial_delay * delay_multiplier^(n - delay_start_threshold), capped
     at max_delay (defaults 2, 1s, 2.0, 30s: 0, 0, 1s, 2s, 4s ... 30s before
     attempts 1, 2, 3, 4, 5 ...). As in the seed the delay comes before
     every attempt of that IP, refused or not.
   - Fast block: the failure that brings the streak to fast_block_threshold
     blocks the IP for fast_block_duration (threshold 10: the 11th attempt
     is refused, even with the right password). As in the seed the streak
     survives the block, so the first failure after it blocks again.
   - IP window: max_attempts_per_ip failures within the last ip_window
     (a true sliding window, as the seed's COUNT over auth_attempts rows)
     refuse further attempts from that IP until the oldest leaves it.
   - Username window: max_attempts_per_username failures of a username
     (from any IP) within username_window refuse further attempts for it
     (with 5: the 6th, even with the right password), until the window
     slides. This is the seed doc's behaviour, and we follow the doc.
     Sora HEAD (5199484) later dropped it (usernames never block, only
     IP+username pairs) because it let anyone lock an owner out; we keep
     it but soften that: an IP key from which the username logged in
     successfully within known_address_ms (default 7 days; up to
     RATELIMIT_KNOWN_ADDRS per username, most recent kept) is not refused
     by this rule (the other rules still apply). The list is best-effort
     memory: it is lost when the username entry is evicted.
   - Success: forgets the IP's streak (so its delay) and any fast block,
     forgets the username's failures and remembers the IP as known. It
     does not forget the IP's window: in the seed those were database
     rows that still counted, and it keeps an attacker from resetting the
     IP limit by logging into an account of its own between guesses.
   Where the seed code and the doc differ we follow the doc ("tracks failed
   login attempts per IP and per username, introducing progressive delays
   and temporary blocks"): the seed code enforced the per-IP and
   per-username windows only through database COUNT queries, skipped (so
   allowing) while the database was marked unhealthy and failing open on a
   query error; here both windows always apply, and a hook that cannot
   reach its database fails closed. Unset config keys take defaults for
   every server (the seed code left them zero for most).

   Windows are exact up to RATELIMIT_RING_MAX: a count above it is treated
   as RATELIMIT_RING_MAX (stricter). Window edges: a failure at t counts
   for now < t + window.

   Memory is bounded: at most max_ip_entries IP entries and
   max_username_entries username entries (both kinds together), each with
   at most one timestamp per counted attempt; at the cap the least recently
   used entry of that pool is evicted (its state is lost: Sora does the
   same). ratelimit_check() never creates an entry; failures and
   successes do. ratelimit_expire() drops entries with nothing left to
   remember; call it every few minutes.

   Threads: every function may be called from any thread; one mutex guards
   the tables, statistics are atomic, hooks run outside the lock. Time is
   always passed in (CLOCK_MONOTONIC milliseconds, util_now_ms()); no
   function sleeps or does I/O. With enabled = false, check allows with no
   delay and record does nothing. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"

#define RATELIMIT_KEY_MAX 255
#define RATELIMIT_RING_MAX 1024
#define RATELIMIT_KNOWN_ADDRS 4
#define RATELIMIT_MAX_IP_ENTRIES_DEFAULT 100000
#define RATELIMIT_MAX_USERNAME_ENTRIES_DEFAULT 100000
#define RATELIMIT_KNOWN_ADDRESS_MS_DEFAULT (7ULL * 24 * 3600 * 1000)
#define RATELIMIT_STREAK_TTL_DEFAULT (15ULL * 60 * 1000)
#define RATELIMIT_IPV6_PREFIX_DEFAULT 64

enum ratelimit_kind {
	RATELIMIT_KIND_USER,   /* username key = the account's address */
	RATELIMIT_KIND_MASTER, /* username key = the master user name */
	RATELIMIT_KIND_COUNT
};

enum ratelimit_verdict {
	RATELIMIT_ALLOW,
	RATELIMIT_BLOCKED_FAST,     /* IP fast block */
	RATELIMIT_BLOCKED_IP,       /* IP window */
	RATELIMIT_BLOCKED_USERNAME, /* username window */
	RATELIMIT_BLOCKED_SHARED,   /* refused by the hooks (another node, or fail-closed) */
	RATELIMIT_VERDICT_COUNT
};

/* "allow", "fast_block", "ip_window", "username_window", "shared": for logs
   and metrics, never for the client. */
const char *ratelimit_verdict_name(enum ratelimit_verdict verdict);

/* Where a shared store (PostgreSQL: every node sees a block within a
   second; SQLite: survives a restart) plugs in later. Called outside the
   limiter's lock with normalised keys (user_key "" when none); may block,
   so the limiter is then used from worker threads only. */
struct ratelimit_hooks {
	void *context;
	/* After a local ALLOW: the shared verdict. On a database error return
	   RATELIMIT_BLOCKED_SHARED (fail closed for that attempt) and let the
	   caller log it. NULL: not asked. */
	enum ratelimit_verdict (*check)(void *context, const char *ip_key, const char *user_key,
					enum ratelimit_kind kind, uint64_t now_ms);
	/* After every recorded failure or success. NULL: not told. */
	void (*record)(void *context, const char *ip_key, const char *user_key,
		       enum ratelimit_kind kind, bool success, uint64_t now_ms);
};

/* Zero fields take the defaults above. */
struct ratelimit_options {
	size_t max_ip_entries;
	size_t max_username_entries;
	uint64_t known_address_ms;
	unsigned ipv6_prefix_len; /* 1..128; 128 = per address as Sora */
	const struct ratelimit_hooks *hooks; /* copied; NULL: none */
};

struct ratelimit_stats {
	size_t ip_entries;        /* tracked now */
	size_t username_entries;  /* both kinds */
	size_t blocked_ips;       /* fast-blocked now */
	uint64_t verdicts[RATELIMIT_VERDICT_COUNT]; /* ratelimit_check() results so far */
	uint64_t failures, successes; /* recorded so far */
	uint64_t evicted;         /* entries dropped at the cap */
	uint64_t expired;         /* entries dropped by ratelimit_expire() */
};

struct ratelimit;

/* cfg is copied. */
struct ratelimit *ratelimit_new(const struct config_rate_limit *cfg);
/* opts NULL: all defaults. */
struct ratelimit *ratelimit_new_with(const struct config_rate_limit *cfg,
				     const struct ratelimit_options *opts);
/* Frees, sets *rl = NULL; accepts NULL. No other thread may use it. */
void ratelimit_free(struct ratelimit **rl);

/* ip: address text (NULL or "": no IP rules). username: NULL or "" for
   none (no username rule). *delay_ms_r: how long to wait before answering,
   set for every verdict. */
enum ratelimit_verdict ratelimit_check(struct ratelimit *rl, const char *ip, const char *username,
				       enum ratelimit_kind kind, uint64_t now_ms,
				       uint64_t *delay_ms_r);
void ratelimit_record_failure(struct ratelimit *rl, const char *ip, const char *username,
			      enum ratelimit_kind kind, uint64_t now_ms);
void ratelimit_record_success(struct ratelimit *rl, const char *ip, const char *username,
			      enum ratelimit_kind kind, uint64_t now_ms);

/* Drops entries whose blocks, streaks, windows and known addresses are all
   over; returns how many. */
size_t ratelimit_expire(struct ratelimit *rl, uint64_t now_ms);

/* Counts as of now_ms (a scan under the lock: for metrics scrapes). */
void ratelimit_get_stats(struct ratelimit *rl, uint64_t now_ms, struct ratelimit_stats *stats_r);

/* The key the limiter uses for ip ("" for NULL), NUL-terminated in out,
   cut to out_size - 1 bytes; returns its length. IPv4 "192.0.2.7";
   "[2001:DB8::1%eth0]" with prefix 64 -> "2001:db8::/64"; with 128 ->
   "2001:db8::1"; "::ffff:192.0.2.7" -> "192.0.2.7"; anything that is not
   an IP address is kept as is. */
size_t ratelimit_ip_key(const char *ip, unsigned ipv6_prefix_len, char *out, size_t out_size);

#endif
