#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net/cidr.h"

/* A peer address from text; IPv6 if it contains ':'. */
static struct sockaddr_storage peer(const char *ip)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	}
	return ss;
}

static bool match(const char *range, const char *ip)
{
	struct sockaddr_storage ss = peer(ip);
	const char *error = NULL;
	struct cidr c;

	assert_int_equal(cidr_parse(range, &c, &error), 0);
	return cidr_match(&c, (const struct sockaddr *)&ss);
}

static void test_parse_valid(void **state)
{
	const char *error = NULL;
	struct cidr c;

	(void)state;
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, &error), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_memory_equal(c.addr, ((uint8_t[]){ 10, 0, 0, 0 }), 4);

	assert_int_equal(cidr_parse("127.0.0.1", &c, &error), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 32);
	assert_memory_equal(c.addr, ((uint8_t[]){ 127, 0, 0, 1 }), 4);

	/* host bits are cleared */
	assert_int_equal(cidr_parse("10.1.2.3/8", &c, &error), 0);
	assert_memory_equal(c.addr, ((uint8_t[]){ 10, 0, 0, 0 }), 4);
	assert_int_equal(cidr_parse("172.31.255.255/12", &c, &error), 0);
	assert_memory_equal(c.addr, ((uint8_t[]){ 172, 16, 0, 0 }), 4);
	assert_int_equal(cidr_parse("1.2.3.4/0", &c, &error), 0);
	assert_int_equal(c.prefix, 0);
	assert_memory_equal(c.addr, ((uint8_t[]){ 0, 0, 0, 0 }), 4);

	assert_int_equal(cidr_parse("::1", &c, &error), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(c.addr[15], 1);

	assert_int_equal(cidr_parse("fe80::1234/10", &c, &error), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 10);
	assert_memory_equal(c.addr, ((uint8_t[16]){ 0xfe, 0x80 }), 16);

	assert_int_equal(cidr_parse("2001:DB8::/32", &c, &error), 0);
	assert_int_equal(cidr_parse("::/0", &c, &error), 0);
	assert_int_equal(cidr_parse("::ffff:10.0.0.0/104", &c, &error), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(cidr_parse("::1/128", &c, &error), 0);
	assert_int_equal(cidr_parse("255.255.255.255/32", &c, &error), 0);
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"/8",
		"abc",
		"1.2.3",
		"1.2.3.4.5",
		"256.0.0.0",
		"01.2.3.4",
		"10.0.0.0/33",
		"10.0.0.0/",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/08",
		"10.0.0.0/8x",
		"10.0.0.0/8/8",
		"10.0.0.0/1000",
		"10.0.0.0x",
		"::1/129",
		"::1/",
		"fe80::1%eth0",
		":::1",
		"1::2::3",
		" 10.0.0.0/8",
		"10.0.0.0/8 ",
		"10.0.0.0 /8",
		"10.0.0.0/ 8",
		"10.0.0.0/8\n",
		"1:2:3:4:5:6:7:8:9",
		"0000:0000:0000:0000:0000:0000:0000:0000:0000/1",
		"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000",
	};
	struct cidr c = { .family = 12345 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *error = NULL;

		if (cidr_parse(bad[i], &c, &error) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(error);
	}
	/* nothing was written on failure */
	assert_int_equal(c.family, 12345);
}

static void test_match_v4(void **state)
{
	(void)state;
	assert_true(match("10.0.0.0/8", "10.1.2.3"));
	assert_true(match("10.0.0.0/8", "10.255.255.255"));
	assert_false(match("10.0.0.0/8", "11.0.0.0"));
	assert_false(match("10.0.0.0/8", "9.255.255.255"));
	assert_true(match("192.168.1.0/25", "192.168.1.127"));
	assert_false(match("192.168.1.0/25", "192.168.1.128"));
	assert_true(match("127.0.0.1", "127.0.0.1"));
	assert_false(match("127.0.0.1", "127.0.0.2"));
	assert_true(match("0.0.0.0/0", "203.0.113.7"));
	/* an IPv4 range never matches a real IPv6 peer */
	assert_false(match("0.0.0.0/0", "2001:db8::1"));
	assert_false(match("0.0.0.0/0", "::1"));
	/* ::a.b.c.d (IPv4-compatible, deprecated) is not the mapped form */
	assert_false(match("10.0.0.0/8", "::10.1.2.3"));
}

static void test_match_v4_mapped(void **state)
{
	(void)state;
	/* a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d */
	assert_true(match("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(match("10.0.0.0/8", "::ffff:11.1.2.3"));
	assert_true(match("0.0.0.0/0", "::ffff:1.2.3.4"));
	assert_true(match("192.168.1.5", "::ffff:192.168.1.5"));
	/* and IPv6 ranges over the mapped space match plain IPv4 peers */
	assert_true(match("::ffff:0:0/96", "10.1.2.3"));
	assert_true(match("::ffff:0:0/96", "::ffff:10.1.2.3"));
	assert_true(match("::ffff:10.0.0.0/104", "10.200.0.1"));
	assert_false(match("::ffff:10.0.0.0/104", "11.0.0.1"));
	assert_false(match("::ffff:0:0/96", "2001:db8::1"));
	assert_true(match("::/0", "10.1.2.3"));
	assert_false(match("2001:db8::/32", "10.1.2.3"));
}

static void test_match_v6(void **state)
{
	(void)state;
	assert_true(match("fe80::/10", "fe80::1"));
	assert_true(match("fe80::/10", "febf:ffff::1"));
	assert_false(match("fe80::/10", "fec0::1"));
	assert_true(match("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(match("2001:db8::/32", "2001:db9::1"));
	assert_true(match("::1", "::1"));
	assert_false(match("::1", "::2"));
	assert_true(match("2001:db8::1/127", "2001:db8::"));
	assert_false(match("2001:db8::1/127", "2001:db8::2"));
	assert_true(match("::/0", "2001:db8::1"));
}

static void test_match_odd_inputs(void **state)
{
	struct sockaddr_storage ss = peer("10.1.2.3");
	struct sockaddr unix_sa = { .sa_family = AF_UNIX };
	struct cidr c;
	const char *error;

	(void)state;
	assert_int_equal(cidr_parse("0.0.0.0/0", &c, &error), 0);
	assert_false(cidr_match(&c, NULL));
	assert_false(cidr_match(NULL, (struct sockaddr *)&ss));
	assert_false(cidr_match(&c, &unix_sa));
	c.prefix = 33; /* a corrupt struct never matches */
	assert_false(cidr_match(&c, (struct sockaddr *)&ss));
	assert_int_equal(cidr_parse("::/0", &c, &error), 0);
	assert_true(cidr_match(&c, (struct sockaddr *)&ss));
	c.prefix = 129;
	assert_false(cidr_match(&c, (struct sockaddr *)&ss));
	c.family = AF_UNIX;
	c.prefix = 0;
	assert_false(cidr_match(&c, (struct sockaddr *)&ss));
}

static void test_list(void **state)
{
	struct cidr_list l = { 0 }, copy = { 0 };
	struct sockaddr_storage a = peer("192.168.7.1"), b = peer("2001:db8::5");
	struct sockaddr_storage m = peer("::ffff:172.20.0.1"), o = peer("8.8.8.8");
	const char *error = NULL;

	(void)state;
	assert_false(cidr_list_match(&l, (struct sockaddr *)&a));
	assert_int_equal(cidr_list_add(&l, "192.168.0.0/16", &error), 0);
	assert_int_equal(cidr_list_add(&l, "172.16.0.0/12", &error), 0);
	assert_int_equal(cidr_list_add(&l, "2001:db8::/32", &error), 0);
	assert_int_equal(cidr_list_add(&l, "10.0.0.0/33", &error), -1);
	assert_non_null(error);
	assert_int_equal(l.count, 3);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&a));
	assert_true(cidr_list_match(&l, (struct sockaddr *)&b));
	assert_true(cidr_list_match(&l, (struct sockaddr *)&m));
	assert_false(cidr_list_match(&l, (struct sockaddr *)&o));

	copy.count = 99; /* overwritten, not freed */
	cidr_list_copy(&copy, &l);
	assert_int_equal(copy.count, 3);
	assert_ptr_not_equal(copy.items, l.items);
	cidr_list_free(&l);
	assert_null(l.items);
	assert_int_equal(l.count, 0);
	assert_false(cidr_list_match(&l, (struct sockaddr *)&a));
	assert_true(cidr_list_match(&copy, (struct sockaddr *)&a));
	assert_true(cidr_list_match(&copy, (struct sockaddr *)&m));

	cidr_list_copy(&l, &copy);
	cidr_list_copy(&copy, &copy); /* onto itself: unchanged */
	assert_int_equal(copy.count, 3);
	assert_true(cidr_list_match(&copy, (struct sockaddr *)&b));
	cidr_list_free(&copy);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&b));
	cidr_list_free(&l);
	cidr_list_free(&l); /* twice is fine */
	cidr_list_free(NULL);

	/* empty copy */
	cidr_list_copy(&copy, &l);
	assert_null(copy.items);
	assert_int_equal(copy.count, 0);
	assert_false(cidr_list_match(NULL, (struct sockaddr *)&a));
}

static bool loopback(const char *ip)
{
	struct sockaddr_storage ss = peer(ip);

	return cidr_is_loopback((struct sockaddr *)&ss);
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(loopback("127.0.0.1"));
	assert_true(loopback("127.255.0.9"));
	assert_true(loopback("::1"));
	assert_true(loopback("::ffff:127.0.0.1"));
	assert_true(loopback("::ffff:127.1.2.3"));
	assert_false(loopback("128.0.0.1"));
	assert_false(loopback("::2"));
	assert_false(loopback("::ffff:10.0.0.1"));
	assert_false(loopback("::127.0.0.1"));
	assert_false(cidr_is_loopback(NULL));
}

static void test_addr_str(void **state)
{
	struct sockaddr_storage v4 = peer("203.0.113.7"), v6 = peer("2001:db8::1");
	struct sockaddr_storage mapped = peer("::ffff:10.1.2.3");
	struct sockaddr unix_sa = { .sa_family = AF_UNIX };
	char buf[INET6_ADDRSTRLEN], small[4] = "xyz";

	(void)state;
	assert_string_equal(cidr_addr_str((struct sockaddr *)&v4, buf, sizeof(buf)),
			    "203.0.113.7");
	assert_string_equal(cidr_addr_str((struct sockaddr *)&v6, buf, sizeof(buf)),
			    "2001:db8::1");
	assert_string_equal(cidr_addr_str((struct sockaddr *)&mapped, buf, sizeof(buf)),
			    "10.1.2.3");
	assert_ptr_equal(cidr_addr_str(&unix_sa, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "");
	/* too small: empty string, never an overflow */
	assert_string_equal(cidr_addr_str((struct sockaddr *)&v6, small, sizeof(small)), "");
	assert_string_equal(cidr_addr_str(NULL, buf, sizeof(buf)), "");
	small[0] = 'x'; /* size 0: not a byte written */
	assert_ptr_equal(cidr_addr_str((struct sockaddr *)&v4, small, 0), small);
	assert_int_equal(small[0], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_match_v4),
		cmocka_unit_test(test_match_v4_mapped),
		cmocka_unit_test(test_match_v6),
		cmocka_unit_test(test_match_odd_inputs),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_addr_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
