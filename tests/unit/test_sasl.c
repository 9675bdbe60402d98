/* SASL PLAIN / LOGIN exchanges, their errors, secret wiping, and login-name
   analysis for master users. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/arena.h"
#include "lib/base64.h"

/* base64 of len bytes of raw, in a */
static struct slice b64(struct arena *a, const void *raw, size_t len)
{
	char *out = arena_alloc(a, BASE64_ENCODED_LEN(len) + 1);

	return slice_from(out, base64_encode(raw, len, out));
}

static struct slice b64s(struct arena *a, const char *s)
{
	return b64(a, s, strlen(s));
}

/* PLAIN with the message as initial response; returns start()'s value. */
static int plain_ir(struct arena *a, const void *msg, size_t len, const struct sasl_limits *lim,
		    struct sasl_result *res, struct sasl_error *err)
{
	struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_PLAIN, lim);
	struct slice ir = b64(a, msg, len), ch = { 0 };

	return sasl_exchange_start(x, &ir, &ch, res, err);
}

static void expect_plain_error(const void *msg, size_t len, const struct sasl_limits *lim,
			       enum sasl_error_code code)
{
	struct arena *a = arena_new(4096);
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };

	assert_int_equal(plain_ir(a, msg, len, lim, &res, &err), -1);
	assert_int_equal(err.code, code);
	assert_non_null(err.msg);
	assert_null(res.password);
	arena_free(&a);
}

#define PLAIN_ERR(lit, code) expect_plain_error(lit, sizeof(lit) - 1, NULL, code)

static void test_mech_names(void **state)
{
	enum sasl_mech m;

	(void)state;
	assert_string_equal(sasl_mech_name(SASL_MECH_PLAIN), "PLAIN");
	assert_string_equal(sasl_mech_name(SASL_MECH_LOGIN), "LOGIN");
	assert_int_equal(sasl_mech_parse(SLICE_LIT("plain"), &m), 0);
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse(SLICE_LIT("LoGiN"), &m), 0);
	assert_int_equal(m, SASL_MECH_LOGIN);
	assert_int_equal(sasl_mech_parse(SLICE_LIT("PLAINX"), &m), -1);
	assert_int_equal(sasl_mech_parse(SLICE_LIT("PLAI"), &m), -1);
	assert_int_equal(sasl_mech_parse(SLICE_LIT("CRAM-MD5"), &m), -1);
	assert_int_equal(sasl_mech_parse(SLICE_LIT(""), &m), -1);
}

/* RFC 4616 section 4, both examples, with and without initial response. */
static void test_plain_rfc4616_examples(void **state)
{
	struct arena *a = arena_new(4096);
	struct sasl_exchange *x;
	struct sasl_result res;
	struct sasl_error err;
	struct slice ir = SLICE_LIT("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), ch;

	(void)state;
	/* "\0tim\0tanstaaftanstaaf" */
	x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
	assert_int_equal(sasl_exchange_start(x, &ir, &ch, &res, &err), 1);
	assert_string_equal(res.authzid, "");
	assert_int_equal(res.authzid_len, 0);
	assert_string_equal(res.authcid, "tim");
	assert_int_equal(res.authcid_len, 3);
	assert_string_equal(res.password, "tanstaaftanstaaf");
	assert_int_equal(res.password_len, 16);
	sasl_result_wipe(&res);
	assert_null(res.password);

	/* "Ursel\0Kurt\0xipj3plmq", after an empty challenge */
	x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
	assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), 0);
	assert_int_equal(ch.len, 0);
	assert_int_equal(sasl_exchange_step(x, SLICE_LIT("VXJzZWwAS3VydAB4aXBqM3BsbXE="), &ch, &res,
					    &err),
			 1);
	assert_string_equal(res.authzid, "Ursel");
	assert_string_equal(res.authcid, "Kurt");
	assert_string_equal(res.password, "xipj3plmq");
	sasl_result_wipe(&res);

	/* finished: no more steps, no second start */
	assert_int_equal(sasl_exchange_step(x, SLICE_LIT("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), &ch, &res,
					    &err),
			 -1);
	assert_int_equal(err.code, SASL_ERR_STATE);
	assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_STATE);
	arena_free(&a);
}

