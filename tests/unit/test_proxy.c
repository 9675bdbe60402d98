#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/proxy.h"

#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"

/* What a client may send right after the header; never consumed. */
static const uint8_t client_hello[] = { 0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1 };

/* proxy_parse() on an exact-size heap copy, so ASan catches any read past
   len. On 0, checks that nothing was filled. */
static int parse(const void *data, size_t len, struct proxy_info *info_r, size_t *used_r,
		 const char **error_r)
{
	struct proxy_info before;
	uint8_t *copy = malloc(len > 0 ? len : 1);
	size_t used = (size_t)-1;
	int ret;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, data, len);
	memset(info_r, 0xa5, sizeof(*info_r));
	before = *info_r;
	*error_r = NULL;
	ret = proxy_parse(copy, len, info_r, &used, error_r);
	free(copy);
	if (ret == 0) {
		assert_memory_equal(info_r, &before, sizeof(before));
		assert_true(used == (size_t)-1);
		assert_null(*error_r);
	} else if (ret < 0) {
		assert_non_null(*error_r);
	} else {
		assert_null(*error_r);
		*used_r = used;
	}
	return ret;
}

/* The contract for a valid header of n bytes: 0 for every strict prefix,
   1 for the whole with *used_r == n, also with more bytes after it. */
static void check_complete(const void *hdr, size_t n, struct proxy_info *info_r)
{
	uint8_t buf[PROXY_V2_MAX + sizeof(client_hello)];
	const char *error;
	size_t used = 0;

	assert_true(n <= PROXY_V2_MAX);
	for (size_t k = 0; k < n; k++) {
		if (parse(hdr, k, info_r, &used, &error) != 0)
			fail_msg("prefix of %zu/%zu bytes: %s", k, n, error ? error : "complete");
	}
	memcpy(buf, hdr, n);
	memcpy(buf + n, client_hello, sizeof(client_hello));
	for (size_t extra = 1; extra <= sizeof(client_hello); extra++) {
		assert_int_equal(parse(buf, n + extra, info_r, &used, &error), 1);
		assert_int_equal(used, n);
	}
	assert_int_equal(parse(hdr, n, info_r, &used, &error), 1);
	assert_int_equal(used, n);
}

static void check_complete_str(const char *hdr, struct proxy_info *info_r)
{
	check_complete(hdr, strlen(hdr), info_r);
}

/* Malformed: -1 for the whole input (and no prefix was "complete"). */
static void check_bad(const void *data, size_t n)
{
	struct proxy_info info;
	const char *error;
	size_t used;
	int ret;

	for (size_t k = 0; k < n; k++) {
		ret = parse(data, k, &info, &used, &error);
		if (ret == -1)
			return;
		assert_int_equal(ret, 0);
	}
	ret = parse(data, n, &info, &used, &error);
	if (ret != -1)
		fail_msg("accepted malformed header (%zu bytes): ret %d", n, ret);
}

static void check_bad_str(const char *s)
{
	check_bad(s, strlen(s));
}

/* -1 as soon as the first diverging byte, at index at, is there. */
static void check_bad_at(const void *data, size_t at)
{
	struct proxy_info info;
	const char *error;
	size_t used;

	for (size_t k = 0; k <= at; k++)
		assert_int_equal(parse(data, k, &info, &used, &error), 0);
	assert_int_equal(parse(data, at + 1, &info, &used, &error), -1);
}

static void check_v4(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	struct in_addr want;

	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(inet_pton(AF_INET, ip, &want), 1);
	assert_memory_equal(&sin->sin_addr, &want, sizeof(want));
	assert_int_equal(sin->sin_port, htons(port));
}

static void check_v6(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	struct in6_addr want;

	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(inet_pton(AF_INET6, ip, &want), 1);
	assert_memory_equal(&sin6->sin6_addr, &want, sizeof(want));
	assert_int_equal(sin6->sin6_port, htons(port));
}

static void check_no_tlvs(const struct proxy_info *info)
{
	assert_string_equal(info->session_id, "");
	assert_string_equal(info->ja4, "");
	assert_string_equal(info->authority, "");
}

/* ---- v2 builder --------------------------------------------------------- */

struct v2 {
	uint8_t b[PROXY_V2_MAX + 2048];
	size_t len;
};

static void v2_put(struct v2 *h, const void *p, size_t n)
{
	assert_true(h->len + n <= sizeof(h->b));
	memcpy(h->b + h->len, p, n);
	h->len += n;
}

