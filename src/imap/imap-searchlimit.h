#ifndef SORA_IMAP_SEARCHLIMIT_H
#define SORA_IMAP_SEARCHLIMIT_H

/* Per-account SEARCH rate limit (Sora's limits.search_rate_limit_per_min
   and search_rate_limit_window): at most `limit` searches (SEARCH, SORT,
   THREAD, ESEARCH) per account in any sliding window, across every session
   of one server. Searches are the expensive commands; the limit keeps one
   account's script from starving the rest. Thread-safe. Memory: one entry
   per account that searched within the window. */

#include <stdint.h>

struct search_limiter;

/* limit 0: no limit (search_limiter_take always allows). */
struct search_limiter *search_limiter_new(uint32_t limit, uint64_t window_ms);
void search_limiter_free(struct search_limiter **sl);

/* Records a search at now_ms (any monotonic clock) and returns 0, or
   refuses it and returns the milliseconds until one becomes allowed. */
uint64_t search_limiter_take(struct search_limiter *sl, int64_t account_id, uint64_t now_ms);

#endif