static void test_plain_message_errors(void **state)
{
	(void)state;
	PLAIN_ERR("", SASL_ERR_INVALID);                       /* empty message */
	PLAIN_ERR("timpassword", SASL_ERR_INVALID);            /* no NUL */
	PLAIN_ERR("\0timpassword", SASL_ERR_INVALID);          /* one NUL */
	PLAIN_ERR("tim\0", SASL_ERR_INVALID);
	PLAIN_ERR("\0\0", SASL_ERR_INVALID);                   /* everything empty */
	PLAIN_ERR("\0\0secret", SASL_ERR_INVALID);             /* empty authcid */
	PLAIN_ERR("zid\0\0secret", SASL_ERR_INVALID);
	PLAIN_ERR("\0tim\0", SASL_ERR_INVALID);                /* empty password */
	PLAIN_ERR("\0tim\0sec\0ret", SASL_ERR_INVALID);        /* NUL inside the password */
	PLAIN_ERR("\0tim\0secret\0", SASL_ERR_INVALID);
	PLAIN_ERR("\0ti\xffm\0secret", SASL_ERR_INVALID);      /* invalid UTF-8: authcid */
	PLAIN_ERR("z\xc0\xaf\0tim\0secret", SASL_ERR_INVALID); /* overlong '/' in authzid */
	PLAIN_ERR("\0tim\0sec\xed\xa0\x80", SASL_ERR_INVALID); /* surrogate in password */
	PLAIN_ERR("\0tim\0\xf4\x90\x80\x80", SASL_ERR_INVALID); /* above U+10FFFF */
	PLAIN_ERR("\0tim\0abc\xe2\x82", SASL_ERR_INVALID);     /* truncated sequence */
}

static void test_plain_utf8_ok(void **state)
{
	struct arena *a = arena_new(4096);
	const char msg[] =
	    "J\xc3\xb6rg\0j\xc3\xb6rg@ex\xc3\xa4mple.de\0p\xe2\x82\xac\xf0\x9f\x94\x91";
	struct sasl_result res;
	struct sasl_error err;

	(void)state;
	assert_int_equal(plain_ir(a, msg, sizeof(msg) - 1, NULL, &res, &err), 1);
	assert_string_equal(res.authzid, "J\xc3\xb6rg");
	assert_string_equal(res.authcid, "j\xc3\xb6rg@ex\xc3\xa4mple.de");
	assert_string_equal(res.password, "p\xe2\x82\xac\xf0\x9f\x94\x91");
	sasl_result_wipe(&res);
	arena_free(&a);
}

/* Default 255 per field; the limit is configurable. */
static void test_plain_field_limits(void **state)
{
	char msg[1024];
	struct arena *a = arena_new(4096);
	struct sasl_result res;
	struct sasl_error err;
	const struct sasl_limits ten = { .max_field_len = 10 };

	(void)state;
	for (size_t which = 0; which < 3; which++) {
		for (size_t flen = 254; flen <= 256; flen++) {
			size_t lens[3] = { 1, 1, 1 }, o = 0;

			lens[which] = flen;
			for (size_t f = 0; f < 3; f++) {
				memset(msg + o, 'a' + (char)f, lens[f]);
				o += lens[f];
				if (f < 2)
					msg[o++] = '\0';
			}
			if (flen <= 255) {
				assert_int_equal(plain_ir(a, msg, o, NULL, &res, &err), 1);
				sasl_result_wipe(&res);
			} else {
				expect_plain_error(msg, o, NULL, SASL_ERR_INVALID);
			}
		}
	}
	assert_int_equal(plain_ir(a, "z\0user12345\0pass123456", 22, &ten, &res, &err), 1);
	sasl_result_wipe(&res);
	expect_plain_error("z\0user1234567\0pass", 18, &ten, SASL_ERR_INVALID);
	expect_plain_error("z\0user\0pass1234567", 18, &ten, SASL_ERR_INVALID);
	expect_plain_error("authzid1234\0user\0pass", 21, &ten, SASL_ERR_INVALID);
	/* way over the limit: refused before decoding */
	{
		char *big = calloc(1, 100000);
		struct slice ir;
		struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
		struct slice ch;

		memset(big, 'A', 99996);
		ir = slice_from(big, 99996);
		assert_int_equal(sasl_exchange_start(x, &ir, &ch, &res, &err), -1);
		assert_int_equal(err.code, SASL_ERR_INVALID);
		free(big);
	}
	arena_free(&a);
}

