/* The per-account search limiter with a fake clock. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imap/imap-searchlimit.h"

static void test_limit_and_slide(void **state)
{
	struct search_limiter *sl = search_limiter_new(3, 60000);

	(void)state;
	assert_int_equal(search_limiter_take(sl, 7, 1000), 0);
	assert_int_equal(search_limiter_take(sl, 7, 2000), 0);
	assert_int_equal(search_limiter_take(sl, 7, 3000), 0);
	/* the 4th within the window waits until the first leaves it */
	assert_int_equal(search_limiter_take(sl, 7, 4000), 57000);
	/* a refused search is not recorded: the wait keeps shrinking */
	assert_int_equal(search_limiter_take(sl, 7, 30000), 31000);
	/* other accounts are not affected */
	assert_int_equal(search_limiter_take(sl, 8, 30000), 0);
	/* the window slides: one slot frees at 61 s, the next at 62 s */
	assert_int_equal(search_limiter_take(sl, 7, 61000), 0);
	assert_int_equal(search_limiter_take(sl, 7, 61500), 500);
	assert_int_equal(search_limiter_take(sl, 7, 62000), 0);
	search_limiter_free(&sl);
	assert_null(sl);
}

static void test_zero_disables(void **state)
{
	struct search_limiter *sl = search_limiter_new(0, 60000);

	(void)state;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(search_limiter_take(sl, 1, 5), 0);
	search_limiter_free(&sl);
}

static void test_idle_entries_dropped_and_many_accounts(void **state)
{
	struct search_limiter *sl = search_limiter_new(1, 1000);

	(void)state;
	/* 5000 accounts share 1024 buckets; all allowed once, refused twice */
	for (int64_t a = 1; a <= 5000; a++)
		assert_int_equal(search_limiter_take(sl, a, 10), 0);
	for (int64_t a = 1; a <= 5000; a++)
		assert_int_not_equal(search_limiter_take(sl, a, 20), 0);
	/* a window later every entry is idle and each is allowed again */
	for (int64_t a = 1; a <= 5000; a++)
		assert_int_equal(search_limiter_take(sl, a, 2000), 0);
	search_limiter_free(&sl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_slide),
		cmocka_unit_test(test_zero_disables),
		cmocka_unit_test(test_idle_entries_dropped_and_many_accounts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