static void v2_begin(struct v2 *h, uint8_t ver_cmd, uint8_t fam)
{
	const uint8_t rest[4] = { ver_cmd, fam, 0, 0 };

	h->len = 0;
	v2_put(h, V2_SIG, 12);
	v2_put(h, rest, sizeof(rest));
}

static void v2_port(struct v2 *h, uint16_t port)
{
	const uint8_t be[2] = { port >> 8, port & 0xff };

	v2_put(h, be, 2);
}

static void v2_inet(struct v2 *h, const char *src, const char *dst, uint16_t sport,
		    uint16_t dport)
{
	uint8_t a[4];

	assert_int_equal(inet_pton(AF_INET, src, a), 1);
	v2_put(h, a, 4);
	assert_int_equal(inet_pton(AF_INET, dst, a), 1);
	v2_put(h, a, 4);
	v2_port(h, sport);
	v2_port(h, dport);
}

static void v2_inet6(struct v2 *h, const char *src, const char *dst, uint16_t sport,
		     uint16_t dport)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(AF_INET6, src, a), 1);
	v2_put(h, a, 16);
	assert_int_equal(inet_pton(AF_INET6, dst, a), 1);
	v2_put(h, a, 16);
	v2_port(h, sport);
	v2_port(h, dport);
}

static void v2_tlv(struct v2 *h, uint8_t type, const void *value, size_t n)
{
	const uint8_t head[3] = { type, (uint8_t)(n >> 8), (uint8_t)n };

	v2_put(h, head, 3);
	v2_put(h, value, n);
}

static void v2_tlv_str(struct v2 *h, uint8_t type, const char *value)
{
	v2_tlv(h, type, value, strlen(value));
}

/* Sets the length field to what was appended after the 16-byte header. */
static void v2_end(struct v2 *h)
{
	size_t n = h->len - 16;

	h->b[14] = (uint8_t)(n >> 8);
	h->b[15] = (uint8_t)n;
}

/* ---- v1 ------------------------------------------------------------------ */

static void test_v1_tcp4(void **state)
{
	struct proxy_info info;

	(void)state;
	check_complete_str("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", &info);
	assert_int_equal(info.version, 1);
	assert_false(info.is_local);
	check_v4(&info.src, "192.0.2.1", 56324);
	check_v4(&info.dst, "198.51.100.2", 443);
	check_no_tlvs(&info);

	check_complete_str("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", &info);
	check_v4(&info.src, "255.255.255.255", 65535);
	check_v4(&info.dst, "0.0.0.0", 0);
}

static void test_v1_tcp6(void **state)
{
	struct proxy_info info;

	(void)state;
	check_complete_str("PROXY TCP6 2001:db8::1 2001:DB8::2 1 65535\r\n", &info);
	assert_int_equal(info.version, 1);
	assert_false(info.is_local);
	check_v6(&info.src, "2001:db8::1", 1);
	check_v6(&info.dst, "2001:db8::2", 65535);

	check_complete_str("PROXY TCP6 ::ffff:192.0.2.1 :: 993 143\r\n", &info);
	check_v6(&info.src, "::ffff:192.0.2.1", 993);
	check_v6(&info.dst, "::", 143);

	/* the longest line possible with real addresses */
	check_complete_str("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
			   &info);
}

static void test_v1_unknown(void **state)
{
	char line[PROXY_V1_MAX + 1];
	struct proxy_info info;

	(void)state;
	check_complete_str("PROXY UNKNOWN\r\n", &info);
	assert_int_equal(info.version, 1);
	assert_true(info.is_local);
	check_no_tlvs(&info);

	/* spec: after UNKNOWN, anything up to CRLF is ignored */
	check_complete_str("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", &info);
	assert_true(info.is_local);
	check_complete_str("PROXY UNKNOWN \r\n", &info);
	check_complete_str("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", &info);

	/* exactly 107 bytes is fine */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + PROXY_V1_MAX - 2, "\r\n", 2);
	check_complete(line, PROXY_V1_MAX, &info);
	assert_true(info.is_local);
}

