/* Arena: zeroed aligned allocations, big one-offs, reset, free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/arena.h"

static void test_alloc_zeroed_aligned(void **state)
{
	struct arena *a = arena_new(256);

	(void)state;
	for (int i = 1; i < 1000; i++) {
		unsigned char *p = arena_alloc(a, (size_t)i % 97 + 1);

		assert_int_equal((uintptr_t)p % 16, 0);
		for (int j = 0; j < i % 97 + 1; j++)
			assert_int_equal(p[j], 0);
		memset(p, 0xff, (size_t)i % 97 + 1);
	}
	arena_free(&a);
	assert_null(a);
	arena_free(&a); /* accepts NULL */
}

static void test_big_and_reset(void **state)
{
	struct arena *a = arena_new(1024);
	char *small = arena_strdup(a, "kept across a big one");
	char *big = arena_alloc(a, 1 << 20);

	(void)state;
	memset(big, 'x', 1 << 20);
	assert_string_equal(small, "kept across a big one");
	assert_string_equal(arena_printf(a, "%s-%d", "n", 42), "n-42");
	assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
	assert_true(arena_used(a) >= (1u << 20));
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	assert_string_equal(arena_strdup(a, "again"), "again");
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed_aligned),
		cmocka_unit_test(test_big_and_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
