/* The login rate limiter: every rule with a fake clock, the IP keys, the
   memory bound, hooks, and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "auth/ratelimit.h"

#define SEC 1000ULL
#define MINUTE (60 * SEC)
#define T0 (1000 * MINUTE) /* the fake clock starts here */

/* Seed-doc defaults as loaded by config.c. */
static struct config_rate_limit cfg_defaults(void)
{
	return (struct config_rate_limit){
		.enabled = true,
		.max_attempts_per_ip = 10,
		.max_attempts_per_username = 5,
		.ip_window_ms = 15 * MINUTE,
		.username_window_ms = 15 * MINUTE,
		.fast_block_threshold = 10,
		.fast_block_ms = 5 * MINUTE,
		.delay_start_threshold = 2,
		.initial_delay_ms = 1 * SEC,
		.max_delay_ms = 30 * SEC,
		.delay_multiplier = 2.0,
	};
}

/* Only the rule under test on. */
static struct config_rate_limit cfg_none(void)
{
	return (struct config_rate_limit){ .enabled = true, .delay_multiplier = 2.0 };
}

static enum ratelimit_verdict check(struct ratelimit *rl, const char *ip, const char *user,
				    uint64_t now, uint64_t *delay)
{
	uint64_t d = 12345;
	enum ratelimit_verdict v = ratelimit_check(rl, ip, user, RATELIMIT_KIND_USER, now, &d);

	if (delay != NULL)
		*delay = d;
	return v;
}

static void failed(struct ratelimit *rl, const char *ip, const char *user, uint64_t now)
{
	ratelimit_record_failure(rl, ip, user, RATELIMIT_KIND_USER, now);
}

static void ok(struct ratelimit *rl, const char *ip, const char *user, uint64_t now)
{
	ratelimit_record_success(rl, ip, user, RATELIMIT_KIND_USER, now);
}

static void test_disabled_always_allows(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit *rl;
	struct ratelimit_stats st;
	uint64_t d;

	(void)state;
	c.enabled = false;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(check(rl, "192.0.2.1", "alice@example.org", T0 + (uint64_t)i, &d),
				 RATELIMIT_ALLOW);
		assert_int_equal(d, 0);
		failed(rl, "192.0.2.1", "alice@example.org", T0 + (uint64_t)i);
	}
	ok(rl, "192.0.2.1", "alice@example.org", T0);
	ratelimit_get_stats(rl, T0, &st);
	assert_int_equal(st.ip_entries, 0);
	assert_int_equal(st.username_entries, 0);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.verdicts[RATELIMIT_ALLOW], 100);
	assert_int_equal(ratelimit_expire(rl, T0), 0);
	ratelimit_free(&rl);
	assert_null(rl);
	ratelimit_free(&rl);
	ratelimit_free(NULL);
}

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(ratelimit_verdict_name(RATELIMIT_ALLOW), "allow");
	assert_string_equal(ratelimit_verdict_name(RATELIMIT_BLOCKED_FAST), "fast_block");
	assert_string_equal(ratelimit_verdict_name(RATELIMIT_BLOCKED_IP), "ip_window");
	assert_string_equal(ratelimit_verdict_name(RATELIMIT_BLOCKED_USERNAME), "username_window");
	assert_string_equal(ratelimit_verdict_name(RATELIMIT_BLOCKED_SHARED), "shared");
	assert_string_equal(ratelimit_verdict_name(RATELIMIT_VERDICT_COUNT), "?");
}

/* Defaults: 0, 0, 1s, 2s, 4s, 8s, 16s, 30s, 30s ... before attempts 1, 2, 3 ... */
static void test_progressive_delay_sequence(void **state)
{
	static const uint64_t want[] = { 0, 0, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit *rl;
	uint64_t d, now = T0;

	(void)state;
	c.fast_block_threshold = 0; /* keep going past 10 */
	c.max_attempts_per_ip = 0;
	rl = ratelimit_new(&c);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(check(rl, "192.0.2.1", NULL, now, &d), RATELIMIT_ALLOW);
		assert_int_equal(d, want[i]);
		failed(rl, "192.0.2.1", NULL, now);
		now += SEC;
	}
	/* far past the cap: still the cap, no overflow */
	for (int i = 0; i < 5000; i++)
		failed(rl, "192.0.2.1", NULL, now);
	assert_int_equal(check(rl, "192.0.2.1", NULL, now, &d), RATELIMIT_ALLOW);
	assert_int_equal(d, 30000);
	/* another IP is not delayed */
	assert_int_equal(check(rl, "192.0.2.2", NULL, now, &d), RATELIMIT_ALLOW);
	assert_int_equal(d, 0);
	/* success resets the delay */
	ok(rl, "192.0.2.1", "alice@example.org", now);
	assert_int_equal(check(rl, "192.0.2.1", NULL, now, &d), RATELIMIT_ALLOW);
	assert_int_equal(d, 0);
	ratelimit_free(&rl);
}