static void test_plain_base64_errors(void **state)
{
	static const char *const bad[] = {
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF",   /* length */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF=",  /* unused bits */
		"AHRpbQB0YW5z dGFhZnRhbnN0YWFm", /* space */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r",
		"AHRp*QB0YW5zdGFhZnRhbnN0YWFm",
		"*",  /* as an initial response "*" is no cancel */
		"==", /* "=" alone is the empty response, "==" is not */
	};
	struct arena *a = arena_new(4096);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
		struct slice ir = slice_cstr(bad[i]), ch;
		struct sasl_result res = { 0 };
		struct sasl_error err;

		assert_int_equal(sasl_exchange_start(x, &ir, &ch, &res, &err), -1);
		assert_int_equal(err.code, SASL_ERR_SYNTAX);
		assert_null(res.password);
	}
	arena_free(&a);
}

/* RFC 4959: "=" is an empty initial response: for PLAIN an empty message. */
static void test_plain_empty_responses(void **state)
{
	struct arena *a = arena_new(4096);
	struct sasl_exchange *x;
	struct sasl_result res;
	struct sasl_error err;
	struct slice eq = SLICE_LIT("="), empty = SLICE_LIT(""), ch;

	(void)state;
	x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
	assert_int_equal(sasl_exchange_start(x, &eq, &ch, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_INVALID);

	x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
	assert_int_equal(sasl_exchange_start(x, &empty, &ch, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_INVALID);

	/* continuation: an empty line is an empty response, "=" is no base64 */
	x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
	assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), 0);
	assert_int_equal(sasl_exchange_step(x, empty, &ch, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_INVALID);
	x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);
	assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), 0);
	assert_int_equal(sasl_exchange_step(x, eq, &ch, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_SYNTAX);
	arena_free(&a);
}

static void test_cancel(void **state)
{
	struct arena *a = arena_new(4096);
	struct sasl_result res;
	struct sasl_error err;
	struct slice ch;

	(void)state;
	for (int mech = 0; mech < SASL_MECH_COUNT; mech++) {
		for (int after_user = 0; after_user <= (mech == SASL_MECH_LOGIN); after_user++) {
			struct sasl_exchange *x = sasl_exchange_new(a, (enum sasl_mech)mech, NULL);

			assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), 0);
			if (after_user)
				assert_int_equal(sasl_exchange_step(x, SLICE_LIT("dGlt"), &ch, &res,
								    &err),
						 0);
			assert_int_equal(sasl_exchange_step(x, SLICE_LIT("*"), &ch, &res, &err),
					 -1);
			assert_int_equal(err.code, SASL_ERR_CANCELLED);
			/* and the exchange is over */
			assert_int_equal(sasl_exchange_step(x, SLICE_LIT("dGlt"), &ch, &res, &err),
					 -1);
			assert_int_equal(err.code, SASL_ERR_STATE);
		}
	}
	/* "**" or " *" are not a cancel but bad base64 */
	{
		struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_PLAIN, NULL);

		assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), 0);
		assert_int_equal(sasl_exchange_step(x, SLICE_LIT("**"), &ch, &res, &err), -1);
		assert_int_equal(err.code, SASL_ERR_SYNTAX);
	}
	arena_free(&a);
}

