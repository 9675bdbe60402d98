/* libFuzzer target for the PROXY v1/v2 parser and the CIDR parser.

   proxy_parse() is run on every prefix of the input up to the point where
   a decision is due, each time on the last k bytes of an exact-size heap
   buffer, so ASan catches a read past the given length. It checks the
   incremental contract: 0 until a decision, nothing filled on 0; once 1 or
   -1, every longer input gives the same answer (same header length, same
   info); a decision by PROXY_V2_MAX bytes; strings NUL-terminated and
   printable. Then the input, as a C string, goes to cidr_parse(). */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/cidr.h"
#include "net/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fuzz_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	abort();
}

/* Also active in replay builds (no assert(), which NDEBUG would remove). */
#define FUZZ_CHECK(x) ((x) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #x))

static void fuzz_check_str(const char *s, size_t size)
{
	size_t len = strnlen(s, size);

	FUZZ_CHECK(len < size);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK(s[i] >= 0x20 && s[i] <= 0x7e);
}

static bool fuzz_info_equal(const struct proxy_info *a, const struct proxy_info *b)
{
	return a->version == b->version && a->is_local == b->is_local &&
	       memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	       memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0 &&
	       strcmp(a->session_id, b->session_id) == 0 && strcmp(a->ja4, b->ja4) == 0 &&
	       strcmp(a->authority, b->authority) == 0;
}

static void fuzz_check_info(const struct proxy_info *info)
{
	FUZZ_CHECK(info->version == 1 || info->version == 2);
	fuzz_check_str(info->session_id, sizeof(info->session_id));
	fuzz_check_str(info->ja4, sizeof(info->ja4));
	fuzz_check_str(info->authority, sizeof(info->authority));
	if (!info->is_local) {
		FUZZ_CHECK(info->src.ss_family == AF_INET || info->src.ss_family == AF_INET6);
		FUZZ_CHECK(info->dst.ss_family == info->src.ss_family);
	}
}

static void fuzz_proxy(const uint8_t *data, size_t size, struct proxy_info *first_r,
		       bool *have_first_r)
{
	size_t limit = size < PROXY_V2_MAX ? size : PROXY_V2_MAX;
	uint8_t *buf = malloc(limit > 0 ? limit : 1);
	struct proxy_info info, sentinel, decided = { 0 };
	size_t used = 0, decided_used = 0;
	int ret, decided_ret = 0;

	FUZZ_CHECK(buf != NULL);
	memset(&sentinel, 0x5a, sizeof(sentinel));
	*have_first_r = false;
	for (size_t k = 0; k <= limit; k++) {
		const char *error = NULL;
		uint8_t *p = buf + limit - k;

		memcpy(p, data, k);
		info = sentinel;
		used = 0x5a5a;
		ret = proxy_parse(p, k, &info, &used, &error);
		FUZZ_CHECK(ret >= -1 && ret <= 1);
		if (ret == 0) {
			/* undecided: must stay so until a decision, nothing filled */
			FUZZ_CHECK(decided_ret == 0);
			FUZZ_CHECK(used == 0x5a5a);
			FUZZ_CHECK(memcmp(&info, &sentinel, sizeof(info)) == 0);
			continue;
		}
		if (ret < 0) {
			FUZZ_CHECK(error != NULL && error[0] != '\0');
			FUZZ_CHECK(decided_ret <= 0);
		} else {
			FUZZ_CHECK(used > 0 && used <= k);
			fuzz_check_info(&info);
			if (decided_ret == 1)
				FUZZ_CHECK(used == decided_used && fuzz_info_equal(&info, &decided));
			FUZZ_CHECK(decided_ret >= 0);
		}
		if (decided_ret == 0) {
			decided_ret = ret;
			decided_used = used;
			if (ret == 1) {
				/* the first decision comes right at the header's end */
				FUZZ_CHECK(used == k);
				decided = info;
				*first_r = info;
				*have_first_r = true;
			}
		}
	}
	/* every header fits in PROXY_V2_MAX bytes: by then we must know */
	if (size >= PROXY_V2_MAX)
		FUZZ_CHECK(decided_ret != 0);
	free(buf);
}

static void fuzz_cidr(const uint8_t *data, size_t size, const struct proxy_info *info,
		      bool have_info)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a010203) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct cidr_list list = { 0 }, copy;
	char *s = malloc(size + 1);
	const char *error = NULL;
	char addr[INET6_ADDRSTRLEN], tiny[3];
	struct cidr c;

	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	if (cidr_parse(s, &c, &error) == 0) {
		FUZZ_CHECK(c.family == AF_INET || c.family == AF_INET6);
		FUZZ_CHECK(c.prefix <= (c.family == AF_INET ? 32 : 128));
		(void)cidr_match(&c, (struct sockaddr *)&sin);
		(void)cidr_match(&c, (struct sockaddr *)&sin6);
		FUZZ_CHECK(cidr_list_add(&list, s, &error) == 0);
	} else {
		FUZZ_CHECK(error != NULL);
		FUZZ_CHECK(cidr_list_add(&list, s, &error) == -1 && list.count == 0);
	}
	(void)cidr_list_add(&list, "::ffff:0:0/96", &error);
	cidr_list_copy(&copy, &list);
	if (have_info && !info->is_local) {
		const struct sockaddr *src = (const struct sockaddr *)&info->src;

		FUZZ_CHECK(cidr_list_match(&list, src) == cidr_list_match(&copy, src));
		(void)cidr_is_loopback(src);
		FUZZ_CHECK(cidr_addr_str(src, addr, sizeof(addr))[0] != '\0');
		(void)cidr_addr_str(src, tiny, sizeof(tiny));
		FUZZ_CHECK(strnlen(tiny, sizeof(tiny)) < sizeof(tiny));
	}
	cidr_list_free(&list);
	cidr_list_free(&copy);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info info;
	bool have_info = false;

	fuzz_proxy(data, size, &info, &have_info);
	fuzz_cidr(data, size, &info, have_info);
	return 0;
}
