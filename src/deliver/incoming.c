/* The LMTP delivery pipeline for one recipient (deliver.h,
   deliver_incoming): lookup, retry absorption, Delivered-To, then Sieve
   (deliver-sieve.c) or INBOX. Runs on a worker; blocking is fine. */
#include "deliver.h"

#include <ctype.h>
#include <stdatomic.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/arena.h"
#include "../lib/str.h"
#include "../config/config.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "deliver-private.h"
#include "records.h"

void deliver_sha256_hex(const char *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* The account's own QUOTA limits, else the defaults of the IMAP server
   section (quota_storage / quota_messages), as IMAP's GETQUOTA reports
   them: mail that IMAP would refuse with [OVERQUOTA] is not delivered. */
static bool over_quota(const struct config *cfg, const struct store_account *acc, size_t len)
{
	uint64_t bytes = acc->quota_storage, messages = acc->quota_messages;

	for (size_t i = 0; cfg != NULL && i < cfg->server_count; i++) {
		if (cfg->servers[i].type != SERVER_IMAP)
			continue;
		if (bytes == 0)
			bytes = cfg->servers[i].quota_storage;
		if (messages == 0)
			messages = cfg->servers[i].quota_messages;
		break;
	}
	if (bytes != 0 && acc->total_bytes + len > bytes)
		return true;
	return messages != 0 && acc->message_count + 1 > messages;
}

/* At most once an hour per process, by whichever delivery gets there
   first: records past their use are removed (a directory walk). */
static void records_maybe_prune(const struct mail_services *ms)
{
	static _Atomic int64_t last;
	int64_t now = (int64_t)time(NULL), prev = atomic_load(&last);
	uint64_t window_s = ms->cfg != NULL ? ms->cfg->sieve.redirect_rate_window_ms / 1000 : 3600;

	if (ms->records == NULL || now - prev < 3600 ||
	    !atomic_compare_exchange_strong(&last, &prev, now))
		return;
	deliver_records_prune(ms->records, "delivered", now - DELIVER_RETRY_WINDOW);
	deliver_records_prune(ms->records, "redirect", now - (int64_t)window_s);
	/* vacation periods and duplicate windows: up to DELIVER_RECORD_MAX_AGE */
	deliver_records_prune(ms->records, "vacation", now - DELIVER_RECORD_MAX_AGE);
	deliver_records_prune(ms->records, "duplicate", now - DELIVER_RECORD_MAX_AGE);
}

void deliver_incoming(const struct mail_services *ms, const struct deliver_incoming *in,
		      struct deliver_result *res)
{
	struct arena *a = arena_new(4096);
	struct store_account account;
	struct store_error serr;
	struct deliver_ctx ctx = { .ms = ms, .in = in, .arena = a };
	char hash[65], key[400];
	struct buf msg;

	*res = (struct deliver_result){ .status = DELIVER_OK };
	records_maybe_prune(ms);
	buf_init(&msg, 0);
	if (store_account_find(ms->store, in->rcpt, false, &ctx.account_id, &serr) < 0 ||
	    store_account_get(ms->store, ctx.account_id, a, &account, &serr) < 0) {
		res->status = serr.code == STORE_NOT_FOUND ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL;
		snprintf(res->reason, sizeof(res->reason), "account: %s", serr.msg);
		goto out;
	}
	ctx.primary = account.primary_address;
	if (over_quota(ms->cfg, &account, in->len)) {
		res->status = DELIVER_OVERQUOTA;
		snprintf(res->reason, sizeof(res->reason),
			 "quota: %llu messages, %llu bytes stored",
			 (unsigned long long)account.message_count,
			 (unsigned long long)account.total_bytes);
		goto out;
	}
	/* an MTA that lost our 250 (crash, timeout) sends the same bytes
	   again: absorb it instead of storing a second copy */
	deliver_sha256_hex(in->data + in->body_offset, in->len - in->body_offset, hash);
	/* per recipient as given: alice@ and alice+news@ in one transaction
	   are two deliveries, the same RCPT with the same bytes is a retry */
	snprintf(key, sizeof(key), "%lld:%.256s:%s", (long long)ctx.account_id, in->rcpt, hash);
	for (char *p = key; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (ms->records != NULL &&
	    deliver_record_seen(ms->records, "delivered", ctx.account_id, key,
				(int64_t)time(NULL) - DELIVER_RETRY_WINDOW) == 1) {
		res->duplicate = true;
		snprintf(res->mailbox, sizeof(res->mailbox), "INBOX");
		goto out;
	}
	/* Delivered-To on top, as Postfix's local(8) and Dovecot do */
	(void)buf_printf(&msg, "Delivered-To: %s\r\n", ctx.primary);
	(void)buf_append(&msg, in->data, in->len);
	ctx.data = msg.data;
	ctx.len = msg.len;
	deliver_run(&ctx, res);
	if (res->status == DELIVER_OK && ms->records != NULL)
		/* after the commit: a crash in between means one duplicate
		   on retry, never a loss */
		(void)deliver_record_add(ms->records, "delivered", ctx.account_id, key);
out:
	buf_free(&msg);
	arena_free(&a);
}
