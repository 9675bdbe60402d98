#ifndef SORA_DELIVER_RECORDS_H
#define SORA_DELIVER_RECORDS_H

/* Small durable per-account record tables kept as files under the data
   directory, for delivery bookkeeping that needs no query language:
     dir/<kind>/<account id>/<sha256 hex of key>   (content: Unix time)
   kinds: "delivered" (retry absorption), "vacation" (one reply per sender
   and period), "redirect" (rate limit). A record counts from its mtime.
   Writes are fsynced (file and directory) before returning. Thread-safe
   (the file system serialises). Blocking: call from workers. */

#include <stddef.h>

/* Vacation replies and duplicate ids are remembered this long at most
   (longer :days periods are cut to it). */
#define DELIVER_RECORD_MAX_AGE (90 * 24 * 3600)
#include <stdint.h>

struct deliver_records;

/* Creates dir when missing. NULL with err filled on failure. */
struct deliver_records *deliver_records_open(const char *dir, char *err, size_t err_size);
void deliver_records_close(struct deliver_records **r);

/* 1: key recorded at or after since; 0: not; -1: I/O error. */
int deliver_record_seen(struct deliver_records *r, const char *kind, int64_t account_id,
			const char *key, int64_t since);
/* Records key now (replacing an older record). 0 or -1. */
int deliver_record_add(struct deliver_records *r, const char *kind, int64_t account_id,
		       const char *key);
/* Records of the account made at or after since. 0 or -1. */
int deliver_record_count(struct deliver_records *r, const char *kind, int64_t account_id,
			 int64_t since, unsigned *count_r);
/* Removes records of kind (NULL: every kind) older than before. */
void deliver_records_prune(struct deliver_records *r, const char *kind, int64_t before);

#endif