static void test_delay_parameters(void **state)
{
	struct config_rate_limit c = cfg_none();
	struct ratelimit *rl;
	uint64_t d;

	(void)state;
	/* threshold 3, 500ms, x1.5, cap 2s: 500, 750, 1125, 1687, 2000 */
	c.delay_start_threshold = 3;
	c.initial_delay_ms = 500;
	c.delay_multiplier = 1.5;
	c.max_delay_ms = 2000;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 3; i++) {
		check(rl, "192.0.2.1", NULL, T0, &d);
		assert_int_equal(d, 0);
		failed(rl, "192.0.2.1", NULL, T0);
	}
	{
		static const uint64_t want[] = { 500, 750, 1125, 1687, 2000, 2000 };

		for (size_t i = 0; i < 6; i++) {
			check(rl, "192.0.2.1", NULL, T0, &d);
			assert_int_equal(d, want[i]);
			failed(rl, "192.0.2.1", NULL, T0);
		}
	}
	ratelimit_free(&rl);

	/* multiplier 1: constant; huge multiplier: straight to the cap */
	c.delay_multiplier = 1.0;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 10; i++)
		failed(rl, "192.0.2.1", NULL, T0);
	check(rl, "192.0.2.1", NULL, T0, &d);
	assert_int_equal(d, 500);
	ratelimit_free(&rl);
	c.delay_multiplier = 1e300;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 10; i++)
		failed(rl, "192.0.2.1", NULL, T0);
	check(rl, "192.0.2.1", NULL, T0, &d);
	assert_int_equal(d, 2000);
	ratelimit_free(&rl);

	/* a zero turns delays off */
	c = cfg_defaults();
	c.delay_start_threshold = 0;
	c.fast_block_threshold = 0;
	c.max_attempts_per_ip = 0;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 10; i++)
		failed(rl, "192.0.2.1", NULL, T0);
	check(rl, "192.0.2.1", NULL, T0, &d);
	assert_int_equal(d, 0);
	ratelimit_free(&rl);
	c = cfg_defaults();
	c.initial_delay_ms = 0;
	c.fast_block_threshold = 0;
	c.max_attempts_per_ip = 0;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 10; i++)
		failed(rl, "192.0.2.1", NULL, T0);
	check(rl, "192.0.2.1", NULL, T0, &d);
	assert_int_equal(d, 0);
	ratelimit_free(&rl);
}

/* Threshold 10: the 11th attempt is refused for fast_block_duration, with
   the delay still applied; as in the seed the streak survives the block. */
static void test_fast_block(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit *rl;
	struct ratelimit_stats st;
	uint64_t d, now = T0, blocked_at;

	(void)state;
	c.max_attempts_per_ip = 0; /* the window rule would block as well */
	rl = ratelimit_new(&c);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(check(rl, "192.0.2.1", NULL, now, NULL), RATELIMIT_ALLOW);
		failed(rl, "192.0.2.1", NULL, now);
		now += SEC;
	}
	blocked_at = now - SEC;
	assert_int_equal(check(rl, "192.0.2.1", "alice@example.org", now, &d),
			 RATELIMIT_BLOCKED_FAST);
	assert_int_equal(d, 30000); /* a refusal waits like a wrong password */
	ratelimit_get_stats(rl, now, &st);
	assert_int_equal(st.blocked_ips, 1);
	assert_int_equal(st.verdicts[RATELIMIT_BLOCKED_FAST], 1);
	/* other IPs are not affected */
	assert_int_equal(check(rl, "192.0.2.2", "alice@example.org", now, NULL), RATELIMIT_ALLOW);
	/* the block holds until exactly fast_block_duration after the 10th failure */
	assert_int_equal(check(rl, "192.0.2.1", NULL, blocked_at + 5 * MINUTE - 1, NULL),
			 RATELIMIT_BLOCKED_FAST);
	assert_int_equal(check(rl, "192.0.2.1", NULL, blocked_at + 5 * MINUTE, NULL),
			 RATELIMIT_ALLOW);
	ratelimit_get_stats(rl, blocked_at + 5 * MINUTE, &st);
	assert_int_equal(st.blocked_ips, 0);
	/* the next failure blocks again at once */
	now = blocked_at + 5 * MINUTE;
	failed(rl, "192.0.2.1", NULL, now);
	assert_int_equal(check(rl, "192.0.2.1", NULL, now + 1, NULL), RATELIMIT_BLOCKED_FAST);
	/* after ip_window without failures the streak is gone: 9 more are allowed */
	now += 5 * MINUTE + 15 * MINUTE;
	for (int i = 0; i < 9; i++) {
		assert_int_equal(check(rl, "192.0.2.1", NULL, now, NULL), RATELIMIT_ALLOW);
		failed(rl, "192.0.2.1", NULL, now);
	}
	assert_int_equal(check(rl, "192.0.2.1", NULL, now, &d), RATELIMIT_ALLOW);
	assert_int_equal(d, 30000);
	failed(rl, "192.0.2.1", NULL, now);
	assert_int_equal(check(rl, "192.0.2.1", NULL, now, NULL), RATELIMIT_BLOCKED_FAST);
	/* a success (recorded anyway by the caller) lifts the fast block */
	ok(rl, "192.0.2.1", NULL, now);
	assert_int_equal(check(rl, "192.0.2.1", NULL, now, &d), RATELIMIT_ALLOW);
	assert_int_equal(d, 0);
	ratelimit_free(&rl);
}