static void test_step_before_start(void **state)
{
	struct arena *a = arena_new(4096);
	struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_LOGIN, NULL);
	struct sasl_result res;
	struct sasl_error err;
	struct slice ch;

	(void)state;
	assert_int_equal(sasl_exchange_step(x, SLICE_LIT("dGlt"), &ch, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_STATE);
	arena_free(&a);
}

static void assert_challenge(struct slice ch, const char *b64text, const char *plain)
{
	unsigned char dec[32];
	size_t len;

	assert_int_equal(ch.len, strlen(b64text));
	assert_memory_equal(ch.ptr, b64text, ch.len);
	assert_int_equal(base64_decode(ch.ptr, ch.len, dec, &len), 0);
	assert_int_equal(len, strlen(plain));
	assert_memory_equal(dec, plain, len);
}

static void test_login_state_machine(void **state)
{
	struct arena *a = arena_new(4096);
	struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_LOGIN, NULL);
	struct sasl_result res;
	struct sasl_error err;
	struct slice ch;

	(void)state;
	assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), 0);
	assert_challenge(ch, "VXNlcm5hbWU6", "Username:");
	assert_int_equal(sasl_exchange_step(x, b64s(a, "tim@example.org"), &ch, &res, &err), 0);
	assert_challenge(ch, "UGFzc3dvcmQ6", "Password:");
	assert_int_equal(sasl_exchange_step(x, b64s(a, "tanstaaf"), &ch, &res, &err), 1);
	assert_string_equal(res.authzid, "");
	assert_string_equal(res.authcid, "tim@example.org");
	assert_int_equal(res.authcid_len, 15);
	assert_string_equal(res.password, "tanstaaf");
	assert_int_equal(res.password_len, 8);
	sasl_result_wipe(&res);
	assert_int_equal(sasl_exchange_step(x, b64s(a, "x"), &ch, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_STATE);

	/* the user name as initial response skips the first challenge */
	x = sasl_exchange_new(a, SASL_MECH_LOGIN, NULL);
	{
		struct slice ir = b64s(a, "tim");

		assert_int_equal(sasl_exchange_start(x, &ir, &ch, &res, &err), 0);
	}
	assert_challenge(ch, "UGFzc3dvcmQ6", "Password:");
	assert_int_equal(sasl_exchange_step(x, b64s(a, "pw with spaces"), &ch, &res, &err), 1);
	assert_string_equal(res.authcid, "tim");
	assert_string_equal(res.password, "pw with spaces");
	sasl_result_wipe(&res);
	arena_free(&a);
}

static void login_expect(const char *ir, const char *user_b64, const char *pass_b64,
			 enum sasl_error_code code)
{
	struct arena *a = arena_new(4096);
	struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_LOGIN, NULL);
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice ch, irs = ir == NULL ? SLICE_LIT("") : slice_cstr(ir);
	int ret;

	ret = sasl_exchange_start(x, ir == NULL ? NULL : &irs, &ch, &res, &err);
	if (ret == 0 && user_b64 != NULL)
		ret = sasl_exchange_step(x, slice_cstr(user_b64), &ch, &res, &err);
	if (ret == 0 && pass_b64 != NULL)
		ret = sasl_exchange_step(x, slice_cstr(pass_b64), &ch, &res, &err);
	assert_int_equal(ret, -1);
	assert_int_equal(err.code, code);
	assert_null(res.password);
	arena_free(&a);
}

static void test_login_errors(void **state)
{
	char big[2048];

	(void)state;
	login_expect(NULL, "", NULL, SASL_ERR_INVALID);        /* empty user name */
	login_expect("=", NULL, NULL, SASL_ERR_INVALID);       /* empty as initial response */
	login_expect(NULL, "dGlt", "", SASL_ERR_INVALID);      /* empty password */
	login_expect(NULL, "dGlt", "=", SASL_ERR_SYNTAX);
	login_expect(NULL, "dGlt!", NULL, SASL_ERR_SYNTAX);
	login_expect("dGl", NULL, NULL, SASL_ERR_SYNTAX);
	login_expect(NULL, "dABp", NULL, SASL_ERR_INVALID);    /* "t\0i": NUL in user */
	login_expect(NULL, "dGlt", "cABz", SASL_ERR_INVALID);  /* "p\0s" */
	login_expect(NULL, "/w==", NULL, SASL_ERR_INVALID);    /* "\xff" */
	login_expect(NULL, "dGlt", "/w==", SASL_ERR_INVALID);
	/* 256 bytes of user name: "YWFh" * 85 + "YWFhYQ==" */
	for (int i = 0; i < 85; i++)
		memcpy(big + 4 * i, "YWFh", 4);
	memcpy(big + 340, "YWFhYQ==", 9);
	login_expect(NULL, big, NULL, SASL_ERR_INVALID);
	login_expect(NULL, "dGlt", big, SASL_ERR_INVALID);
}

