/* The "crypt" wrapper: client-side encryption of every object.

   Format (Sora's, frozen; storage/storage.go): AES-256-GCM with a 12-byte
   nonce from the CSPRNG per object, no associated data, stored as
   nonce(12) ‖ ciphertext ‖ tag(16). No header, so buckets written by Sora
   and by us are interchangeable.

   Writes stream: the source is encrypted chunk by chunk as the inner
   driver reads it. A rewind (S3 reads the body once for the payload hash,
   then again per attempt) restarts the cipher with the same key and nonce,
   which reproduces the very same bytes: no nonce is ever used for two
   different plaintexts.

   Reads are authenticated before anything is handed out: the object is
   fetched into one buffer, decrypted in place and the tag checked; only
   then do the bytes go to the caller. So a read holds one copy of the
   body (bounded by max_object_size), never two, and a tampered object or
   a wrong key gives BLOB_CORRUPT and no bytes at all. When a key fails
   and another one is to be tried, the buffer is restored by encrypting it
   again in place (GCM is CTR mode: the same keystream undoes itself).

   Keys live in this struct only, are never printed (key ids are), and
   are wiped at close. Immutable after wrap: threads share it freely, each
   call has its own cipher context. */

#include "blob-private.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOB_CRYPT_CHUNK (1024 * 1024)
#define BLOB_CRYPT_DEFAULT_MAX (256ULL * 1024 * 1024)
#define BLOB_CRYPT_CHECK_TEXT "sora key check v1\n"
#define BLOB_CRYPT_CHECK_MAX 4096

struct blob_crypt_key {
	uint8_t key[BLOB_CRYPT_KEY_LEN];
	char id[BLOB_KEY_ID_LEN + 1];
};

struct blob_crypt {
	struct blob b;
	struct blob_crypt_key current;
	struct blob_crypt_key *previous;
	size_t previous_count;
	uint64_t max_object_size;
};

/* ---- keys ---------------------------------------------------------------- */

static int blob_crypt_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int blob_crypt_parse_key(const char *name, const char *hex, uint8_t key_r[BLOB_CRYPT_KEY_LEN],
			 struct blob_error *err)
{
	size_t len;

