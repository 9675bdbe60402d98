#include "deliver.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/arena.h"
#include "../lib/str.h"
#include "../lib/util.h"
#include "../mime/mime.h"
#include "../store/blob.h"
#include "../store/store.h"

static void set_status(struct deliver_result *res, enum deliver_status status, const char *what,
		       const char *msg)
{
	res->status = status;
	/* what is a short static word; msg is cut to fit */
	snprintf(res->reason, sizeof(res->reason), "%.16s%s%.256s", what,
		 msg[0] != '\0' ? ": " : "", msg);
}

static void sha256_hex(const char *data, size_t len, char out[65])
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

/* "Name <mailbox@domain>" style text of a sort address, for SEARCH. */
static const char *addr_text(struct arena *a, const struct mime_sort_addr *sa)
{
	if (sa->mailbox == NULL)
		return NULL;
	return arena_printf(a, "%s%s%s@%s%s", sa->display != NULL ? sa->display : "",
			    sa->display != NULL ? " <" : "", sa->mailbox,
			    sa->domain != NULL ? sa->domain : "", sa->display != NULL ? ">" : "");
}

static const char *sort_key(struct arena *a, const struct mime_sort_addr *sa)
{
	return sa->mailbox == NULL ? NULL : arena_strdup(a, sa->mailbox);
}

static int fill_headers(struct arena *a, const struct mime_message *m, struct store_headers *h)
{
	struct buf b;

	buf_init(&b, 0);
	if (mime_envelope(m->root->envelope, &b) < 0)
		goto fail;
	h->envelope = arena_strndup(a, b.data, b.len);
	buf_clear(&b);
	if (mime_bodystructure(m->root, true, &b) < 0)
		goto fail;
	h->bodystructure = arena_strndup(a, b.data, b.len);
	buf_clear(&b);
	for (unsigned i = 0; i < m->reference_count; i++)
		(void)buf_printf(&b, "%s<%s>", i == 0 ? "" : " ", m->references[i]);
	h->references = b.len > 0 ? arena_strndup(a, b.data, b.len) : NULL;
	buf_free(&b);
	h->subject = m->subject;
	h->base_subject = m->base_subject;
	h->from = addr_text(a, &m->from);
	h->to = addr_text(a, &m->to);
	h->cc = addr_text(a, &m->cc);
	h->sort_from = sort_key(a, &m->from);
	h->sort_to = sort_key(a, &m->to);
	h->sort_cc = sort_key(a, &m->cc);
	h->display_from = m->from.display;
	h->display_to = m->to.display;
	h->message_id = m->message_id;
	h->in_reply_to = m->in_reply_to;
	h->preview = m->preview;
	h->sent_date = m->date;
	return 0;
fail:
	buf_free(&b);
	return -1;
}

void deliver_message(const struct mail_services *ms, const char *address, const char *mailbox,
		     const char *data, size_t len, uint32_t flags, int64_t internal_date,
		     struct deliver_result *res)
{
	deliver_message_keywords(ms, address, mailbox, data, len, flags, NULL, 0, internal_date,
				 res);
}

void deliver_message_keywords(const struct mail_services *ms, const char *address,
			      const char *mailbox, const char *data, size_t len, uint32_t flags,
			      const char *const *keywords, size_t keyword_count,
			      int64_t internal_date, struct deliver_result *res)
{
	struct arena *a = arena_new(16384);
	struct store_account account;
	struct store_mailbox mbox;
	struct store_message_new msg = { 0 };
	struct store_append item = { 0 };
	struct store_error serr;
	struct blob_error berr;
	struct mime_message *m;
	struct buf key;
	const char *error;
	char hash[65];
	int64_t account_id;

	*res = (struct deliver_result){ .status = DELIVER_OK };
	buf_init(&key, 1024);
	if (store_account_find(ms->store, address, false, &account_id, &serr) < 0 ||
	    store_account_get(ms->store, account_id, a, &account, &serr) < 0) {
		set_status(res, serr.code == STORE_NOT_FOUND ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL,
			   "account", serr.msg);
		goto out;
	}
	if (store_mailbox_get(ms->store, account_id, mailbox != NULL ? mailbox : "INBOX", a, &mbox,
			      &serr) < 0 || mbox.is_noselect) {
		if (mailbox == NULL || (serr.code != STORE_NOT_FOUND && !mbox.is_noselect) ||
		    store_mailbox_get(ms->store, account_id, "INBOX", a, &mbox, &serr) < 0) {
			set_status(res, DELIVER_TEMPFAIL, "mailbox", serr.msg);
			goto out;
		}
	}
	if (mime_parse(data, len, a, &m, &error) < 0) {
		set_status(res, DELIVER_PERMFAIL, "message", error);
		goto out;
	}
	sha256_hex(data, len, hash);
	/* the body first: a crash after this leaves only an unreferenced blob */
	if (blob_key_from_address(account.primary_address, hash, &key, &berr) < 0 ||
	    blob_put(ms->blob, key.data, data, len, &berr) < 0) {
		set_status(res, berr.code == BLOB_PERMANENT ? DELIVER_PERMFAIL
								: DELIVER_TEMPFAIL,
			   "blob", berr.msg);
		goto out;
	}
	msg.flags = flags;
	msg.keywords = keywords;
	msg.keyword_count = keyword_count;
	msg.internal_date = internal_date != 0 ? internal_date : (int64_t)time(NULL);
	msg.size = m->size;
	msg.content_hash = hash;
	/* which key encrypts it, so that rotation can find the old ones */
	if (blob_key_id(ms->blob) != NULL)
		msg.blob_key_id = (uint32_t)strtoul(blob_key_id(ms->blob), NULL, 16);
	if (fill_headers(a, m, &msg.headers) < 0) {
		set_status(res, DELIVER_PERMFAIL, "message", "structure too large");
		goto out;
	}
	msg.body_text = m->text;
	item.mailbox_id = mbox.id;
	item.msg = &msg;
	if (store_append_batch(ms->store, &item, 1, &serr) < 0) {
		set_status(res, serr.code == STORE_INVALID ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL,
			   "store", serr.msg);
		goto out;
	}
	res->uid = item.uid_r;
	res->uidvalidity = item.uidvalidity_r;
	snprintf(res->mailbox, sizeof(res->mailbox), "%s", mbox.name);
out:
	buf_free(&key);
	arena_free(&a);
}