/* Scan the bytes an arena handed out between two markers. */
static bool arena_region_has(const char *from, const char *to, const char *needle)
{
	return memmem(from, (size_t)(to - from), needle, strlen(needle)) != NULL;
}

/* The decoded password never survives an error, nor a wipe. */
static void test_wipe(void **state)
{
#define MSG(lit) { lit, sizeof(lit) - 1 }
	static const struct {
		const char *msg;
		size_t len;
	} msgs[] = {
		MSG("\0ti\xffm\0Secret-Pw-1"), /* bad authcid: decoded, then refused */
		MSG("\0\0Secret-Pw-1"),         /* empty authcid */
		MSG("\0tim\0Secret-Pw-1\xff"),  /* bad password */
		MSG("\0tim\0Secret-Pw-1\0x"),   /* NUL in the password */
		MSG("a\0tim\0Secret-Pw-1"),     /* valid: wiped by sasl_result_wipe */
	};
#undef MSG
	(void)state;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct arena *a = arena_new(1 << 16);
		bool valid = i == sizeof(msgs) / sizeof(msgs[0]) - 1;
		struct sasl_result res = { 0 };
		struct sasl_error err;
		char *start, *end;
		const char *cid;
		int ret;

		start = arena_alloc(a, 1);
		ret = plain_ir(a, msgs[i].msg, msgs[i].len, NULL, &res, &err);
		assert_int_equal(ret, valid ? 1 : -1);
		end = arena_alloc(a, 1);
		if (ret == 1) {
			assert_true(arena_region_has(start, end, "Secret-Pw-1"));
			cid = res.authcid;
			sasl_result_wipe(&res);
			assert_string_equal(cid, "tim"); /* identities are copies */
		}
		assert_false(arena_region_has(start, end, "Secret-Pw-1"));
		arena_free(&a);
	}
	/* LOGIN: the password buffer, on success and on error */
	for (int bad = 0; bad <= 1; bad++) {
		struct arena *a = arena_new(1 << 16);
		struct sasl_exchange *x = sasl_exchange_new(a, SASL_MECH_LOGIN, NULL);
		struct sasl_result res = { 0 };
		struct sasl_error err;
		struct slice ch, pw = b64s(a, bad ? "Secret-Pw-1\xc3" : "Secret-Pw-1");
		char *start = arena_alloc(a, 1), *end;

		assert_int_equal(sasl_exchange_start(x, NULL, &ch, &res, &err), 0);
		assert_int_equal(sasl_exchange_step(x, b64s(a, "tim"), &ch, &res, &err), 0);
		assert_int_equal(sasl_exchange_step(x, pw, &ch, &res, &err), bad ? -1 : 1);
		end = arena_alloc(a, 1);
		sasl_result_wipe(&res);
		assert_false(arena_region_has(start, end, "Secret-Pw-1"));
		arena_free(&a);
	}
	sasl_result_wipe(NULL);
}