/* max_attempts_per_ip failures within ip_window: a sliding window. */
static void test_ip_window_slides(void **state)
{
	struct config_rate_limit c = cfg_none();
	struct ratelimit *rl;

	(void)state;
	c.max_attempts_per_ip = 5;
	c.ip_window_ms = 10 * MINUTE;
	rl = ratelimit_new(&c);
	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + i * MINUTE, NULL),
				 RATELIMIT_ALLOW);
		failed(rl, "192.0.2.1", "u@example.org", T0 + i * MINUTE);
	}
	/* the 6th is refused, even if its password would be right */
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + 5 * MINUTE, NULL), RATELIMIT_BLOCKED_IP);
	assert_int_equal(check(rl, "192.0.2.1", "other@example.org", T0 + 10 * MINUTE - 1, NULL),
			 RATELIMIT_BLOCKED_IP);
	/* the first failure leaves the window at T0 + 10m */
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + 10 * MINUTE, NULL), RATELIMIT_ALLOW);
	failed(rl, "192.0.2.1", NULL, T0 + 10 * MINUTE);
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + 10 * MINUTE, NULL),
			 RATELIMIT_BLOCKED_IP);
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + 11 * MINUTE, NULL), RATELIMIT_ALLOW);
	/* a success does not empty the window (the seed's rows stayed) */
	ok(rl, "192.0.2.1", "mine@example.org", T0 + 11 * MINUTE);
	failed(rl, "192.0.2.1", NULL, T0 + 11 * MINUTE);
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + 11 * MINUTE, NULL),
			 RATELIMIT_BLOCKED_IP);
	/* the window now holds 2m, 3m, 4m, 10m, 11m: 2m leaves at 12m */
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + 12 * MINUTE - 1, NULL),
			 RATELIMIT_BLOCKED_IP);
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0 + 12 * MINUTE, NULL), RATELIMIT_ALLOW);
	ratelimit_free(&rl);
}

/* max_attempts_per_username failures within username_window from any IPs:
   the username is refused (seed doc), case-insensitively. */
static void test_username_window(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit *rl;
	char ip[32];
	uint64_t d;

	(void)state;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 5; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		assert_int_equal(
		    check(rl, ip, "alice@example.org", T0 + (uint64_t)i * MINUTE, NULL),
		    RATELIMIT_ALLOW);
		failed(rl, ip, "alice@example.org", T0 + (uint64_t)i * MINUTE);
	}
	/* the 6th, from a fresh IP and with the right password: refused */
	assert_int_equal(check(rl, "203.0.113.9", "alice@example.org", T0 + 5 * MINUTE, &d),
			 RATELIMIT_BLOCKED_USERNAME);
	assert_int_equal(d, 0); /* that IP has no streak */
	assert_int_equal(check(rl, "203.0.113.9", "ALICE@Example.ORG", T0 + 5 * MINUTE, NULL),
			 RATELIMIT_BLOCKED_USERNAME);
	/* other users, and the same IP without a username, are fine */
	assert_int_equal(check(rl, "203.0.113.9", "bob@example.org", T0 + 5 * MINUTE, NULL),
			 RATELIMIT_ALLOW);
	assert_int_equal(check(rl, "203.0.113.9", NULL, T0 + 5 * MINUTE, NULL), RATELIMIT_ALLOW);
	assert_int_equal(check(rl, NULL, "alice@example.org", T0 + 5 * MINUTE, NULL),
			 RATELIMIT_BLOCKED_USERNAME);
	/* slides: the first failure leaves at T0 + 15m */
	assert_int_equal(check(rl, "203.0.113.9", "alice@example.org", T0 + 15 * MINUTE - 1, NULL),
			 RATELIMIT_BLOCKED_USERNAME);
	assert_int_equal(check(rl, "203.0.113.9", "alice@example.org", T0 + 15 * MINUTE, NULL),
			 RATELIMIT_ALLOW);
	ratelimit_free(&rl);

	/* max_attempts_per_username 0: no username rule, no username entries */
	c.max_attempts_per_username = 0;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 50; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		failed(rl, ip, "alice@example.org", T0);
	}
	assert_int_equal(check(rl, "203.0.113.9", "alice@example.org", T0, NULL), RATELIMIT_ALLOW);
	{
		struct ratelimit_stats st;

		ratelimit_get_stats(rl, T0, &st);
		assert_int_equal(st.username_entries, 0);
		assert_int_equal(st.ip_entries, 50);
	}
	ratelimit_free(&rl);
}

