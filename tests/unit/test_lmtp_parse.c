/* The LMTP command reader's pure parts (src/lmtp/lmtp-parse.h): paths,
   BDAT, XCLIENT with xtext, and the DATA reader fed in two pieces at every
   split point and byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lmtp/lmtp-parse.h"

static void test_paths(void **state)
{
	struct slice addr, rest;

	(void)state;
	assert_int_equal(lmtp_parse_path(SLICE_LIT("FROM:<a@b> SIZE=10"), "FROM:", &addr, &rest),
			 0);
	assert_true(slice_eq(addr, SLICE_LIT("a@b")));
	assert_true(slice_eq(rest, SLICE_LIT("SIZE=10")));
	assert_int_equal(lmtp_parse_path(SLICE_LIT("from: <>"), "FROM:", &addr, &rest), 0);
	assert_int_equal(addr.len, 0);
	assert_int_equal(lmtp_parse_path(SLICE_LIT("TO:<a b@c>"), "TO:", &addr, &rest), -1);
	assert_int_equal(lmtp_parse_path(SLICE_LIT("TO:a@c"), "TO:", &addr, &rest), -1);
	assert_int_equal(lmtp_parse_path(SLICE_LIT("TO:<a@c"), "TO:", &addr, &rest), -1);
}

static void test_bdat(void **state)
{
	uint64_t n;
	bool last;

	(void)state;
	assert_int_equal(lmtp_parse_bdat(SLICE_LIT("100"), &n, &last), 0);
	assert_true(n == 100 && !last);
	assert_int_equal(lmtp_parse_bdat(SLICE_LIT("0 LAST"), &n, &last), 0);
	assert_true(n == 0 && last);
	assert_int_equal(lmtp_parse_bdat(SLICE_LIT("5 last"), &n, &last), 0);
	assert_true(last);
	assert_int_equal(lmtp_parse_bdat(SLICE_LIT(""), &n, &last), -1);
	assert_int_equal(lmtp_parse_bdat(SLICE_LIT("-1"), &n, &last), -1);
	assert_int_equal(lmtp_parse_bdat(SLICE_LIT("5 FIRST"), &n, &last), -1);
	assert_int_equal(lmtp_parse_bdat(SLICE_LIT("99999999999999999999"), &n, &last), -1);
}

static void test_xclient(void **state)
{
	struct lmtp_xclient x;
	const char *error;

	(void)state;
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("ADDR=IPV6:2001:db8::1 PORT=25 "
						       "HELO=mx+2Eexample NAME=[UNAVAILABLE] "
						       "LOGIN=a+40b PROTO=esmtp DESTPORT=24"),
					    &x, &error),
			 0);
	assert_string_equal(x.addr, "2001:db8::1");
	assert_int_equal(x.port, 25);
	assert_string_equal(x.helo, "mx.example");
	assert_string_equal(x.name, "");
	assert_string_equal(x.login, "a@b");
	assert_string_equal(x.proto, "esmtp");
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("ADDR=300.1.1.1"), &x, &error), -1);
	assert_string_equal(error, "5.5.4 Bad XCLIENT ADDR syntax");
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("PORT=0"), &x, &error), -1);
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("PROTO=HTTP"), &x, &error), -1);
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("HELO=a+0Db"), &x, &error), -1);
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("HELO=a+4"), &x, &error), -1);
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("COLOR=red"), &x, &error), -1);
	assert_string_equal(error, "5.5.4 Bad XCLIENT attribute name");
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT(""), &x, &error), -1);
	assert_int_equal(lmtp_parse_xclient(SLICE_LIT("=x"), &x, &error), -1);
}

/* Runs the DATA reader over in delivered in pieces of the given sizes;
   the content must be out and the final dot found at end_at. */
static void data_in_pieces(const char *in, const size_t *cuts, size_t ncuts, const char *out,
			   size_t rest_len)
{
	struct lmtp_data_reader r = { 0 };
	char pending[512], got[512];
	size_t plen = 0, glen = 0, fed = 0, len = strlen(in);
	bool ended = false;

	for (size_t c = 0; c <= ncuts && !ended; c++) {
		size_t upto = c < ncuts ? cuts[c] : len;

		memcpy(pending + plen, in + fed, upto - fed);
		plen += upto - fed;
		fed = upto;
		for (;;) {
			struct slice piece;
			size_t used;
			enum lmtp_data_step st =
				lmtp_data_step(&r, slice_from(pending, plen), 4, &used, &piece);

			if (st == LMTP_DATA_NEED_MORE)
				break;
			memcpy(got + glen, piece.ptr, piece.len);
			glen += piece.len;
			memmove(pending, pending + used, plen - used);
			plen -= used;
			if (st == LMTP_DATA_END) {
				ended = true;
				break;
			}
		}
	}
	assert_true(ended);
	assert_int_equal(glen, strlen(out));
	assert_memory_equal(got, out, glen);
	assert_int_equal(plen + (len - fed), rest_len);
}

static void test_data_split_anywhere(void **state)
{
	const char *in = "Subject: x\r\n\r\n.hidden\r\n..two\r\nlong line here\r\n.\r\nNOOP\r\n";
	const char *out = "Subject: x\r\n\r\nhidden\r\n.two\r\nlong line here\r\n";
	size_t len = strlen(in);

	(void)state;
	for (size_t cut = 1; cut < len; cut++)
		data_in_pieces(in, &cut, 1, out, 6);
	{
		size_t cuts[128];

		for (size_t i = 0; i < len - 1; i++)
			cuts[i] = i + 1;
		data_in_pieces(in, cuts, len - 1, out, 6);
	}
	/* bare LF line ends and a final dot with a bare LF */
	data_in_pieces("a\n.\n", NULL, 0, "a\n", 0);
	/* ". " is content, not the end */
	data_in_pieces(". x\r\n.\r\n", NULL, 0, " x\r\n", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_xclient),
		cmocka_unit_test(test_data_split_anywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