static void test_plain_encode(void **state)
{
	struct arena *a = arena_new(4096);
	struct sasl_result res;
	struct sasl_error err;
	char *enc;

	(void)state;
	enc = sasl_plain_encode(a, "", "tim", "tanstaaftanstaaf");
	assert_string_equal(enc, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	enc = sasl_plain_encode(a, "user@example.org", "proxy", "master-secret");
	assert_int_equal(sasl_plain_decode(slice_cstr(enc), NULL, a, &res, &err), 0);
	assert_string_equal(res.authzid, "user@example.org");
	assert_string_equal(res.authcid, "proxy");
	assert_string_equal(res.password, "master-secret");
	sasl_result_wipe(&res);
	/* parse of a decoded message */
	assert_int_equal(sasl_plain_parse(slice_from("Ursel\0Kurt\0xipj3plmq", 20), NULL, a, &res,
					  &err),
			 0);
	assert_string_equal(res.authzid, "Ursel");
	sasl_result_wipe(&res);
	assert_int_equal(sasl_plain_parse(slice_from("Ursel\0Kurt", 10), NULL, a, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_INVALID);
	assert_int_equal(sasl_plain_decode(SLICE_LIT("A"), NULL, a, &res, &err), -1);
	assert_int_equal(err.code, SASL_ERR_SYNTAX);
	arena_free(&a);
}

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "", true },
		{ "plain ascii", true },
		{ "\xc2\x80", true },
		{ "\xdf\xbf", true },
		{ "\xe0\xa0\x80", true },
		{ "\xef\xbf\xbf", true },
		{ "\xf0\x90\x80\x80", true },
		{ "\xf4\x8f\xbf\xbf", true },
		{ "\x80", false },
		{ "\xbf", false },
		{ "\xc0\x80", false },         /* overlong NUL */
		{ "\xc1\xbf", false },
		{ "\xe0\x9f\xbf", false },     /* overlong */
		{ "\xed\xa0\x80", false },     /* U+D800 */
		{ "\xed\xbf\xbf", false },     /* U+DFFF */
		{ "\xf0\x8f\xbf\xbf", false }, /* overlong */
		{ "\xf4\x90\x80\x80", false }, /* U+110000 */
		{ "\xf5\x80\x80\x80", false },
		{ "\xff", false },
		{ "\xc3", false },             /* truncated */
		{ "\xe2\x82", false },
		{ "\xe2\x28\xa1", false },     /* bad continuation */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(sasl_utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].ok);
	assert_true(sasl_utf8_valid("a\0b", 3));
}

/* ---- login names ---- */

struct name_case {
	const char *login;
	const char *master;
	const char *address; /* NULL: parse fails */
	const char *detail;
	const char *suffix;
	enum sasl_master_form form;
	bool is_master;
};