/* A username block does not lock the owner out of an address it recently
   logged in from; the owner's success clears the failures. */
static void test_username_block_spares_known_address(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit_options o = { .known_address_ms = 24 * 60 * MINUTE };
	struct ratelimit *rl;
	char ip[32];
	uint64_t now = T0;

	(void)state;
	rl = ratelimit_new_with(&c, &o);
	ok(rl, "192.0.2.10", "alice@example.org", now);       /* home */
	ok(rl, "2001:db8:aa:bb::1", "alice@example.org", now); /* phone, IPv6 */
	now += MINUTE;
	for (int i = 0; i < 5; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		failed(rl, ip, "alice@example.org", now);
	}
	assert_int_equal(check(rl, "203.0.113.9", "alice@example.org", now, NULL),
			 RATELIMIT_BLOCKED_USERNAME);
	assert_int_equal(check(rl, "192.0.2.10", "alice@example.org", now, NULL), RATELIMIT_ALLOW);
	/* the same /64 */
	assert_int_equal(check(rl, "2001:db8:aa:bb:1234::99", "alice@example.org", now, NULL),
			 RATELIMIT_ALLOW);
	assert_int_equal(check(rl, "2001:db8:aa:bc::1", "alice@example.org", now, NULL),
			 RATELIMIT_BLOCKED_USERNAME);
	/* the known address does not spare it the IP rules */
	for (int i = 0; i < 10; i++)
		failed(rl, "192.0.2.10", "someone@example.org", now);
	assert_int_equal(check(rl, "192.0.2.10", "alice@example.org", now, NULL),
			 RATELIMIT_BLOCKED_FAST);
	ok(rl, "192.0.2.10", "someone@example.org", now); /* lifts the fast block... */
	assert_int_equal(check(rl, "192.0.2.10", "alice@example.org", now, NULL),
			 RATELIMIT_BLOCKED_IP); /* ...not the window */
	/* the owner's success from the phone clears alice's failures for all */
	ok(rl, "2001:db8:aa:bb::7", "alice@example.org", now);
	assert_int_equal(check(rl, "203.0.113.9", "alice@example.org", now, NULL), RATELIMIT_ALLOW);
	/* known addresses expire */
	now += 24 * 60 * MINUTE - 1;
	for (int i = 0; i < 5; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		failed(rl, ip, "alice@example.org", now);
	}
	assert_int_equal(check(rl, "2001:db8:aa:bb::1", "alice@example.org", now, NULL),
			 RATELIMIT_ALLOW); /* refreshed by the phone's success at T0 + 1m */
	assert_int_equal(
	    check(rl, "2001:db8:aa:bb::1", "alice@example.org", now + 2 * MINUTE, NULL),
	    RATELIMIT_BLOCKED_USERNAME);
	ratelimit_free(&rl);

	/* at most RATELIMIT_KNOWN_ADDRS are kept, the most recent ones */
	rl = ratelimit_new_with(&c, &o);
	for (int i = 0; i < RATELIMIT_KNOWN_ADDRS + 2; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		ok(rl, ip, "alice@example.org", T0 + (uint64_t)i);
	}
	for (int i = 0; i < 5; i++)
		failed(rl, "198.51.100.1", "alice@example.org", T0 + 10);
	for (int i = 0; i < RATELIMIT_KNOWN_ADDRS + 2; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		assert_int_equal(check(rl, ip, "alice@example.org", T0 + 10, NULL),
				 i < 2 ? RATELIMIT_BLOCKED_USERNAME : RATELIMIT_ALLOW);
	}
	ratelimit_free(&rl);
}

/* Master attempts never count against the target account, nor against an
   account named like the master; they do count against the IP. */
