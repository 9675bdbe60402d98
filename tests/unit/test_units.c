/* Contract of lib/units.h: Go-style durations and binary sizes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/units.h"

static void dur_ok(const char *s, uint64_t want)
{
	uint64_t ms = 12345;

	if (units_parse_duration(slice_cstr(s), &ms) < 0)
		fail_msg("duration \"%s\" rejected", s);
	if (ms != want)
		fail_msg("duration \"%s\": got %llu ms, want %llu", s, (unsigned long long)ms,
			 (unsigned long long)want);
}

static void dur_bad(const char *s)
{
	uint64_t ms = 12345;

	if (units_parse_duration(slice_cstr(s), &ms) == 0)
		fail_msg("duration \"%s\" accepted (%llu ms)", s, (unsigned long long)ms);
	assert_true(ms == 12345); /* untouched */
}

static void size_ok(const char *s, uint64_t want)
{
	uint64_t b = 12345;

	if (units_parse_size(slice_cstr(s), &b) < 0)
		fail_msg("size \"%s\" rejected", s);
	if (b != want)
		fail_msg("size \"%s\": got %llu, want %llu", s, (unsigned long long)b,
			 (unsigned long long)want);
}

static void size_bad(const char *s)
{
	uint64_t b = 12345;

	if (units_parse_size(slice_cstr(s), &b) == 0)
		fail_msg("size \"%s\" accepted (%llu)", s, (unsigned long long)b);
	assert_true(b == 12345);
}

#define S 1000ULL
#define M (60 * S)
#define H (60 * M)
#define D (24 * H)

static void test_durations(void **state)
{
	(void)state;
	dur_ok("0", 0);
	dur_ok("0s", 0);
	dur_ok("0ms", 0);
	dur_ok("500ms", 500);
	dur_ok("5s", 5 * S);
	dur_ok("15m", 15 * M);
	dur_ok("1h", H);
	dur_ok("7d", 7 * D);
	dur_ok("1h30m", H + 30 * M);
	dur_ok("2m30s", 2 * M + 30 * S);
	dur_ok("1d2h3m4s5ms", D + 2 * H + 3 * M + 4 * S + 5);
	dur_ok("1s1s", 2 * S); /* Go accepts repeated units */
	dur_ok("1.5h", H + 30 * M);
	dur_ok(".5s", 500);
	dur_ok("5.s", 5 * S);
	dur_ok("0.25s", 250);
	dur_ok("1.0005s", 1001); /* 1000.5 ms rounds up */
	dur_ok("1000000ns", 1);
	dur_ok("1ns", 1);        /* never rounds a non-zero value down to 0 */
	dur_ok("1500us", 2);
	dur_ok("0.1ns", 1);
	dur_ok("0.000s", 0);
	dur_ok("1000us", 1);
	dur_ok("2000\xc2\xb5s", 2);
	dur_ok("3000\xce\xbcs", 3);
	dur_ok("00010s", 10 * S);
	dur_ok("213503d", 213503ULL * D);
	dur_ok("18446744073709551615ns", 18446744073710ULL);
}

static void test_duration_errors(void **state)
{
	(void)state;
	dur_bad("");
	dur_bad("5");       /* unit required except for 0 */
	dur_bad("00");
	dur_bad("10 s");
	dur_bad(" 5s");
	dur_bad("5s ");
	dur_bad("-5s");
	dur_bad("+5s");
	dur_bad("5x");
	dur_bad("5S");
	dur_bad("5H");
	dur_bad("5 ");
	dur_bad("s");
	dur_bad(".s");
	dur_bad("5m3");
	dur_bad("1.2.3s");
	dur_bad("5sec");
	dur_bad("5mins");
	dur_bad("1w");
	dur_bad("213504d");                 /* > 2^64 ns */
	dur_bad("18446744073709551616ns");
	dur_bad("99999999999999999999999h");
	dur_bad("213503d213503d");
	dur_bad("\xc2\xb5s");
}

static void test_sizes(void **state)
{
	(void)state;
	size_ok("0", 0);
	size_ok("100", 100);
	size_ok("100b", 100);
	size_ok("100B", 100);
	size_ok("2k", 2048);
	size_ok("512kb", 512 * 1024);
	size_ok("512KiB", 512 * 1024);
	size_ok("25mb", 25ULL << 20);
	size_ok("10MB", 10ULL << 20);
	size_ok("10Mb", 10ULL << 20);
	size_ok("1m", 1ULL << 20);
	size_ok("1gb", 1ULL << 30);
	size_ok("1GiB", 1ULL << 30);
	size_ok("1G", 1ULL << 30);
	size_ok("2tb", 2ULL << 40);
	size_ok("1.5g", 3ULL << 29);
	size_ok("0.5kb", 512);
	size_ok("10 MB", 10ULL << 20);
	size_ok("10\tmb", 10ULL << 20);
	size_ok("1.0001", 1);
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("16777215tb", 16777215ULL << 40);
}

static void test_size_errors(void **state)
{
	(void)state;
	size_bad("");
	size_bad("mb");
	size_bad("-1mb");
	size_bad("+1mb");
	size_bad("1 ");
	size_bad(" 1");
	size_bad("1mbb");
	size_bad("1pb");
	size_bad("1xb");
	size_bad("1.2.3mb");
	size_bad(".");
	size_bad("1,5mb");
	size_bad("18446744073709551616");
	size_bad("16777216tb");
	size_bad("99999999999999999999gb");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_duration_errors),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_size_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