static const struct name_case name_cases[] = {
	{ "user@example.com", NULL, "user@example.com", NULL, NULL, SASL_MASTER_NONE, false },
	{ "User@Example.COM", "admin", "user@example.com", NULL, NULL, SASL_MASTER_NONE, false },
	{ "User+Detail@Domain", NULL, "user@domain", "Detail", NULL, SASL_MASTER_NONE, false },
	{ "user+@d.com", NULL, "user@d.com", "", NULL, SASL_MASTER_NONE, false },
	{ "user+a+b@d.com", NULL, "user@d.com", "a+b", NULL, SASL_MASTER_NONE, false },
	{ " \tuser@d.com\r\n", NULL, "user@d.com", NULL, NULL, SASL_MASTER_NONE, false },
	{ "a!#$%&'*-/=?^_`{|}~.b@d.com", NULL, "a!#$%&'*-/=?^_`{|}~.b@d.com", NULL, NULL,
	  SASL_MASTER_NONE, false },
	{ "user@localhost", NULL, "user@localhost", NULL, NULL, SASL_MASTER_NONE, false },
	{ "user@sub-1.my_host.example", NULL, "user@sub-1.my_host.example", NULL, NULL,
	  SASL_MASTER_NONE, false },
	/* UTF-8: lower-cased in ASCII only */
	{ "J\xc3\x96RG@EX\xc3\x84MPLE.DE", NULL, "j\xc3\x96rg@ex\xc3\x84mple.de", NULL, NULL,
	  SASL_MASTER_NONE, false },
	/* HEAD master form */
	{ "user@d.com@admin", "admin", "user@d.com", NULL, "admin", SASL_MASTER_AT, true },
	{ "User+Box@D.com@admin", "admin", "user@d.com", "Box", "admin", SASL_MASTER_AT, true },
	{ "user@d.com@Admin", "admin", "user@d.com", NULL, "Admin", SASL_MASTER_AT, false },
	{ "user@d.com@other", "admin", "user@d.com", NULL, "other", SASL_MASTER_AT, false },
	{ "user@d.com@other", NULL, "user@d.com", NULL, "other", SASL_MASTER_AT, false },
	{ "user@d.com@admin", "", "user@d.com", NULL, "admin", SASL_MASTER_AT, false },
	{ "user@d.com@admin@corp", "admin@corp", "user@d.com", NULL, "admin@corp",
	  SASL_MASTER_AT, true },
	/* seed-era form */
	{ "user@d.com~admin", "admin", "user@d.com", NULL, "admin", SASL_MASTER_TILDE, true },
	{ "us~er@d.com~admin", "admin", "us~er@d.com", NULL, "admin", SASL_MASTER_TILDE, true },
	{ "user@d.com~a~b", "a~b", "user@d.com", NULL, "a~b", SASL_MASTER_TILDE, true },
	{ "user@d.com~admin", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d.com~other", "admin", NULL, NULL, NULL, 0, false },
	{ "user@d.com~~admin", "admin", NULL, NULL, NULL, 0, false },
	{ "user@d.com~admin~admin", "admin", NULL, NULL, NULL, 0, false },
	/* only the master, or the master as a domain: never a master login */
	{ "admin", "admin", NULL, NULL, NULL, 0, false },
	{ "admin@admin", "admin", "admin@admin", NULL, NULL, SASL_MASTER_NONE, false },
	{ "x@admin", "admin", "x@admin", NULL, NULL, SASL_MASTER_NONE, false },
	{ "@admin", "admin", NULL, NULL, NULL, 0, false },
	{ "~admin", "admin", NULL, NULL, NULL, 0, false },
	{ "user~admin", "admin", NULL, NULL, NULL, 0, false },
	/* empty parts */
	{ "", NULL, NULL, NULL, NULL, 0, false },
	{ "   ", NULL, NULL, NULL, NULL, 0, false },
	{ "@", NULL, NULL, NULL, NULL, 0, false },
	{ "@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user@", NULL, NULL, NULL, NULL, 0, false },
	{ "@d.com@admin", "admin", NULL, NULL, NULL, 0, false },
	{ "user@@admin", "admin", NULL, NULL, NULL, 0, false },
	{ "user@d.com@", "admin", NULL, NULL, NULL, 0, false },
	{ "user@d.com@", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d.com~", "admin", NULL, NULL, NULL, 0, false },
	{ "+detail@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "+@d.com", NULL, NULL, NULL, NULL, 0, false },
	/* too many '@' */
	{ "u@d@e@f", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d.com@@admin", "admin", NULL, NULL, NULL, 0, false },
	{ "user@d.com@admin@admin", "admin", NULL, NULL, NULL, 0, false },
	/* quotes, specials, whitespace, controls */
	{ "\"a@b\"@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "\"user\"@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d.com@\"admin\"", "\"admin\"", NULL, NULL, NULL, 0, false },
	{ "us er@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d.com @admin", "admin", NULL, NULL, NULL, 0, false },
	{ "us\ter@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user\x01@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user\x7f@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user(c)@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "us\\er@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "a,b@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "<a@d.com>", NULL, NULL, NULL, NULL, 0, false },
	{ "a:b@d.com", NULL, NULL, NULL, NULL, 0, false },
	/* domains */
	{ "user@.d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d..com", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d.com.", NULL, NULL, NULL, NULL, 0, false },
	{ "user@[192.0.2.1]", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d!.com", NULL, NULL, NULL, NULL, 0, false },
	/* invalid UTF-8 */
	{ "us\xff" "er@d.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d\xc3.com", NULL, NULL, NULL, NULL, 0, false },
	{ "user@d.com@adm\xc0\xaf", "admin", NULL, NULL, NULL, 0, false },
};

static void check_name_case(const struct name_case *c, struct slice login)
{
	struct arena *a = arena_new(4096);
	struct sasl_login_name n;
	const char *error = NULL;
	int ret = sasl_login_name_parse(login, c->master, a, &n, &error);

	if (c->address == NULL) {
		if (ret != -1)
			fail_msg("accepted: \"%s\" as %s", c->login, n.address);
		assert_non_null(error);
		arena_free(&a);
		return;
	}
	if (ret != 0)
		fail_msg("refused: \"%s\": %s", c->login, error);
	assert_string_equal(n.address, c->address);
	if (c->detail == NULL)
		assert_null(n.detail);
	else
		assert_string_equal(n.detail, c->detail);
	if (c->suffix == NULL)
		assert_null(n.suffix);
	else
		assert_string_equal(n.suffix, c->suffix);
	assert_int_equal(n.form, c->form);
	assert_int_equal(n.is_master, c->is_master);
	arena_free(&a);
}

static void test_login_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++)
		check_name_case(&name_cases[i], slice_cstr(name_cases[i].login));
}

static void test_login_name_nul_and_lengths(void **state)
{
	static const struct name_case bad = { "(nul)", "admin", NULL, NULL, NULL, 0, false };
	char buf[600];
	struct arena *a = arena_new(4096);
	struct sasl_login_name n;
	const char *error;

	(void)state;
	check_name_case(&bad, slice_from("user\0@d.com", 11));
	check_name_case(&bad, slice_from("user@d.com\0", 11));
	check_name_case(&bad, slice_from("user@d.com@admin\0", 17));

	/* address of 254 octets: fine; 255: too long */
	memset(buf, 'a', 64);
	buf[64] = '@';
	memset(buf + 65, 'b', 189);
	for (size_t i = 65 + 60; i < 254; i += 61)
		buf[i] = '.';
	assert_int_equal(sasl_login_name_parse(slice_from(buf, 254), NULL, a, &n, &error), 0);
	assert_int_equal(strlen(n.address), 254);
	buf[254] = 'c';
	assert_int_equal(sasl_login_name_parse(slice_from(buf, 255), NULL, a, &n, &error), -1);
	/* with +detail the address is checked as written */
	memcpy(buf + 5, "+xx", 3);
	assert_int_equal(sasl_login_name_parse(slice_from(buf, 255), NULL, a, &n, &error), -1);
	assert_int_equal(sasl_login_name_parse(slice_from(buf, 254), NULL, a, &n, &error), 0);
	assert_int_equal(strlen(n.address), 254 - 64 + 5);
	/* a long master suffix on a 254-octet address: fine up to 512 total */
	memset(buf + 254, 'm', 258);
	buf[254] = '@';
	buf[512] = '\0';
	assert_int_equal(sasl_login_name_parse(slice_from(buf, 512), buf + 255, a, &n, &error), 0);
	assert_true(n.is_master);
	buf[512] = 'm';
	assert_int_equal(sasl_login_name_parse(slice_from(buf, 513), NULL, a, &n, &error), -1);
	/* a 100 KB name is refused quickly */
	{
		char *huge = malloc(100000);

		memset(huge, 'a', 100000);
		huge[50] = '@';
		assert_int_equal(sasl_login_name_parse(slice_from(huge, 100000), NULL, a, &n,
						       &error),
				 -1);
		free(huge);
	}
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mech_names),
		cmocka_unit_test(test_plain_rfc4616_examples),
		cmocka_unit_test(test_plain_message_errors),
		cmocka_unit_test(test_plain_utf8_ok),
		cmocka_unit_test(test_plain_field_limits),
		cmocka_unit_test(test_plain_base64_errors),
		cmocka_unit_test(test_plain_empty_responses),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_step_before_start),
		cmocka_unit_test(test_login_state_machine),
		cmocka_unit_test(test_login_errors),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_plain_encode),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_login_names),
		cmocka_unit_test(test_login_name_nul_and_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
