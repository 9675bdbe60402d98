#ifndef SORA_RELAY_RELAY_H
#define SORA_RELAY_RELAY_H

/* The relay queue: where Sieve redirects and vacation replies wait until
   the configured SMTP relay ([relay] smtp_host) took them. Sora's on-disk
   layout under [relay.queue] path:

     pending/<id>.msg + <id>.json      waiting (next_retry in the JSON)
     processing/<id>.msg + <id>.json   being sent (back to pending after a
                                       crash, at start-up)
     failed/<id>.msg + <id>.json       gave up (max_attempts or a 5xx)

   The JSON holds id, from, to, type ("redirect" | "vacation"), queued_at,
   attempts, last_attempt, next_retry and errors. relay_queue_add() returns
   only once both files are fsynced into pending/ (and the directory
   too), so an LMTP 250 given after it survives a crash. A worker thread
   sends with libcurl's SMTP client (implicit TLS, STARTTLS, AUTH), retries
   with the configured backoff (1m 5m 15m 1h 6h 24h), gives up after
   max_attempts, and stops trying for circuit_breaker_timeout after
   circuit_breaker_threshold failures in a row. Thread-safe. */

#include <stdbool.h>
#include <stddef.h>

struct config;
struct relay_queue;

#define RELAY_ID_LEN 32

/* NULL with err filled when the directories cannot be made. default_path:
   used when [relay.queue] path is not set. */
struct relay_queue *relay_queue_open(const struct config *cfg, const char *default_path,
				     char *err, size_t err_size);
/* Stops the worker (when started) and frees. */
void relay_queue_close(struct relay_queue **q);

/* Starts the worker thread (sora; not sora-admin). 0 or -1. */
int relay_queue_start(struct relay_queue *q);
/* Wakes the worker now (after an enqueue) instead of at the next interval. */
void relay_queue_kick(struct relay_queue *q);

/* Durably queues data (CRLF lines, complete message) from → to. type:
   "redirect" or "vacation". 0 with id_r set (RELAY_ID_LEN + 1 bytes), or
   -1 with err filled (nothing left behind then). */
int relay_queue_add(struct relay_queue *q, const char *type, const char *from, const char *to,
		    const char *data, size_t len, char *id_r, char *err, size_t err_size);

/* One pass over pending/ (the worker's; tests call it too). */
void relay_queue_run_once(struct relay_queue *q);

#endif