static void test_v1_too_long(void **state)
{
	char line[300];
	struct proxy_info info;
	const char *error;
	size_t used;

	(void)state;
	/* no CRLF within 107 bytes: need more up to 106, error at 107 */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	for (size_t k = 0; k < PROXY_V1_MAX; k++)
		assert_int_equal(parse(line, k, &info, &used, &error), 0);
	assert_int_equal(parse(line, PROXY_V1_MAX, &info, &used, &error), -1);
	assert_int_equal(parse(line, sizeof(line), &info, &used, &error), -1);

	/* CRLF just past the limit */
	memcpy(line + PROXY_V1_MAX - 1, "\r\n", 2);
	assert_int_equal(parse(line, PROXY_V1_MAX + 1, &info, &used, &error), -1);

	/* valid addresses, but 116 bytes */
	check_bad_str("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
		      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n");
}

static void test_v1_malformed(void **state)
{
	static const char *const bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.888 1 2\r\n",
		"PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP6 2001:db8:::1 2001:db8::2 1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOWN\n",
		"PROXY UNKNOWN\rX\n",
		"PROXY UNKNOWN foo\n",
		"PROXY UNKNOWN foo\rbar\r\n",
		"PROXY\r\n",
		"PROXY \r\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_bad_str(bad[i]);
	/* NUL inside the line */
	check_bad("PROXY TCP4 1.2.3.4\0005.6.7.8 1 2\r\n", 32);
}

/* ---- v2 ------------------------------------------------------------------ */

static void test_v2_haproxy_bytes(void **state)
{
	/* what HAProxy's "send-proxy-v2" puts on the wire for an IPv4 client
	   192.0.2.1:56324 connecting to 198.51.100.2:443 */
	static const uint8_t hdr[] = {
		0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
		0x21,                   /* version 2, PROXY */
		0x11,                   /* INET, STREAM */
		0x00, 0x0C,             /* 12 bytes follow */
		192, 0, 2, 1,           /* source */
		198, 51, 100, 2,        /* destination */
		0xDC, 0x04,             /* source port 56324 */
		0x01, 0xBB,             /* destination port 443 */
	};
	struct proxy_info info;

	(void)state;
	check_complete(hdr, sizeof(hdr), &info);
	assert_int_equal(info.version, 2);
	assert_false(info.is_local);
	check_v4(&info.src, "192.0.2.1", 56324);
	check_v4(&info.dst, "198.51.100.2", 443);
	check_no_tlvs(&info);
}

static void test_v2_inet6(void **state)
{
	struct proxy_info info;
	struct v2 h;

	(void)state;
	v2_begin(&h, 0x21, 0x21);
	v2_inet6(&h, "2001:db8::1", "2001:db8::2", 40000, 993);
	v2_end(&h);
	assert_int_equal(h.len, 16 + 36);
	check_complete(h.b, h.len, &info);
	assert_int_equal(info.version, 2);
	assert_false(info.is_local);
	check_v6(&info.src, "2001:db8::1", 40000);
	check_v6(&info.dst, "2001:db8::2", 993);

	/* transport UNSPEC is accepted as well */
	h.b[13] = 0x20;
	check_complete(h.b, h.len, &info);
	check_v6(&info.src, "2001:db8::1", 40000);
}

static void test_v2_local(void **state)
{
	static const uint8_t hdr[] = {
		0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
		0x20, 0x00, 0x00, 0x00,
	};
	struct proxy_info info;
	struct v2 h;

	(void)state;
	check_complete(hdr, sizeof(hdr), &info);
	assert_int_equal(info.version, 2);
	assert_true(info.is_local);
	check_no_tlvs(&info);

	/* LOCAL: family, transport and the block are ignored, whatever they are */
	v2_begin(&h, 0x20, 0x11);
	v2_inet(&h, "10.0.0.1", "10.0.0.2", 1, 2);
	v2_tlv_str(&h, 0xE1, "ignored");
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	assert_true(info.is_local);
	check_no_tlvs(&info);

	v2_begin(&h, 0x20, 0x32); /* UNIX, DGRAM */
	v2_put(&h, "\xff\xff\xff", 3);
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	assert_true(info.is_local);
}

static void test_v2_unspec(void **state)
{
	struct proxy_info info;
	struct v2 h;

	(void)state;
	/* PROXY with family UNSPEC: keep the socket peer, still read TLVs */
	v2_begin(&h, 0x21, 0x00);
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	assert_true(info.is_local);

	v2_begin(&h, 0x21, 0x00);
	v2_tlv_str(&h, 0xE1, "abc");
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	assert_true(info.is_local);
	assert_string_equal(info.session_id, "abc");
}

static void test_v2_tlvs(void **state)
{
	static const char ja4[] = "t13d1516h2_8daaf6152771_e5627efa2ab1";
	static const uint8_t ssl[] = { 0x01, 0, 0, 0, 0, 0x21, 0x00, 0x07, 'T', 'L', 'S',
				       'v', '1', '.', '3' };
	struct proxy_info info;
	struct v2 h;

	(void)state;
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "203.0.113.7", "10.0.0.5", 51000, 993);
	v2_tlv_str(&h, 0x02, "imap.example.org");
	v2_tlv(&h, 0x04, "\0\0\0", 3);   /* NOOP */
	v2_tlv(&h, 0x03, "\x12\x34\x56\x78", 4); /* CRC32C: not checked */
	v2_tlv(&h, 0x20, ssl, sizeof(ssl));
	v2_tlv_str(&h, 0xE0, ja4);
	v2_tlv_str(&h, 0xE1, "c0ffee-42");
	v2_tlv(&h, 0x05, "", 0);          /* empty UNIQUE_ID */
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	check_v4(&info.src, "203.0.113.7", 51000);
	check_v4(&info.dst, "10.0.0.5", 993);
	assert_string_equal(info.authority, "imap.example.org");
	assert_string_equal(info.ja4, ja4);
	assert_string_equal(info.session_id, "c0ffee-42");

	/* IPv6 with TLVs */
	v2_begin(&h, 0x21, 0x21);
	v2_inet6(&h, "2001:db8::7", "2001:db8::8", 1, 2);
	v2_tlv_str(&h, 0xE1, "s6");
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	assert_string_equal(info.session_id, "s6");
	assert_string_equal(info.ja4, "");
}