static void test_master_namespace(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit *rl;
	char ip[32];
	uint64_t d;

	(void)state;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 5; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		ratelimit_record_failure(rl, ip, "admin", RATELIMIT_KIND_MASTER, T0);
	}
	assert_int_equal(ratelimit_check(rl, "203.0.113.1", "admin", RATELIMIT_KIND_MASTER, T0, &d),
			 RATELIMIT_BLOCKED_USERNAME);
	assert_int_equal(ratelimit_check(rl, "203.0.113.1", "admin", RATELIMIT_KIND_USER, T0, &d),
			 RATELIMIT_ALLOW);
	assert_int_equal(check(rl, "203.0.113.1", "alice@example.org", T0, NULL), RATELIMIT_ALLOW);
	/* and the other way round */
	for (int i = 0; i < 5; i++)
		failed(rl, "198.51.100.9", "boss", T0);
	assert_int_equal(ratelimit_check(rl, "203.0.113.1", "boss", RATELIMIT_KIND_MASTER, T0, &d),
			 RATELIMIT_ALLOW);
	/* the IP counted the master failures */
	for (int i = 0; i < 9; i++)
		ratelimit_record_failure(rl, "198.51.100.7", "admin", RATELIMIT_KIND_MASTER, T0);
	failed(rl, "198.51.100.7", NULL, T0);
	assert_int_equal(check(rl, "198.51.100.7", "alice@example.org", T0, NULL),
			 RATELIMIT_BLOCKED_FAST);
	/* a master success clears the master failures only */
	ratelimit_record_success(rl, "203.0.113.1", "admin", RATELIMIT_KIND_MASTER, T0);
	assert_int_equal(ratelimit_check(rl, "203.0.113.2", "admin", RATELIMIT_KIND_MASTER, T0, &d),
			 RATELIMIT_ALLOW);
	assert_int_equal(check(rl, "203.0.113.2", "boss", T0, NULL), RATELIMIT_BLOCKED_USERNAME);
	ratelimit_free(&rl);
}

static void test_success_resets(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit *rl;
	uint64_t d;

	(void)state;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 4; i++)
		failed(rl, "192.0.2.1", "alice@example.org", T0);
	check(rl, "192.0.2.1", "alice@example.org", T0, &d);
	assert_int_equal(d, 4000);
	ok(rl, "192.0.2.1", "alice@example.org", T0);
	check(rl, "192.0.2.1", "alice@example.org", T0, &d);
	assert_int_equal(d, 0);
	/* alice's 4 failures are gone: 4 more, from elsewhere, do not block */
	for (int i = 0; i < 4; i++)
		failed(rl, "198.51.100.1", "alice@example.org", T0);
	assert_int_equal(check(rl, "198.51.100.2", "alice@example.org", T0, NULL), RATELIMIT_ALLOW);
	failed(rl, "198.51.100.1", "alice@example.org", T0);
	assert_int_equal(check(rl, "198.51.100.2", "alice@example.org", T0, NULL),
			 RATELIMIT_BLOCKED_USERNAME);
	ratelimit_free(&rl);
}

