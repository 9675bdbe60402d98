/* base64: RFC 4648 vectors, strictness, round trips of every length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/base64.h"

/* RFC 4648 section 10 */
static const struct {
	const char *plain, *enc;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char enc[32];
		unsigned char dec[32];
		size_t n = strlen(vectors[i].plain), len = 99;

		assert_int_equal(base64_encode(vectors[i].plain, n, enc), strlen(vectors[i].enc));
		assert_string_equal(enc, vectors[i].enc);
		assert_int_equal(BASE64_ENCODED_LEN(n), strlen(vectors[i].enc));
		assert_int_equal(base64_decode(vectors[i].enc, strlen(vectors[i].enc), dec, &len),
				 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, vectors[i].plain, n);
	}
}

static void test_alphabet(void **state)
{
	const char *all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char raw[48], back[48];
	char enc[65];
	size_t len;

	(void)state;
	/* 0, 1, ..., 63 as 6-bit groups */
	assert_int_equal(base64_decode(all, 64, raw, &len), 0);
	assert_int_equal(len, 48);
	assert_int_equal(base64_encode(raw, 48, enc), 64);
	assert_string_equal(enc, all);
	assert_int_equal(base64_decode(enc, 64, back, &len), 0);
	assert_memory_equal(raw, back, 48);
}

static void test_strict_rejects(void **state)
{
	static const char *const bad[] = {
		"Zg",       /* no padding */
		"Zg=",      /* short padding */
		"Zm9",      /* length not a multiple of 4 */
		"Z===",     /* too much padding */
		"====",
		"Zg==Zg==", /* padding in the middle */
		"Zm=v",
		"Zh==",     /* unused bits not zero (canonical: Zg==) */
		"Zm9=",     /* same for one '=' (canonical: Zm8=) */
		"Zm9v\n",
		"Zm 9v",
		"Zm9v\r\n",
		"Zm-v",     /* base64url alphabet */
		"Zm_v",
		"Zm9\x80",
		"*",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char out[16];
		size_t len = 12345;

		assert_int_equal(base64_decode(bad[i], strlen(bad[i]), out, &len), -1);
		assert_int_equal(len, 12345); /* untouched on failure */
	}
}

static void test_nul_and_binary(void **state)
{
	const char *enc = "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"; /* RFC 4616 example */
	unsigned char out[32];
	size_t len;

	(void)state;
	assert_int_equal(base64_decode(enc, strlen(enc), out, &len), 0);
	assert_int_equal(len, 21);
	assert_memory_equal(out, "\0tim\0tanstaaftanstaaf", 21);
}

static void test_roundtrip_all_lengths(void **state)
{
	unsigned char raw[300], back[300];
	char enc[BASE64_ENCODED_LEN(300) + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 151 + 7);
	for (size_t n = 0; n <= sizeof(raw); n++) {
		size_t elen = base64_encode(raw, n, enc), len;

		assert_int_equal(elen, BASE64_ENCODED_LEN(n));
		assert_int_equal(strlen(enc), elen);
		assert_true(BASE64_DECODED_MAX(elen) >= n);
		assert_int_equal(base64_decode(enc, elen, back, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(raw, back, n);
	}
}

/* Every single-character change of a valid encoding is rejected or
   decodes to different bytes: no two encodings for the same data. */
static void test_canonical_unique(void **state)
{
	const unsigned char raw[5] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
	char enc[16];
	size_t elen;

	(void)state;
	elen = base64_encode(raw, sizeof(raw), enc);
	for (size_t pos = 0; pos < elen; pos++) {
		for (int c = 0; c < 256; c++) {
			char mut[16];
			unsigned char out[16];
			size_t len;

			if (c == (unsigned char)enc[pos])
				continue;
			memcpy(mut, enc, elen);
			mut[pos] = (char)c;
			if (base64_decode(mut, elen, out, &len) == 0)
				assert_false(len == sizeof(raw) && memcmp(out, raw, len) == 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_alphabet),
		cmocka_unit_test(test_strict_rejects),
		cmocka_unit_test(test_nul_and_binary),
		cmocka_unit_test(test_roundtrip_all_lengths),
		cmocka_unit_test(test_canonical_unique),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
