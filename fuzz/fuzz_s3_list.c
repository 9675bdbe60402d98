/* libFuzzer target for the S3 driver's XML readers (store/blob-s3-xml.c):
   blob_s3_list_parse() on a ListObjectsV2 result and blob_s3_xml_find() on
   an error document.

   The input is copied into an exact-size heap buffer (no NUL after it), so
   ASan catches a read past the given length. Checks: 0/1/-1 only; on -1 an
   error message and no token; every key handed out is a valid blob key
   (blob_key_valid) of at most BLOB_KEY_MAX bytes; the token is bounded;
   stopping after the first key gives 1 exactly when there was a key and
   the same first key; xml_find's output is NUL-terminated and printable. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/blob-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fuzz_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	abort();
}

/* Also active in replay builds (no assert(), which NDEBUG would remove). */
#define FUZZ_CHECK(x) ((x) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #x))

struct fuzz_keys {
	unsigned count;
	bool stop;
	char first[BLOB_KEY_MAX + 1];
};

static int fuzz_key(void *ctx, const char *key, uint64_t size, struct blob_error *err)
{
	struct fuzz_keys *k = ctx;
	size_t len = strnlen(key, BLOB_KEY_MAX + 1);

	(void)size;
	(void)err;
	FUZZ_CHECK(len <= BLOB_KEY_MAX);
	FUZZ_CHECK(blob_key_valid(key));
	if (k->count++ == 0)
		memcpy(k->first, key, len + 1);
	return k->stop ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *xml = malloc(size > 0 ? size : 1);
	struct blob_s3_list_page page;
	struct fuzz_keys all = { 0 }, one = { .stop = true };
	struct blob_error err = { 0 };
	char out[64];
	int ret, ret1;

	FUZZ_CHECK(xml != NULL);
	memcpy(xml, data, size);

	ret = blob_s3_list_parse(xml, size, fuzz_key, &all, &page, &err);
	FUZZ_CHECK(ret == 0 || ret == -1); /* fuzz_key never stops here */
	if (ret < 0) {
		FUZZ_CHECK(err.code == BLOB_PERMANENT && err.msg[0] != '\0');
		FUZZ_CHECK(page.next_token == NULL);
	} else if (page.next_token != NULL) {
		FUZZ_CHECK(strlen(page.next_token) <= BLOB_S3_TOKEN_MAX);
	}
	free(page.next_token);

	err = (struct blob_error){ 0 };
	ret1 = blob_s3_list_parse(xml, size, fuzz_key, &one, &page, &err);
	free(page.next_token);
	if (ret1 == 1) {
		/* stopped at the first key: the full parse saw it first too,
		   unless the document failed after it */
		FUZZ_CHECK(one.count == 1);
		FUZZ_CHECK(ret < 0 || strcmp(one.first, all.first) == 0);
	} else {
		FUZZ_CHECK(one.count == 0);
		FUZZ_CHECK(ret1 == ret);
	}

	if (blob_s3_xml_find(xml, size, "Code", out, sizeof(out))) {
		size_t len = strnlen(out, sizeof(out));

		FUZZ_CHECK(len < sizeof(out));
		for (size_t i = 0; i < len; i++)
			FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f);
	}
	free(xml);
	return 0;
}
