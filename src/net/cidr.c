/* Address ranges.

   Matching works in one 128-bit space: an IPv4 address a.b.c.d is handled as
   its IPv4-mapped IPv6 form ::ffff:a.b.c.d, and an IPv4 range /p as the IPv6
   range ::ffff:a.b.c.d/(96 + p). So 10.0.0.0/8 matches both an AF_INET peer
   and the same peer reported as ::ffff:10.x.y.z by a dual-stack listener,
   and ::ffff:0:0/96 (or ::/0) matches AF_INET peers too: whether a peer
   matches does not depend on how the listening socket reports it.

   Pure: no I/O, no logging; only the list owns memory (malloc'ed items). */

#include "net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Longest textual IPv6 address (INET6_ADDRSTRLEN includes the NUL). */
#define CIDR_ADDR_MAX_LEN (INET6_ADDRSTRLEN - 1)

static const uint8_t cidr_v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

/* Strict decimal 0..max: digits only, no sign, no leading zero ("08"). */
static int cidr_parse_prefix(const char *s, unsigned int max, uint8_t *prefix_r)
{
	unsigned int n = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 3)
			return -1;
		n = n * 10 + (unsigned int)(s[i] - '0');
	}
	if (n > max)
		return -1;
	*prefix_r = (uint8_t)n;
	return 0;
}

static void cidr_clear_host_bits(uint8_t *addr, size_t addr_len, unsigned int prefix)
{
	for (size_t i = 0; i < addr_len; i++) {
		unsigned int bit = (unsigned int)i * 8;

		if (bit >= prefix)
			addr[i] = 0;
		else if (prefix - bit < 8)
			addr[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
}

int cidr_parse(const char *s, struct cidr *cidr_r, const char **error_r)
{
	struct cidr c = { .family = AF_INET };
	char addr[CIDR_ADDR_MAX_LEN + 1];
	const char *slash;
	size_t addr_len;
	unsigned int max;

	if (s == NULL || s[0] == '\0') {
		*error_r = "Empty address";
		return -1;
	}
	slash = strchr(s, '/');
	addr_len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (addr_len == 0) {
		*error_r = "Missing address before '/'";
		return -1;
	}
	if (addr_len > CIDR_ADDR_MAX_LEN) {
		*error_r = "Invalid IP address";
		return -1;
	}
	memcpy(addr, s, addr_len);
	addr[addr_len] = '\0';

	if (memchr(addr, ':', addr_len) != NULL)
		c.family = AF_INET6;
	/* inet_pton() is strict: no spaces, no shortened IPv4 ("1.2.3"), no
	   leading zeros in IPv4 octets, no trailing junk. */
	if (inet_pton(c.family, addr, c.addr) != 1) {
		*error_r = "Invalid IP address";
		return -1;
	}
	max = c.family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		c.prefix = (uint8_t)max;
	} else if (cidr_parse_prefix(slash + 1, max, &c.prefix) < 0) {
		*error_r = "Invalid prefix length";
		return -1;
	}
	cidr_clear_host_bits(c.addr, c.family == AF_INET ? 4 : 16, c.prefix);
	*cidr_r = c;
	return 0;
}

/* The 16-byte form of a peer address (IPv4 as ::ffff:a.b.c.d). */
static bool cidr_sockaddr_to_v6(const struct sockaddr *sa, uint8_t addr_r[16])
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memcpy(addr_r, cidr_v4mapped_prefix, sizeof(cidr_v4mapped_prefix));
		memcpy(addr_r + 12, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		memcpy(addr_r, &sin6->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool cidr_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int prefix)
{
	size_t bytes = prefix / 8;
	unsigned int bits = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	uint8_t peer[16], net[16];
	unsigned int prefix;

	if (c == NULL || !cidr_sockaddr_to_v6(sa, peer))
		return false;
	if (c->family == AF_INET) {
		if (c->prefix > 32)
			return false;
		memcpy(net, cidr_v4mapped_prefix, sizeof(cidr_v4mapped_prefix));
		memcpy(net + 12, c->addr, 4);
		prefix = 96 + c->prefix;
	} else if (c->family == AF_INET6) {
		if (c->prefix > 128)
			return false;
		memcpy(net, c->addr, 16);
		prefix = c->prefix;
	} else {
		return false;
	}
	return cidr_prefix_equal(peer, net, prefix);
}

/* Allocation never fails here: it aborts (STYLE §3). Kept local so the
   module links on its own (unit tests, fuzzers). */
static void *cidr_xrealloc(void *ptr, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		abort();
	p = realloc(ptr, n * size);
	if (p == NULL)
		abort();
	return p;
}

int cidr_list_add(struct cidr_list *l, const char *s, const char **error_r)
{
	struct cidr c;

	if (cidr_parse(s, &c, error_r) < 0)
		return -1;
	l->items = cidr_xrealloc(l->items, l->count + 1, sizeof(*l->items));
	l->items[l->count++] = c;
	return 0;
}

bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	if (l == NULL)
		return false;
	for (size_t i = 0; i < l->count; i++) {
		if (cidr_match(&l->items[i], sa))
			return true;
	}
	return false;
}

void cidr_list_free(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

void cidr_list_copy(struct cidr_list *dst, const struct cidr_list *src)
{
	struct cidr_list copy = { .items = NULL, .count = 0 };

	if (dst == src)
		return;
	if (src != NULL && src->count > 0) {
		copy.items = cidr_xrealloc(NULL, src->count, sizeof(*src->items));
		memcpy(copy.items, src->items, src->count * sizeof(*src->items));
		copy.count = src->count;
	}
	*dst = copy;
}

bool cidr_is_loopback(const struct sockaddr *sa)
{
	static const struct cidr loopback4 = { .family = AF_INET, .addr = { 127 }, .prefix = 8 };
	static const struct cidr loopback6 = {
		.family = AF_INET6,
		.addr = { [15] = 1 },
		.prefix = 128,
	};

	/* loopback4 also covers ::ffff:127.0.0.0/104 (see the note on top) */
	return cidr_match(&loopback4, sa) || cidr_match(&loopback6, sa);
}

const char *cidr_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *addr = NULL;
	int family = AF_UNSPEC;

	if (buf == NULL || size == 0)
		return buf;
	buf[0] = '\0';
	if (sa == NULL)
		return buf;
	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		family = AF_INET6;
		addr = &sin6->sin6_addr;
		/* A dual-stack listener's ::ffff:a.b.c.d is the IPv4 client
		   a.b.c.d: print it so, like an AF_INET peer. */
		if (memcmp(addr, cidr_v4mapped_prefix, sizeof(cidr_v4mapped_prefix)) == 0) {
			family = AF_INET;
			addr = sin6->sin6_addr.s6_addr + 12;
		}
	}
	if (addr == NULL || inet_ntop(family, addr, buf, (socklen_t)size) == NULL)
		buf[0] = '\0';
	return buf;
}
