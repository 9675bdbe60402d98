/* The part of storing a message that does not depend on where it goes:
   parse once, hash, body into the blob store, and the metadata columns
   SEARCH, SORT and FETCH read. LMTP delivery, sora-admin and IMAP APPEND
   all come through here, so mail stored by any of them looks the same. */

#include "deliver.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/arena.h"
#include "../lib/str.h"
#include "../mime/mime.h"
#include "../store/blob.h"
#include "../store/store.h"

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
	/* part offsets: FETCH of a section then reads only its bytes */
	buf_init(&b, 0);
	if (mime_parts_encode(m->root, &b) < 0)
		goto fail;
	h->parts_len = b.len;
	h->parts = arena_alloc(a, b.len);
	memcpy((void *)h->parts, b.data, b.len);
	buf_free(&b);
	return 0;
fail:
	buf_free(&b);
	return -1;
}

int deliver_prepare(const struct mail_services *ms, const char *primary_address, const char *data,
		    size_t len, struct arena *a, struct store_message_new *msg, char *err,
		    size_t err_size)
{
	struct blob_error berr = { 0 };
	struct mime_message *m;
	const char *error;
	char *hash = arena_alloc(a, 65);
	struct buf key;
	int ret;

	if (mime_parse(data, len, a, &m, &error) < 0) {
		snprintf(err, err_size, "message: %s", error);
		return DELIVER_PREPARE_REFUSED;
	}
	if (fill_headers(a, m, &msg->headers) < 0) {
		snprintf(err, err_size, "message: structure too large");
		return DELIVER_PREPARE_REFUSED;
	}
	sha256_hex(data, len, hash);
	/* the body first: a crash after this leaves only an unreferenced blob */
	buf_init(&key, BLOB_KEY_MAX);
	ret = blob_key_from_address(primary_address, hash, &key, &berr);
	if (ret == 0)
		ret = blob_put(ms->blob, key.data, data, len, &berr);
	buf_free(&key);
	if (ret < 0) {
		snprintf(err, err_size, "blob %s: %s", blob_err_name(berr.code), berr.msg);
		return berr.code == BLOB_PERMANENT ? DELIVER_PREPARE_REFUSED
						   : DELIVER_PREPARE_TEMPFAIL;
	}
	msg->size = m->size;
	msg->content_hash = hash;
	msg->body_text = m->text;
	/* which key encrypts it, so that rotation can find the old ones */
	if (blob_key_id(ms->blob) != NULL)
		msg->blob_key_id = (uint32_t)strtoul(blob_key_id(ms->blob), NULL, 16);
	return 0;
}
