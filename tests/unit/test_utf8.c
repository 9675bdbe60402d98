/* Strict UTF-8: every class of invalid sequence is refused, every valid
   code point range accepted, and sequences cut short are not read past. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"

static bool valid(const char *s)
{
	/* an exact-size heap copy (and its NUL): ASan catches any read past the end */
	size_t n = strlen(s);
	char *copy = malloc(n + 1);
	bool ok;

	memcpy(copy, s, n + 1);
	ok = utf8_is_valid(copy, n);
	free(copy);
	return ok;
}

static void test_valid(void **state)
{
	uint32_t cp;

	(void)state;
	assert_true(valid(""));
	assert_true(valid("plain ascii"));
	assert_true(valid("caf\xc3\xa9"));
	assert_true(valid("\xe2\x82\xac"));         /* U+20AC */
	assert_true(valid("\xef\xbf\xbf"));         /* U+FFFF */
	assert_true(valid("\xf0\x9f\x98\x80"));     /* U+1F600 */
	assert_true(valid("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
	assert_true(utf8_is_valid("a\0b", 3));      /* NUL is UTF-8 */
	assert_int_equal(utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
	assert_int_equal(cp, 0x20ac);
}

static void test_invalid(void **state)
{
	uint32_t cp;

	(void)state;
	assert_false(valid("\x80"));                 /* lone continuation */
	assert_false(valid("\xc0\xaf"));             /* overlong '/' */
	assert_false(valid("\xc1\xbf"));
	assert_false(valid("\xe0\x80\xaf"));         /* overlong, 3 bytes */
	assert_false(valid("\xf0\x80\x80\xaf"));     /* overlong, 4 bytes */
	assert_false(valid("\xed\xa0\x80"));         /* surrogate U+D800 */
	assert_false(valid("\xed\xbf\xbf"));         /* surrogate U+DFFF */
	assert_false(valid("\xf4\x90\x80\x80"));     /* U+110000 */
	assert_false(valid("\xf5\x80\x80\x80"));
	assert_false(valid("\xff"));
	assert_false(valid("caf\xc3"));              /* cut short */
	assert_false(valid("\xe2\x82"));
	assert_false(valid("\xc3\x28"));             /* bad continuation */
	assert_int_equal(utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 3, &cp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