	if (hex == NULL || hex[0] == '\0') {
		blob_error_set(err, BLOB_PERMANENT,
			       "%s: not set (64 hexadecimal characters needed)", name);
		return -1;
	}
	len = strlen(hex);
	if (len != 2 * BLOB_CRYPT_KEY_LEN) {
		blob_error_set(err, BLOB_PERMANENT,
			       "%s: must be 64 hexadecimal characters (32 bytes), "
			       "not %zu characters", name, len);
		return -1;
	}
	for (size_t i = 0; i < BLOB_CRYPT_KEY_LEN; i++) {
		int hi = blob_crypt_hexval(hex[2 * i]), lo = blob_crypt_hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			util_wipe(key_r, BLOB_CRYPT_KEY_LEN);
			blob_error_set(err, BLOB_PERMANENT,
				       "%s: must contain only hexadecimal characters (0-9, a-f)",
				       name);
			return -1;
		}
		key_r[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void blob_crypt_key_id(const uint8_t key[BLOB_CRYPT_KEY_LEN], char id_r[BLOB_KEY_ID_LEN + 1])
{
	static const char label[] = "sora blob key id";
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (HMAC(EVP_sha256(), key, BLOB_CRYPT_KEY_LEN, (const unsigned char *)label,
		 sizeof(label) - 1, mac, &mac_len) == NULL)
		REQUIRE(!"HMAC-SHA-256 failed");
	for (size_t i = 0; i < BLOB_KEY_ID_LEN / 2; i++) {
		id_r[2 * i] = hex[mac[i] >> 4];
		id_r[2 * i + 1] = hex[mac[i] & 15];
	}
	id_r[BLOB_KEY_ID_LEN] = '\0';
}

/* ---- the cipher ---------------------------------------------------------- */

static int blob_crypt_init(EVP_CIPHER_CTX *ctx, bool encrypt, const uint8_t *key,
			   const uint8_t *nonce)
{
	/* the default GCM IV length is 12 bytes: Sora's */
	if (encrypt)
		return EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 ? 0 : -1;
	return EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 ? 0 : -1;
}

/* In place over len bytes, in int-sized steps. */
static int blob_crypt_update(EVP_CIPHER_CTX *ctx, bool encrypt, uint8_t *data, size_t len)
{
	while (len > 0) {
		int n = (int)MIN(len, (size_t)BLOB_CRYPT_CHUNK), out = 0;
		int ok = encrypt ? EVP_EncryptUpdate(ctx, data, &out, data, n)
				 : EVP_DecryptUpdate(ctx, data, &out, data, n);

		if (ok != 1 || out != n)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Decrypts obj (nonce ‖ ciphertext ‖ tag) in place with key: 0 when the
   tag verifies (plaintext at obj + 12), -1 when not (obj then holds junk
   in its middle part; see blob_crypt_restore). */
static int blob_crypt_open(EVP_CIPHER_CTX *ctx, const uint8_t *key, uint8_t *obj, size_t len)
{
	size_t ct_len = len - BLOB_CRYPT_OVERHEAD;
	uint8_t *tag = obj + len - BLOB_CRYPT_TAG_LEN;
	int out = 0;

	if (blob_crypt_init(ctx, false, key, obj) < 0 ||
	    blob_crypt_update(ctx, false, obj + BLOB_CRYPT_NONCE_LEN, ct_len) < 0 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BLOB_CRYPT_TAG_LEN, tag) != 1)
		return -1;
	return EVP_DecryptFinal_ex(ctx, obj + BLOB_CRYPT_NONCE_LEN + ct_len, &out) == 1 ? 0 : -1;
}

/* Undoes a failed blob_crypt_open with the same key: CTR keystream XOR. */
static int blob_crypt_restore(EVP_CIPHER_CTX *ctx, const uint8_t *key, uint8_t *obj, size_t len)
{
	if (blob_crypt_init(ctx, true, key, obj) < 0)
		return -1;
	return blob_crypt_update(ctx, true, obj + BLOB_CRYPT_NONCE_LEN, len - BLOB_CRYPT_OVERHEAD);
}

/* Tries the current key, then the previous ones. 0 with *used_r (the key
   that worked), or -1. */
static int blob_crypt_open_any(struct blob_crypt *c, uint8_t *obj, size_t len,
			       const struct blob_crypt_key **used_r)
{
	EVP_CIPHER_CTX *ctx;
	int ret = -1;

	if (len < BLOB_CRYPT_OVERHEAD)
		return -1;
	ctx = EVP_CIPHER_CTX_new();
	REQUIRE(ctx != NULL);
	for (size_t i = 0; i <= c->previous_count; i++) {
		const struct blob_crypt_key *k = i == 0 ? &c->current : &c->previous[i - 1];

		if (blob_crypt_open(ctx, k->key, obj, len) == 0) {
			*used_r = k;
			ret = 0;
			break;
		}
		if (i < c->previous_count && blob_crypt_restore(ctx, k->key, obj, len) < 0)
			break;
	}
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* ---- put: an encrypting source --------------------------------------------- */

struct blob_crypt_istream {
	struct blob_istream in;
	struct blob_istream *src;
	EVP_CIPHER_CTX *ctx;
	const uint8_t *key;
	uint8_t nonce[BLOB_CRYPT_NONCE_LEN];
	uint8_t tag[BLOB_CRYPT_TAG_LEN];
	uint64_t src_read;
	bool src_done;
};

static int blob_crypt_istream_read(struct blob_istream *in, void *buf, size_t cap,
				   size_t *len_r, struct blob_error *err)
{
	struct blob_crypt_istream *s = (struct blob_crypt_istream *)in;
	uint64_t body_end = BLOB_CRYPT_NONCE_LEN + s->src->size;
	size_t n = 0;
	int out = 0;

	*len_r = 0;
	cap = MIN(cap, (size_t)BLOB_CRYPT_CHUNK);
	if (cap == 0 || in->pos >= in->size)
		return 0;
	if (in->pos < BLOB_CRYPT_NONCE_LEN) {
		n = MIN(cap, (size_t)(BLOB_CRYPT_NONCE_LEN - in->pos));
		memcpy(buf, s->nonce + in->pos, n);
	} else if (in->pos < body_end) {
		if (s->src->read(s->src, buf, (size_t)MIN((uint64_t)cap, body_end - in->pos), &n,
				 err) < 0)
			return -1;
		if (n == 0) {
			blob_error_set(err, BLOB_IO, "the body to store shrank while being read");
			return -1;
		}
		if (EVP_EncryptUpdate(s->ctx, buf, &out, buf, (int)n) != 1 || (size_t)out != n)
			goto fail;
		s->src_read += n;
	} else {
		uint64_t off = in->pos - body_end;

		if (!s->src_done) {
			if (EVP_EncryptFinal_ex(s->ctx, s->tag, &out) != 1 ||
			    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, BLOB_CRYPT_TAG_LEN,
						s->tag) != 1)
				goto fail;
			s->src_done = true;
		}
		n = MIN(cap, (size_t)(BLOB_CRYPT_TAG_LEN - off));
		memcpy(buf, s->tag + off, n);
	}
	in->pos += n;
	*len_r = n;
	return 0;
fail:
	blob_error_set(err, BLOB_IO, "encryption failed");
	return -1;
}

static int blob_crypt_istream_rewind(struct blob_istream *in, struct blob_error *err)
{
	struct blob_crypt_istream *s = (struct blob_crypt_istream *)in;

	if (s->src->rewind(s->src, err) < 0)
		return -1;
	if (blob_crypt_init(s->ctx, true, s->key, s->nonce) < 0) {
		blob_error_set(err, BLOB_IO, "encryption setup failed");
		return -1;
	}
	in->pos = 0;
	s->src_read = 0;
	s->src_done = false;
	return 0;
}

static int blob_crypt_put(struct blob *b, const char *key, struct blob_istream *src,
			  struct blob_error *err)
{
	struct blob_crypt *c = (struct blob_crypt *)b;
	struct blob_crypt_istream s = {
		.in = { .size = src->size + BLOB_CRYPT_OVERHEAD, .read = blob_crypt_istream_read,
			.rewind = blob_crypt_istream_rewind, .fd = -1 },
		.src = src,
		.key = c->current.key,
	};
	int ret;

	if (RAND_bytes(s.nonce, sizeof(s.nonce)) != 1) {
		blob_error_set(err, BLOB_IO, "no random bytes for a nonce");
		return -1;
	}
	s.ctx = EVP_CIPHER_CTX_new();
	REQUIRE(s.ctx != NULL);
	ret = blob_crypt_istream_rewind(&s.in, err);
	if (ret == 0)
		ret = blob_inner_put(b, key, &s.in, err);
	EVP_CIPHER_CTX_free(s.ctx);
	return ret;
}

/* ---- get ----------------------------------------------------------------- */

/* Fetches key into out (cleared first; ceiling raised by the overhead)
   and decrypts it there: on success out holds the plaintext only. */
static int blob_crypt_fetch(struct blob_crypt *c, const char *key, struct buf *out,
			    struct blob_read_info *info_r, struct blob_error *err)
{
	const struct blob_crypt_key *used = NULL;
	size_t saved_max = out->max;
	struct blob_sink inner_sink;
	int ret;

	buf_clear(out);
	if (out->max != 0)
		out->max += BLOB_CRYPT_OVERHEAD;
	blob_sink_init_buf(&inner_sink, out);
	ret = blob_inner_get(&c->b, key, &inner_sink, info_r, err);
	out->max = saved_max;
	if (ret < 0) {
		buf_clear(out);
		return -1;
	}
	if (blob_crypt_open_any(c, (uint8_t *)out->data, out->len, &used) < 0) {
		buf_clear(out);
		blob_error_set(err, BLOB_CORRUPT,
			       "decryption failed: object damaged or written with a key we do "
			       "not have (current key id %s, %zu previous)",
			       c->current.id, c->previous_count);
		return -1;
	}
	memmove(out->data, out->data + BLOB_CRYPT_NONCE_LEN, out->len - BLOB_CRYPT_OVERHEAD);
	out->len -= BLOB_CRYPT_OVERHEAD;
	out->data[out->len] = '\0';
	memcpy(info_r->key_id, used->id, sizeof(info_r->key_id));
	info_r->used_previous_key = used != &c->current;
	return 0;
}

static int blob_crypt_get(struct blob *b, const char *key, struct blob_sink *sink,
			  struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_crypt *c = (struct blob_crypt *)b;
	struct buf plain;
	int ret;

	/* reading into the caller's buffer: decrypt right there */
	if (sink->buf != NULL && sink->written == 0)
		return blob_crypt_fetch(c, key, sink->buf, info_r, err);
	buf_init(&plain, c->max_object_size);
	ret = blob_crypt_fetch(c, key, &plain, info_r, err);
	for (size_t off = 0; ret == 0 && off < plain.len; off += BLOB_CRYPT_CHUNK) {
		size_t n = MIN(plain.len - off, (size_t)BLOB_CRYPT_CHUNK);

		ret = blob_sink_write(sink, plain.data + off, n, err);
	}
	buf_free(&plain);
	return ret;
}

static int blob_crypt_head(struct blob *b, const char *key, struct blob_stat *st_r,
			   struct blob_error *err)
{
	if (blob_inner_head(b, key, st_r, err) < 0)
		return -1;
	if (st_r->stored_size < BLOB_CRYPT_OVERHEAD) {
		blob_error_set(err, BLOB_CORRUPT, "encrypted object too short");
		return -1;
	}
	st_r->size = st_r->stored_size - BLOB_CRYPT_OVERHEAD;
	return 0;
}

static int blob_crypt_del(struct blob *b, const char *key, struct blob_error *err)
{
	return blob_inner_del(b, key, err);
}

static int blob_crypt_copy(struct blob *b, const char *src, const char *dst,
			   struct blob_error *err)
{
	/* the ciphertext is copied as it is: same key, same nonce, same bytes */
	return blob_inner_copy(b, src, dst, err);
}

struct blob_crypt_list_ctx {
	blob_list_entry_fn *fn;
	void *ctx;
};

static int blob_crypt_list_cb(void *ctx, const struct blob_list_entry *e,
			      struct blob_error *err)
{
	struct blob_crypt_list_ctx *lc = ctx;
	struct blob_list_entry plain = *e;

	if (strcmp(e->key, BLOB_CRYPT_CHECK_KEY) == 0)
		return 0;
	plain.size = e->size >= BLOB_CRYPT_OVERHEAD ? e->size - BLOB_CRYPT_OVERHEAD : 0;
	return lc->fn(lc->ctx, &plain, err);
}

static int blob_crypt_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn,
			   void *ctx,
			   struct blob_error *err)
{
	struct blob_crypt_list_ctx lc = { fn, ctx };

	return blob_inner_list(b, prefix, blob_crypt_list_cb, &lc, err);
}

static void blob_crypt_close(struct blob *b)
{
	struct blob_crypt *c = (struct blob_crypt *)b;

	util_wipe(c->previous, c->previous_count * sizeof(*c->previous));
	free(c->previous);
	util_wipe(c, sizeof(*c));
	free(c);
}

const struct blob_vfuncs blob_crypt_vfuncs = {
	.name = "crypt",
	.put = blob_crypt_put,
	.get = blob_crypt_get,
	.head = blob_crypt_head,
	.del = blob_crypt_del,
	.copy = blob_crypt_copy,
	.list = blob_crypt_list,
	.close = blob_crypt_close,
};

int blob_crypt_wrap(struct blob *inner, const struct blob_crypt_settings *set,
		    struct blob **blob_r, struct blob_error *err)
{
	struct blob_crypt *c = xcalloc(1, sizeof(*c));
	char name[64];

	*blob_r = NULL;
	c->b.v = &blob_crypt_vfuncs;
	c->b.inner = inner;
	c->max_object_size = set->max_object_size != 0 ? set->max_object_size
						       : BLOB_CRYPT_DEFAULT_MAX;
	if (blob_crypt_parse_key("encryption_key", set->encryption_key, c->current.key, err) < 0)
		goto fail;
	blob_crypt_key_id(c->current.key, c->current.id);
	if (set->previous_count > 0)
		c->previous = xcalloc(set->previous_count, sizeof(*c->previous));
	for (size_t i = 0; i < set->previous_count; i++) {
		struct blob_crypt_key *k = &c->previous[c->previous_count];

		(void)snprintf(name, sizeof(name), "previous_encryption_keys[%zu]", i);
		if (blob_crypt_parse_key(name, set->previous_encryption_keys[i], k->key, err) < 0)
			goto fail;
		blob_crypt_key_id(k->key, k->id);
		if (util_mem_equal_ct(k->key, sizeof(k->key), c->current.key,
				      sizeof(c->current.key)))
			continue; /* the current key again: tried first anyway */
		c->previous_count++;
	}
	*blob_r = &c->b;
	return 0;
fail:
	c->previous_count = set->previous_count;
	*blob_r = &c->b;
	blob_close(blob_r);
	return -1;
}

const char *blob_key_id(struct blob *b)
{
	struct blob_crypt *c = (struct blob_crypt *)blob_find_layer(b, &blob_crypt_vfuncs);

	return c == NULL ? NULL : c->current.id;
}

/* ---- key check ----------------------------------------------------------- */

static int blob_crypt_write_check(struct blob_crypt *c, struct blob_error *err)
{
	char text[64];
	struct blob_istream in;
	int len = snprintf(text, sizeof(text), BLOB_CRYPT_CHECK_TEXT "key_id=%s\n", c->current.id);

	REQUIRE(len > 0 && (size_t)len < sizeof(text));
	blob_istream_init_mem(&in, text, (size_t)len);
	return blob_crypt_put(&c->b, BLOB_CRYPT_CHECK_KEY, &in, err);
}

int blob_crypt_verify_key(struct blob *b, enum blob_key_check *result_r, struct blob_error *err)
{
	struct blob_crypt *c = (struct blob_crypt *)blob_find_layer(b, &blob_crypt_vfuncs);
	const struct blob_crypt_key *used = NULL;
	struct blob_sink sink;
	struct buf raw;
	int ret = 0;

	*err = (struct blob_error){ 0 };
	if (c == NULL) {
		blob_error_set(err, BLOB_PERMANENT, "key check without encryption");
		return -1;
	}
	buf_init(&raw, BLOB_CRYPT_CHECK_MAX);
	blob_sink_init_buf(&sink, &raw);
	if (blob_inner_get(&c->b, BLOB_CRYPT_CHECK_KEY, &sink, &(struct blob_read_info){ 0 },
			   err) < 0) {
		if (err->code != BLOB_NOT_FOUND) {
			ret = -1;
		} else {
			*err = (struct blob_error){ 0 };
			ret = blob_crypt_write_check(c, err);
			*result_r = BLOB_KEY_CHECK_CREATED;
		}
	} else if (blob_crypt_open_any(c, (uint8_t *)raw.data, raw.len, &used) < 0 ||
		   raw.len - BLOB_CRYPT_OVERHEAD < sizeof(BLOB_CRYPT_CHECK_TEXT) - 1 ||
		   memcmp(raw.data + BLOB_CRYPT_NONCE_LEN, BLOB_CRYPT_CHECK_TEXT,
			  sizeof(BLOB_CRYPT_CHECK_TEXT) - 1) != 0) {
		*result_r = BLOB_KEY_CHECK_MISMATCH;
		blob_error_set(err, BLOB_PERMANENT,
			       "encryption_key (key id %s) is not the key this store was "
			       "written with, nor is any of previous_encryption_keys (%zu)",
			       c->current.id, c->previous_count);
	} else if (used != &c->current) {
		ret = blob_crypt_write_check(c, err);
		*result_r = BLOB_KEY_CHECK_ROTATED;
	} else {
		*result_r = BLOB_KEY_CHECK_MATCH;
	}
	buf_free(&raw);
	return ret < 0 ? -1 : 0;
}