static void test_v2_tlv_values(void **state)
{
	char max[256];
	struct proxy_info info;
	struct v2 h;

	(void)state;
	memset(max, 'a', sizeof(max));
	/* longest values kept: 64 for ids, 255 for the authority */
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_tlv(&h, 0xE0, max, 64);
	v2_tlv(&h, 0xE1, max, 64);
	v2_tlv(&h, 0x02, max, 255);
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	assert_int_equal(strlen(info.ja4), 64);
	assert_int_equal(strlen(info.session_id), 64);
	assert_int_equal(strlen(info.authority), 255);

	/* one byte more, or a byte that is not printable ASCII: dropped */
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_tlv(&h, 0xE0, max, 65);
	v2_tlv(&h, 0xE1, "ab\ncd", 5);
	v2_tlv(&h, 0x02, max, 256);
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	check_no_tlvs(&info);

	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_tlv(&h, 0xE1, "a\0b", 3);
	v2_tlv(&h, 0xE0, "caf\xc3\xa9", 5);
	v2_tlv(&h, 0x02, "x\x7f", 2);
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	check_no_tlvs(&info);

	/* duplicates: the last one wins */
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_tlv_str(&h, 0xE1, "first");
	v2_tlv_str(&h, 0xE1, "second");
	v2_end(&h);
	check_complete(h.b, h.len, &info);
	assert_string_equal(info.session_id, "second");
}

static void test_v2_max_length(void **state)
{
	static uint8_t pad[PROXY_V2_MAX];
	struct proxy_info info;
	struct v2 h;
	size_t fill = PROXY_V2_MAX - 16 - 12 - 3 - 3 - 4;

	(void)state;
	/* exactly PROXY_V2_MAX bytes in all */
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_tlv(&h, 0x04, pad, fill);
	v2_tlv_str(&h, 0xE1, "last");
	v2_end(&h);
	assert_int_equal(h.len, PROXY_V2_MAX);
	check_complete(h.b, h.len, &info);
	assert_string_equal(info.session_id, "last");

	/* one more byte: refused as soon as the length field is in */
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_tlv(&h, 0x04, pad, fill + 1);
	v2_tlv_str(&h, 0xE1, "last");
	v2_end(&h);
	check_bad_at(h.b, 15);

	/* the largest length field */
	v2_begin(&h, 0x21, 0x11);
	h.b[14] = 0xff;
	h.b[15] = 0xff;
	check_bad_at(h.b, 15);
}

