/* struct slice helpers, number parsing with overflow, struct buf ceiling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/str.h"

static void test_numbers(void **state)
{
	uint32_t u32;
	uint64_t u64;

	(void)state;
	assert_int_equal(str_to_u32(SLICE_LIT("0"), &u32), 0);
	assert_int_equal(u32, 0);
	assert_int_equal(str_to_u32(SLICE_LIT("4294967295"), &u32), 0);
	assert_int_equal(u32, UINT32_MAX);
	assert_int_equal(str_to_u32(SLICE_LIT("4294967296"), &u32), -1);
	assert_int_equal(str_to_u64(SLICE_LIT("18446744073709551615"), &u64), 0);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(str_to_u64(SLICE_LIT("18446744073709551616"), &u64), -1);
	assert_int_equal(str_to_u32(SLICE_LIT(""), &u32), -1);
	assert_int_equal(str_to_u32(SLICE_LIT("-1"), &u32), -1);
	assert_int_equal(str_to_u32(SLICE_LIT("+1"), &u32), -1);
	assert_int_equal(str_to_u32(SLICE_LIT("1 "), &u32), -1);
	assert_int_equal(str_to_u32(SLICE_LIT("12a"), &u32), -1);
}

static void test_slices(void **state)
{
	(void)state;
	assert_true(slice_eq_ci(SLICE_LIT("CaPaBiLiTy"), "capability"));
	assert_false(slice_eq_ci(SLICE_LIT("CAPABILITY2"), "capability"));
	assert_true(slice_starts_with_ci(SLICE_LIT("STARTTLS now"), "starttls"));
	assert_false(slice_starts_with_ci(SLICE_LIT("STA"), "starttls"));
	assert_int_equal(slice_find(SLICE_LIT("a b"), ' '), 1);
	assert_int_equal(slice_find(SLICE_LIT("ab"), ' '), -1);
	assert_true(slice_eq(slice_trim(SLICE_LIT(" \tx y \r\n")), SLICE_LIT("x y")));
	assert_true(slice_eq(slice_trim(SLICE_LIT("   ")), SLICE_LIT("")));
}

static void test_buf_ceiling(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	assert_int_equal(buf_append(&b, "678", 3), 0);
	assert_int_equal(buf_append(&b, "9", 1), -1); /* nothing appended */
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	buf_consume(&b, 3);
	assert_string_equal(b.data, "45678");
	assert_int_equal(buf_printf(&b, "%d", 12), 0);
	assert_string_equal(b.data, "4567812");
	assert_int_equal(buf_printf(&b, "%d", 345), -1);
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	buf_wipe(&b);
	assert_null(b.data);

	buf_init(&b, 0); /* no ceiling: binary-safe growth */
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_append(&b, "\0x", 2), 0);
	assert_int_equal(b.len, 20000);
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_slices),
		cmocka_unit_test(test_buf_ceiling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
