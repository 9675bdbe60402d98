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

/* What protocol sessions get: the stores and the pool to call them on. */
struct mail_services {
	struct store *store;
	struct blob *blob;
	struct worker_pool *workers;
};

/* Opens the metadata store ([database]) and the blob store ([storage],
   [s3]) of cfg into ms (workers untouched): creates the database's
   directory, checks the encryption key against the bucket's key check
   object. 0, or -1 with a message naming the file and key in err. */
int mail_services_open(const struct config *cfg, struct mail_services *ms, char *err,
		       size_t err_size);
void mail_services_close(struct mail_services *ms);

enum deliver_status {
	DELIVER_OK,
	DELIVER_TEMPFAIL,  /* storage or database trouble: try again later */
	DELIVER_PERMFAIL,  /* no such account, message refused */
};

struct deliver_result {
	enum deliver_status status;
	uint32_t uid, uidvalidity;
	char mailbox[256];   /* where it went (after fallback to INBOX) */
	char reason[320];    /* for logs and the protocol's error text */
};

/* Stores data (len bytes, CRLF or LF lines as received) into mailbox of
   the account owning address (NULL mailbox: INBOX; a mailbox that does
   not exist: INBOX too). flags: enum store_flag bits. internal_date 0:
   now. */
void deliver_message(const struct mail_services *ms, const char *address, const char *mailbox,
		     const char *data, size_t len, uint32_t flags, int64_t internal_date,
		     struct deliver_result *res);

#endif
