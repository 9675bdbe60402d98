#ifndef SORA_DELIVER_H
#define SORA_DELIVER_H

/* Storing a message for an account: the one write path shared by LMTP
   delivery, sora-admin and (later) IMAP APPEND.

     parse once (src/mime) → content hash (SHA-256) → body into the blob
     store under domain/localpart/<hash> → metadata row (src/store), one
     transaction allocating UID and MODSEQ

   The body is durable in the blob store before the metadata commits, so a
   crash between the two leaves an unreferenced blob (cleanup removes it),
   never a message without a body. A body stored twice for one account is
   written once (content-addressed keys). Blocking: call from a worker. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct blob;
struct worker_pool;
struct config;
struct deliver_records;
struct relay_queue;

/* What protocol sessions get: the stores and the pool to call them on. */
struct mail_services {
	struct store *store;
	struct blob *blob;
	struct worker_pool *workers;
	/* small file-backed tables (retry absorption, vacation replies,
	   redirect counts) under the data directory; NULL: none kept */
	struct deliver_records *records;
	/* [relay]: where redirects and vacation replies go; NULL when no
	   relay is configured (they fall back to INBOX, as in Sora) */
	struct relay_queue *relay;
	const struct config *cfg;
};

/* Opens the metadata store ([database]) and the blob store ([storage],
   [s3]) of cfg into ms (workers untouched): creates the database's
   directory, checks the encryption key against the bucket's key check
   object. 0, or -1 with a message naming the file and key in err. */
int mail_services_open(const struct config *cfg, struct mail_services *ms, char *err,
		       size_t err_size);
/* The store settings of cfg's [database] (driver, SQLite path, PostgreSQL
   conninfos and pool sizes), for sora and sora-admin alike. */
struct store_settings;
void mail_store_settings(const struct config *cfg, struct store_settings *set);
void mail_services_close(struct mail_services *ms);

enum deliver_status {
	DELIVER_OK,
	DELIVER_TEMPFAIL,  /* storage or database trouble: try again later */
	DELIVER_PERMFAIL,  /* no such account, message refused */
	DELIVER_REJECTED,  /* Sieve reject/ereject: reply holds the reason */
	DELIVER_LOOP,      /* X-Sora-Loop came back to us, or too many hops */
	DELIVER_OVERQUOTA, /* the account's QUOTA (storage or messages) would be exceeded */
};

struct deliver_result {
	enum deliver_status status;
	uint32_t uid, uidvalidity;
	char mailbox[256];   /* where it went (after fallback to INBOX) */
	char reason[320];    /* for logs and the protocol's error text */
	char reply[320];     /* DELIVER_REJECTED: "<rcpt> reason", one line, printable */
	bool duplicate;      /* a retry of a delivery already stored: nothing new */
};

/* Stores data (len bytes, CRLF or LF lines as received) into mailbox of
   the account owning address (NULL mailbox: INBOX; a mailbox that does
   not exist: INBOX too). flags: enum store_flag bits. internal_date 0:
   now. */
void deliver_message(const struct mail_services *ms, const char *address, const char *mailbox,
		     const char *data, size_t len, uint32_t flags, int64_t internal_date,
		     struct deliver_result *res);
/* The same with IMAP keywords (imap4flags) as well. */
void deliver_message_keywords(const struct mail_services *ms, const char *address,
			      const char *mailbox, const char *data, size_t len, uint32_t flags,
			      const char *const *keywords, size_t keyword_count,
			      int64_t internal_date, struct deliver_result *res);

/* A message arriving over LMTP for one recipient. */
struct deliver_incoming {
	const char *mail_from;  /* "" for the null sender */
	const char *rcpt;       /* RCPT TO as given, +detail kept */
	const char *auth_user;  /* XCLIENT LOGIN, "" when none */
	const char *data;       /* our Received: header, then the bytes as received */
	size_t len;
	size_t body_offset;     /* data + body_offset: the bytes as received */
};

/* The delivery pipeline for one recipient: account lookup (+detail
   stripped), retry absorption (the same bytes for the same account within
   DELIVER_RETRY_WINDOW count as delivered, res->duplicate), Delivered-To,
   then the Sieve scripts and their actions when built with Sieve, else
   INBOX. DELIVER_OK only once everything asked for is durable. */
#define DELIVER_RETRY_WINDOW (5 * 24 * 3600) /* Postfix's maximal_queue_lifetime */
void deliver_incoming(const struct mail_services *ms, const struct deliver_incoming *in,
		      struct deliver_result *res);

/* deliver_prepare() results. */
#define DELIVER_PREPARE_REFUSED (-1)  /* the message itself: unparseable, too complex */
#define DELIVER_PREPARE_TEMPFAIL (-2) /* the blob store: try again later */

struct arena;
struct store_message_new;

/* Parses data once, stores the body in the blob store under
   primary_address's key and fills msg's size, content hash, blob key id,
   headers and body text (from arena a); flags, keywords and internal date
   are the caller's. 0, or DELIVER_PREPARE_* with err set. Blocking. */
int deliver_prepare(const struct mail_services *ms, const char *primary_address, const char *data,
		    size_t len, struct arena *a, struct store_message_new *msg, char *err,
		    size_t err_size);
#endif