static void test_v2_malformed(void **state)
{
	struct v2 h, good;

	(void)state;
	v2_begin(&good, 0x21, 0x11);
	v2_inet(&good, "192.0.2.1", "198.51.100.2", 56324, 443);
	v2_end(&good);

	/* a wrong byte anywhere in the signature: refused at that byte */
	for (size_t i = 0; i < 12; i++) {
		h = good;
		h.b[i] ^= 0x40;
		check_bad_at(h.b, i);
	}
	/* versions 1 and 3, commands 2 and 15 */
	static const uint8_t bad_ver_cmd[] = { 0x11, 0x31, 0x01, 0xf1, 0x22, 0x2f };
	for (size_t i = 0; i < sizeof(bad_ver_cmd); i++) {
		h = good;
		h.b[12] = bad_ver_cmd[i];
		check_bad_at(h.b, 12);
	}
	/* UNIX, undefined families; DGRAM, undefined transports */
	static const uint8_t bad_fam[] = { 0x31, 0x41, 0xf1, 0x12, 0x13, 0x22, 0x1f };
	for (size_t i = 0; i < sizeof(bad_fam); i++) {
		h = good;
		h.b[13] = bad_fam[i];
		check_bad_at(h.b, 13);
	}

	/* address block shorter than the family needs */
	h = good;
	h.b[15] = 11;
	check_bad_at(h.b, 15);
	v2_begin(&h, 0x21, 0x21);
	v2_inet(&h, "192.0.2.1", "198.51.100.2", 1, 2); /* 12 < 36 bytes */
	v2_end(&h);
	check_bad_at(h.b, 15);
	v2_begin(&h, 0x21, 0x11);
	v2_end(&h);
	check_bad_at(h.b, 15);

	/* TLV running past the declared length */
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_tlv_str(&h, 0xE1, "abcdef");
	v2_end(&h);
	h.len -= 1;
	v2_end(&h);
	check_bad(h.b, h.len);

	/* TLV claiming more than the whole header */
	v2_begin(&h, 0x21, 0x11);
	v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
	v2_put(&h, "\xE1\xff\xff" "abc", 6);
	v2_end(&h);
	check_bad(h.b, h.len);

	/* 1 or 2 stray bytes after the last TLV */
	for (size_t n = 1; n <= 2; n++) {
		v2_begin(&h, 0x21, 0x11);
		v2_inet(&h, "1.1.1.1", "2.2.2.2", 1, 2);
		v2_tlv_str(&h, 0xE1, "ok");
		v2_put(&h, "\x04\x00", n);
		v2_end(&h);
		check_bad(h.b, h.len);
	}
}

/* ---- not PROXY at all ------------------------------------------------------ */

static void test_not_proxy(void **state)
{
	static const char *const lines[] = {
		"a1 CAPABILITY\r\n",
		"EHLO mx.example.org\r\n",
		"USER alice\r\n",
		"GET / HTTP/1.1\r\n",
		"\n",
		" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	};
	struct proxy_info info;
	const char *error;
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		check_bad_at(lines[i], 0);
	/* a TLS ClientHello: refused on its first byte */
	check_bad_at(client_hello, 0);
	assert_int_equal(parse(client_hello, sizeof(client_hello), &info, &used, &error), -1);

	/* "P..." and "\r..." are refused where they leave the signatures */
	check_bad_at("PING\r\n", 1);
	check_bad_at("POST / HTTP/1.1\r\n", 1);
	check_bad_at("PROXIMITY\r\n", 4);
	check_bad_at("\r\nfoo", 2);
	check_bad_at("\r\n\r\nxyz", 4);

	/* nothing at all yet */
	assert_int_equal(parse("", 0, &info, &used, &error), 0);
}

/* ---- incremental feeding -------------------------------------------------- */

/* Feeds hdr followed by a payload one byte at a time, like a socket that
   delivers one byte per read, until the parser decides. */
static void feed_bytewise(const void *hdr, size_t n)
{
	uint8_t stream[256 + sizeof(client_hello)];
	struct proxy_info info;
	const char *error;
	size_t used = 0, have = 0;
	int ret = 0;

	assert_true(n <= 256);
	memcpy(stream, hdr, n);
	memcpy(stream + n, client_hello, sizeof(client_hello));
	while (ret == 0 && have < n + sizeof(client_hello))
		ret = parse(stream, ++have, &info, &used, &error);
	assert_int_equal(ret, 1);
	assert_int_equal(have, n);
	assert_int_equal(used, n);
}

static void test_feed_bytewise(void **state)
{
	struct v2 h;

	(void)state;
	feed_bytewise("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 45);
	feed_bytewise("PROXY UNKNOWN\r\n", 15);

	v2_begin(&h, 0x21, 0x21);
	v2_inet6(&h, "2001:db8::1", "2001:db8::2", 40000, 993);
	v2_tlv_str(&h, 0xE0, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	v2_tlv_str(&h, 0xE1, "sid");
	v2_end(&h);
	feed_bytewise(h.b, h.len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_too_long),
		cmocka_unit_test(test_v1_malformed),
		cmocka_unit_test(test_v2_haproxy_bytes),
		cmocka_unit_test(test_v2_inet6),
		cmocka_unit_test(test_v2_local),
		cmocka_unit_test(test_v2_unspec),
		cmocka_unit_test(test_v2_tlvs),
		cmocka_unit_test(test_v2_tlv_values),
		cmocka_unit_test(test_v2_max_length),
		cmocka_unit_test(test_v2_malformed),
		cmocka_unit_test(test_not_proxy),
		cmocka_unit_test(test_feed_bytewise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
