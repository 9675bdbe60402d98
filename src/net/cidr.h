#ifndef SORA_NET_CIDR_H
#define SORA_NET_CIDR_H

/* Address ranges for trusted proxies and networks. IPv4 and IPv6; an IPv4
   range also matches the IPv4-mapped IPv6 form (::ffff:a.b.c.d) of its
   addresses, because dual-stack listeners report peers that way. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network address, host bits cleared; 4 bytes used for AF_INET */
	uint8_t prefix;    /* 0..32 or 0..128 */
};

struct cidr_list {
	struct cidr *items; /* malloc'ed */
	size_t count;
};

/* "10.0.0.0/8", "127.0.0.1" (= /32), "::1", "fe80::/10". Host bits set in
   the address ("10.1.2.3/8") are accepted and cleared. 0 or -1 with
   *error_r (static string) set. */
int cidr_parse(const char *s, struct cidr *cidr_r, const char **error_r);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

int cidr_list_add(struct cidr_list *l, const char *s, const char **error_r);
bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);
void cidr_list_free(struct cidr_list *l);
/* Deep copy; dst is overwritten. */
void cidr_list_copy(struct cidr_list *dst, const struct cidr_list *src);

/* Loopback (127/8, ::1, ::ffff:127.0.0.0/104) */
bool cidr_is_loopback(const struct sockaddr *sa);

/* "1.2.3.4" / "2001:db8::1" (no port) into buf; returns buf. */
const char *cidr_addr_str(const struct sockaddr *sa, char *buf, size_t size);

#endif
