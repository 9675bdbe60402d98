#ifndef SORA_RELAY_PRIVATE_H
#define SORA_RELAY_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/str.h"

/* One queue entry's JSON (relay-json.c). Strings are malloc'ed. */
struct relay_entry {
	char *id, *from, *to, *type;
	int64_t queued_at, last_attempt, next_retry; /* Unix seconds; 0 = none */
	unsigned attempts;
	char **errors;
	size_t error_count;
};

void relay_entry_free(struct relay_entry *e);
/* Appends the entry as one JSON object (RFC 3339 times, UTC). */
void relay_entry_to_json(const struct relay_entry *e, struct buf *out);
/* 0, or -1 when text is not such an object. */
int relay_entry_from_json(const char *text, size_t len, struct relay_entry *e);

/* relay-smtp.c: one message to one recipient over SMTP. */
struct relay_smtp {
	const char *host_port;
	bool tls, starttls, verify;
	const char *username, *password;
};

enum relay_send_result { RELAY_SENT, RELAY_TEMPFAIL, RELAY_PERMFAIL };

enum relay_send_result relay_smtp_send(const struct relay_smtp *s, const char *from,
				       const char *to, const char *data, size_t len, char *err,
				       size_t err_size);

#endif
