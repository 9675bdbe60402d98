#ifndef SORA_DELIVER_PRIVATE_H
#define SORA_DELIVER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "deliver.h"

struct arena;

/* One recipient's delivery in progress (incoming.c → deliver-sieve.c). */
struct deliver_ctx {
	const struct mail_services *ms;
	const struct deliver_incoming *in;
	struct arena *arena;
	int64_t account_id;
	const char *primary;  /* the account's primary address */
	const char *data;     /* Delivered-To + Received + the bytes as received */
	size_t len;
};

void deliver_sha256_hex(const char *data, size_t len, char out[65]);

/* Runs the scripts and performs their actions (or stores into INBOX when
   built without Sieve); fills res. */
void deliver_run(struct deliver_ctx *ctx, struct deliver_result *res);

#endif
