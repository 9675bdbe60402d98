/* Modified UTF-7 mailbox names (RFC 3501 §5.1.3): round trips, the RFC's
   own examples, and every non-canonical form the decoder must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/imap/imap-utf7.h"
#include "../../src/lib/str.h"

static char *enc(const char *utf8, struct buf *b)
{
	buf_clear(b);
	imap_utf8_to_utf7(utf8, b);
	return b->data != NULL ? b->data : "";
}

static int dec(const char *utf7, struct buf *b)
{
	buf_clear(b);
	return imap_utf7_to_utf8(utf7, b);
}

static void test_rfc_examples(void **state)
{
	/* RFC 3501 §5.1.3 */
	static const char taipei_japanese[] = "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
					      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_string_equal(enc(taipei_japanese, &b), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	assert_int_equal(dec("~peter/mail/&U,BTFw-/&ZeVnLIqe-", &b), 0);
	assert_string_equal(b.data, taipei_japanese);
	assert_string_equal(enc("Entw\xc3\xbcrfe", &b), "Entw&APw-rfe");
	assert_string_equal(enc("A&B", &b), "A&-B");
	assert_int_equal(dec("A&-B", &b), 0);
	assert_string_equal(b.data, "A&B");
	assert_string_equal(enc("plain", &b), "plain");
	buf_free(&b);
}

static void test_round_trip(void **state)
{
	static const char *const names[] = {
		"INBOX", "\xc3\xa4", "\xc3\xa4\xc3\xb6\xc3\xbc", "a\xc3\xa4" "b\xc3\xb6" "c",
		"\xf0\x9f\x98\x80 smile", /* U+1F600: a surrogate pair */
		"\xe2\x82\xac&\xe2\x82\xac",
		"Trash/\xd0\x9a\xd0\xbe\xd1\x80\xd0\xb7\xd0\xb8\xd0\xbd\xd0\xb0",
	};
	struct buf b, back;

	(void)state;
	buf_init(&b, 0);
	buf_init(&back, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *e = enc(names[i], &b);

		for (const char *p = e; *p != '\0'; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		assert_int_equal(dec(e, &back), 0);
		assert_string_equal(back.data, names[i]);
	}
	buf_free(&b);
	buf_free(&back);
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"&",            /* shift never closed */
		"&AOQ",         /* no '-' */
		"&-&AOQ",       /* second one not closed */
		"&AOQ=-",       /* '=' is not in the alphabet */
		"&AOQ/-",       /* '/' is ',' in modified base64 */
		"&AEE-",        /* "A" must be direct */
		"&ACY-",        /* "&" must be "&-" */
		"&AOQ-&APY-",   /* two shifts back to back: one would do */
		"&2D0-",        /* lone high surrogate */
		"&3gA-",        /* lone low surrogate */
		"&AOR-",        /* padding bits not zero */
		"&AA-",         /* no complete UTF-16 unit */
		"&AAA-",        /* NUL */
		"caf\xc3\xa9",  /* 8-bit bytes: UTF-8 without UTF8=ACCEPT */
		"tab\there",    /* control character */
	};
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dec(bad[i], &b) != -1)
			fail_msg("accepted invalid modified UTF-7 \"%s\"", bad[i]);
	}
	/* the valid neighbours of some of them */
	assert_int_equal(dec("&AOQ-", &b), 0);
	assert_string_equal(b.data, "\xc3\xa4");
	assert_int_equal(dec("&AOQA9g-", &b), 0);
	assert_string_equal(b.data, "\xc3\xa4\xc3\xb6");
	assert_int_equal(dec("&AOQ-x&APY-", &b), 0);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