static void test_ip_keys(void **state)
{
	static const struct {
		const char *in;
		unsigned prefix;
		const char *out;
	} cases[] = {
		{ "192.0.2.7", 64, "192.0.2.7" },
		{ "[192.0.2.7]", 64, "192.0.2.7" },
		{ "::ffff:192.0.2.7", 64, "192.0.2.7" },
		{ "::FFFF:c000:0207", 64, "192.0.2.7" },
		{ "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64" },
		{ "2001:DB8:1:2::1", 64, "2001:db8:1:2::/64" },
		{ "[2001:db8:1:2::1%eth0]", 64, "2001:db8:1:2::/64" },
		{ "fe80::1%eth0", 64, "fe80::/64" },
		{ "2001:db8::1", 128, "2001:db8::1" },
		{ "2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48" },
		{ "2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::/64" }, /* 0: default */
		{ "::1", 64, "::/64" },
		{ "::1", 128, "::1" },
		{ "unix", 64, "unix" },
		{ "192.0.2.300", 64, "192.0.2.300" },
		{ "", 64, "" },
	};
	char out[RATELIMIT_KEY_MAX + 1];
	char long_in[400];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = ratelimit_ip_key(cases[i].in, cases[i].prefix, out, sizeof(out));

		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	assert_int_equal(ratelimit_ip_key(NULL, 64, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	memset(long_in, 'x', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	assert_int_equal(ratelimit_ip_key(long_in, 64, out, sizeof(out)), RATELIMIT_KEY_MAX);
	assert_int_equal(ratelimit_ip_key("192.0.2.7", 64, out, 4), 3);
	assert_string_equal(out, "192");
}

/* IPv6 addresses of one /64 share their limits; per address with 128. */
static void test_ipv6_grouping(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit_options o128 = { .ipv6_prefix_len = 128 };
	struct ratelimit *rl;
	char ip[64];

	(void)state;
	rl = ratelimit_new(&c);
	for (int i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2:%x::%x", i * 4099, i + 1);
		failed(rl, ip, NULL, T0);
	}
	assert_int_equal(check(rl, "2001:db8:1:2:ffff:ffff:ffff:ffff", NULL, T0, NULL),
			 RATELIMIT_BLOCKED_FAST);
	assert_int_equal(check(rl, "2001:db8:1:3::1", NULL, T0, NULL), RATELIMIT_ALLOW);
	ratelimit_free(&rl);

	rl = ratelimit_new_with(&c, &o128);
	for (int i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2::%x", i + 1);
		failed(rl, ip, NULL, T0);
	}
	assert_int_equal(check(rl, "2001:db8:1:2::ff", NULL, T0, NULL), RATELIMIT_ALLOW);
	{
		struct ratelimit_stats st;

		ratelimit_get_stats(rl, T0, &st);
		assert_int_equal(st.ip_entries, 10);
	}
	ratelimit_free(&rl);
}

/* Many IPs and usernames: the tables stop at their caps, oldest out. */
static void test_eviction_bound(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit_options o = { .max_ip_entries = 100, .max_username_entries = 50 };
	struct ratelimit *rl;
	struct ratelimit_stats st;
	char ip[32], user[64];
	uint64_t d;

	(void)state;
	rl = ratelimit_new_with(&c, &o);
	for (int i = 0; i < 3; i++)
		failed(rl, "192.0.2.1", "victim@example.org", T0);
	for (int i = 0; i < 10000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		snprintf(user, sizeof(user), "user%d@example.org", i);
		failed(rl, ip, user, T0 + (uint64_t)i);
		ratelimit_get_stats(rl, T0, &st);
		assert_true(st.ip_entries <= 100);
		assert_true(st.username_entries <= 50);
	}
	ratelimit_get_stats(rl, T0, &st);
	assert_int_equal(st.ip_entries, 100);
	assert_int_equal(st.username_entries, 50);
	assert_int_equal(st.evicted, 10001 - 100 + 10001 - 50);
	/* the oldest is gone, the newest kept */
	check(rl, "192.0.2.1", NULL, T0 + 10000, &d);
	assert_int_equal(d, 0);
	for (int i = 0; i < 2; i++)
		failed(rl, "10.0.39.15", NULL, T0 + 10000); /* i = 9999 */
	check(rl, "10.0.39.15", NULL, T0 + 10000, &d);
	assert_int_equal(d, 2000);
	/* a checked entry counts as used: it survives the next evictions */
	for (int i = 0; i < 99; i++) {
		snprintf(ip, sizeof(ip), "172.16.0.%d", i);
		failed(rl, ip, NULL, T0 + 20000);
		check(rl, "10.0.39.15", NULL, T0 + 20000, NULL);
	}
	check(rl, "10.0.39.15", NULL, T0 + 20000, &d);
	assert_int_equal(d, 2000);
	ratelimit_free(&rl);
}

static void test_expire(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct ratelimit_options o = { .known_address_ms = 60 * MINUTE };
	struct ratelimit *rl;
	struct ratelimit_stats st;
	uint64_t d;

	(void)state;
	c.username_window_ms = 30 * MINUTE;
	rl = ratelimit_new_with(&c, &o);
	for (int i = 0; i < 10; i++)
		failed(rl, "192.0.2.1", "alice@example.org", T0); /* fast-blocked till +5m */
	failed(rl, "192.0.2.2", "bob@example.org", T0);
	ok(rl, "192.0.2.3", "carol@example.org", T0); /* known address till +60m */
	assert_int_equal(ratelimit_expire(rl, T0), 0);
	ratelimit_get_stats(rl, T0, &st);
	assert_int_equal(st.ip_entries, 2); /* a success alone creates no IP entry */
	assert_int_equal(st.username_entries, 3);
	/* +15m: IP windows and streaks over */
	assert_int_equal(ratelimit_expire(rl, T0 + 15 * MINUTE - 1), 0);
	assert_int_equal(ratelimit_expire(rl, T0 + 15 * MINUTE), 2);
	/* +30m: username windows over; carol's known address stays */
	assert_int_equal(ratelimit_expire(rl, T0 + 30 * MINUTE), 2);
	ratelimit_get_stats(rl, T0 + 30 * MINUTE, &st);
	assert_int_equal(st.ip_entries, 0);
	assert_int_equal(st.username_entries, 1);
	assert_int_equal(st.expired, 4);
	assert_int_equal(ratelimit_expire(rl, T0 + 60 * MINUTE), 1);
	/* expired state is really gone */
	check(rl, "192.0.2.1", "alice@example.org", T0 + 60 * MINUTE, &d);
	assert_int_equal(d, 0);
	ratelimit_free(&rl);
}

/* Window counts above RATELIMIT_RING_MAX are clamped to it. */
static void test_ring_clamp(void **state)
{
	struct config_rate_limit c = cfg_none();
	struct ratelimit *rl;

	(void)state;
	c.max_attempts_per_ip = 5000;
	c.ip_window_ms = 60 * MINUTE;
	rl = ratelimit_new(&c);
	for (int i = 0; i < RATELIMIT_RING_MAX - 1; i++)
		failed(rl, "192.0.2.1", NULL, T0);
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0, NULL), RATELIMIT_ALLOW);
	failed(rl, "192.0.2.1", NULL, T0);
	assert_int_equal(check(rl, "192.0.2.1", NULL, T0, NULL), RATELIMIT_BLOCKED_IP);
	ratelimit_free(&rl);
}

struct hook_log {
	int checks, failures, successes;
	char last_ip[RATELIMIT_KEY_MAX + 1], last_user[RATELIMIT_KEY_MAX + 1];
	enum ratelimit_kind last_kind;
	enum ratelimit_verdict answer;
};

static enum ratelimit_verdict hook_check(void *context, const char *ip_key, const char *user_key,
					 enum ratelimit_kind kind, uint64_t now_ms)
{
	struct hook_log *h = context;

	(void)now_ms;
	h->checks++;
	snprintf(h->last_ip, sizeof(h->last_ip), "%s", ip_key);
	snprintf(h->last_user, sizeof(h->last_user), "%s", user_key);
	h->last_kind = kind;
	return h->answer;
}

static void hook_record(void *context, const char *ip_key, const char *user_key,
			enum ratelimit_kind kind, bool success, uint64_t now_ms)
{
	struct hook_log *h = context;

	(void)now_ms;
	if (success)
		h->successes++;
	else
		h->failures++;
	snprintf(h->last_ip, sizeof(h->last_ip), "%s", ip_key);
	snprintf(h->last_user, sizeof(h->last_user), "%s", user_key);
	h->last_kind = kind;
}

static void test_hooks(void **state)
{
	struct config_rate_limit c = cfg_defaults();
	struct hook_log h = { .answer = RATELIMIT_ALLOW };
	struct ratelimit_hooks hooks = {
		.context = &h,
		.check = hook_check,
		.record = hook_record,
	};
	struct ratelimit_options o = { .hooks = &hooks };
	struct ratelimit *rl = ratelimit_new_with(&c, &o);
	struct ratelimit_stats st;
	uint64_t d;

	(void)state;
	assert_int_equal(check(rl, "2001:db8::5", "Alice@Example.org", T0, NULL), RATELIMIT_ALLOW);
	assert_int_equal(h.checks, 1);
	assert_string_equal(h.last_ip, "2001:db8::/64");
	assert_string_equal(h.last_user, "alice@example.org");
	/* the shared store refuses (another node's block, or a database error) */
	h.answer = RATELIMIT_BLOCKED_IP;
	assert_int_equal(check(rl, "192.0.2.1", "alice@example.org", T0, NULL),
			 RATELIMIT_BLOCKED_SHARED);
	ratelimit_record_failure(rl, "192.0.2.1", NULL, RATELIMIT_KIND_MASTER, T0);
	assert_int_equal(h.failures, 1);
	assert_string_equal(h.last_user, "");
	assert_int_equal(h.last_kind, RATELIMIT_KIND_MASTER);
	ok(rl, "192.0.2.1", "alice@example.org", T0);
	assert_int_equal(h.successes, 1);
	/* a local refusal does not ask the hook */
	for (int i = 0; i < 10; i++)
		failed(rl, "192.0.2.9", NULL, T0);
	h.checks = 0;
	assert_int_equal(ratelimit_check(rl, "192.0.2.9", NULL, RATELIMIT_KIND_USER, T0, &d),
			 RATELIMIT_BLOCKED_FAST);
	assert_int_equal(h.checks, 0);
	ratelimit_get_stats(rl, T0, &st);
	assert_int_equal(st.verdicts[RATELIMIT_BLOCKED_SHARED], 1);
	assert_int_equal(st.verdicts[RATELIMIT_ALLOW], 1);
	assert_int_equal(st.verdicts[RATELIMIT_BLOCKED_FAST], 1);
	assert_int_equal(st.failures, 11);
	assert_int_equal(st.successes, 1);
	ratelimit_free(&rl);
}

/* ---- threads ---- */

#define THREADS 4
#define PER_THREAD 2500
#define SHARED_EVERY 10 /* 1000 shared failures in all: under RATELIMIT_RING_MAX */

struct worker_arg {
	struct ratelimit *rl;
	int id;
	uint64_t checks;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	char ip[32], user[64];

	for (int i = 0; i < PER_THREAD; i++) {
		uint64_t d, now = T0 + (uint64_t)i;

		/* shared keys: counts must add up exactly */
		if (i % SHARED_EVERY == 0)
			ratelimit_record_failure(w->rl, "192.0.2.1", "shared@example.org",
						 RATELIMIT_KIND_USER, now);
		/* churn: many keys, evictions, expiry, successes, checks */
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", w->id, (i >> 8) & 255, i & 255);
		snprintf(user, sizeof(user), "u%d-%d@example.org", w->id, i % 300);
		ratelimit_record_failure(w->rl, ip, user, RATELIMIT_KIND_USER, now);
		(void)ratelimit_check(w->rl, ip, user, (enum ratelimit_kind)(i & 1), now, &d);
		w->checks++;
		if (i % 7 == 0)
			ratelimit_record_success(w->rl, ip, user, RATELIMIT_KIND_USER, now);
		if (i % 500 == 0)
			(void)ratelimit_expire(w->rl, now);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct config_rate_limit c = cfg_none();
	struct ratelimit_options o = { .max_ip_entries = 1000, .max_username_entries = 500 };
	struct ratelimit *rl[2];
	uint32_t limits[2] = { THREADS * PER_THREAD / SHARED_EVERY,
			       THREADS * PER_THREAD / SHARED_EVERY + 1 };

	(void)state;
	for (int r = 0; r < 2; r++) {
		pthread_t t[THREADS];
		struct worker_arg args[THREADS];
		struct ratelimit_stats st;
		uint64_t checks = 0, verdicts = 0;

		c.max_attempts_per_ip = limits[r];
		c.max_attempts_per_username = limits[r];
		c.ip_window_ms = 60 * MINUTE;
		c.username_window_ms = 60 * MINUTE;
		rl[r] = ratelimit_new_with(&c, &o);
		for (int i = 0; i < THREADS; i++) {
			args[i] = (struct worker_arg){ .rl = rl[r], .id = i };
			assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
		}
		for (int i = 0; i < THREADS; i++) {
			assert_int_equal(pthread_join(t[i], NULL), 0);
			checks += args[i].checks;
		}
		ratelimit_get_stats(rl[r], T0 + PER_THREAD, &st);
		for (int v = 0; v < RATELIMIT_VERDICT_COUNT; v++)
			verdicts += st.verdicts[v];
		assert_int_equal(verdicts, checks);
		assert_int_equal(st.failures,
				 THREADS * PER_THREAD + THREADS * PER_THREAD / SHARED_EVERY);
		assert_int_equal(st.successes, THREADS * ((PER_THREAD + 6) / 7));
		assert_true(st.ip_entries <= 1000);
		assert_true(st.username_entries <= 500);
		/* exactly limits[0] failures on the shared keys: at the
		   limit with the first limiter, one short of it with the second
		   (the shared keys are used all the time, so never evicted) */
		assert_int_equal(check(rl[r], "192.0.2.1", NULL, T0 + PER_THREAD, NULL),
				 r == 0 ? RATELIMIT_BLOCKED_IP : RATELIMIT_ALLOW);
		assert_int_equal(check(rl[r], "198.51.100.1", "shared@example.org", T0 + PER_THREAD,
				       NULL),
				 r == 0 ? RATELIMIT_BLOCKED_USERNAME : RATELIMIT_ALLOW);
		ratelimit_free(&rl[r]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled_always_allows),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_progressive_delay_sequence),
		cmocka_unit_test(test_delay_parameters),
		cmocka_unit_test(test_fast_block),
		cmocka_unit_test(test_ip_window_slides),
		cmocka_unit_test(test_username_window),
		cmocka_unit_test(test_username_block_spares_known_address),
		cmocka_unit_test(test_master_namespace),
		cmocka_unit_test(test_success_resets),
		cmocka_unit_test(test_ip_keys),
		cmocka_unit_test(test_ipv6_grouping),
		cmocka_unit_test(test_eviction_bound),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_ring_clamp),
		cmocka_unit_test(test_hooks),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
