/* PROXY protocol v1/v2 header parser (haproxy doc/proxy-protocol.txt).

   The caller hands over every byte received so far; each call parses from
   the start again (headers are at most ~1 KiB, so this is cheap) and
   nothing is kept between calls. Result 0 ("need more") is only returned
   while the bytes are a prefix of something that may still become a valid
   header: non-PROXY traffic (an IMAP tag, a TLS ClientHello, an HTTP
   request) fails at its first diverging byte, so a misconfigured peer is
   told at once instead of waiting for the header timeout. Within v1 address
   fields the prefix check is by character class and length only; the exact
   inet_pton() check runs when the field ends, at most PROXY_V1_MAX bytes in.

   Choices where the spec leaves room:
   - v1 ports: decimal 0..65535 without sign or leading zero (spec: no
     heading zeroes). After "UNKNOWN" comes CRLF, or a space and anything
     up to the first CRLF; a lone CR or LF there is an error.
   - v2 LOCAL: the address block and TLVs are skipped unread, whatever the
     family and transport (spec: the receiver must ignore them).
   - v2 PROXY with family UNIX (or an undefined family), or transport DGRAM
     (or undefined): error. We only serve TCP.
   - v2 PROXY with family UNSPEC: is_local, no addresses; TLVs are read.
   - v2 TLV area: every byte must belong to a complete TLV; a TLV (or a
     1-2 byte fragment of a TLV header) running past the end is an error.
     Duplicate TLVs: the last one wins, even if its value is then dropped. */

#include "net/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

enum proxy_step {
	PROXY_STEP_OK,   /* the element is complete */
	PROXY_STEP_MORE, /* a valid prefix of the element; need more bytes */
	PROXY_STEP_BAD,
};

#define PROXY_V1_SIG "PROXY "
#define PROXY_V1_SIG_LEN (sizeof(PROXY_V1_SIG) - 1)

static const uint8_t proxy_v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};
#define PROXY_V2_HDR_LEN 16

#define PROXY_V2_VERSION 0x2
#define PROXY_V2_CMD_LOCAL 0x0
#define PROXY_V2_CMD_PROXY 0x1
#define PROXY_V2_FAM_UNSPEC 0x0
#define PROXY_V2_FAM_INET 0x1
#define PROXY_V2_FAM_INET6 0x2
#define PROXY_V2_TRANS_UNSPEC 0x0
#define PROXY_V2_TRANS_STREAM 0x1

#define PROXY_V2_ADDR_INET_LEN 12  /* src4 dst4 sport dport */
#define PROXY_V2_ADDR_INET6_LEN 36 /* src16 dst16 sport dport */

#define PROXY_TLV_AUTHORITY 0x02
#define PROXY_TLV_JA4 0xE0
#define PROXY_TLV_SESSION_ID 0xE1

/* Longest v1 fields: "255.255.255.255", INET6_ADDRSTRLEN - 1, "65535" */
#define PROXY_V1_IPV4_MAX 15
#define PROXY_V1_IPV6_MAX 45
#define PROXY_V1_PORT_MAX 5

/* ---- v1 ---------------------------------------------------------------- */

struct proxy_v1_cursor {
	const char *p;
	size_t len; /* bytes available, already capped at PROXY_V1_MAX */
	size_t pos;
};

/* The literal lit at the cursor, or a prefix of it at the end of input. */
static enum proxy_step proxy_v1_literal(struct proxy_v1_cursor *cur, const char *lit)
{
	size_t lit_len = strlen(lit);
	size_t avail = cur->len - cur->pos;
	size_t n = avail < lit_len ? avail : lit_len;

	if (memcmp(cur->p + cur->pos, lit, n) != 0)
		return PROXY_STEP_BAD;
	if (n < lit_len)
		return PROXY_STEP_MORE;
	cur->pos += lit_len;
	return PROXY_STEP_OK;
}

static bool proxy_v1_is_addr_char(char ch, int family)
{
	if ((ch >= '0' && ch <= '9') || ch == '.')
		return true;
	return family == AF_INET6 &&
	       (ch == ':' || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'));
}

/* A non-empty field of at most max_len characters of its class (an address
   of family, or a port when family is AF_UNSPEC), followed by the byte sep,
   which is not consumed. */
static enum proxy_step proxy_v1_field(struct proxy_v1_cursor *cur, int family, size_t max_len,
				      char sep, const char **field_r, size_t *field_len_r)
{
	size_t start = cur->pos, n = 0;
	char ch;

	for (;;) {
		if (start + n == cur->len)
			return PROXY_STEP_MORE;
		ch = cur->p[start + n];
		if (family == AF_UNSPEC ? !(ch >= '0' && ch <= '9')
					: !proxy_v1_is_addr_char(ch, family))
			break;
		if (++n > max_len)
			return PROXY_STEP_BAD;
	}
	if (n == 0 || ch != sep)
		return PROXY_STEP_BAD;
	*field_r = cur->p + start;
	*field_len_r = n;
	cur->pos += n;
	return PROXY_STEP_OK;
}

static enum proxy_step proxy_v1_addr(struct proxy_v1_cursor *cur, int family,
				     struct sockaddr_storage *ss)
{
	size_t max_len = family == AF_INET ? PROXY_V1_IPV4_MAX : PROXY_V1_IPV6_MAX;
	char str[PROXY_V1_IPV6_MAX + 1];
	const char *field;
	size_t field_len;
	enum proxy_step step;

	step = proxy_v1_field(cur, family, max_len, ' ', &field, &field_len);
	if (step != PROXY_STEP_OK)
		return step;
	memcpy(str, field, field_len);
	str[field_len] = '\0';
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, str, &sin->sin_addr) != 1)
			return PROXY_STEP_BAD;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, str, &sin6->sin6_addr) != 1)
			return PROXY_STEP_BAD;
	}
	return proxy_v1_literal(cur, " ");
}

/* Decimal 0..65535, no sign, no leading zero (spec: no octal confusion). */
static enum proxy_step proxy_v1_port(struct proxy_v1_cursor *cur, char sep, uint16_t *port_r)
{
	const char *field;
	size_t field_len;
	uint32_t n = 0;
	enum proxy_step step;

	step = proxy_v1_field(cur, AF_UNSPEC, PROXY_V1_PORT_MAX, sep, &field, &field_len);
	if (step != PROXY_STEP_OK)
		return step;
	if (field[0] == '0' && field_len > 1)
		return PROXY_STEP_BAD;
	for (size_t i = 0; i < field_len; i++)
		n = n * 10 + (uint32_t)(field[i] - '0');
	if (n > 65535)
		return PROXY_STEP_BAD;
	*port_r = (uint16_t)n;
	return PROXY_STEP_OK;
}

static void proxy_set_port(struct sockaddr_storage *ss, uint16_t port_be)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = port_be;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = port_be;
}

/* After "PROXY UNKNOWN": CRLF, or a space and anything up to the first CRLF */
static enum proxy_step proxy_v1_unknown_tail(struct proxy_v1_cursor *cur)
{
	if (cur->pos == cur->len)
		return PROXY_STEP_MORE;
	if (cur->p[cur->pos] == ' ') {
		while (++cur->pos < cur->len) {
			if (cur->p[cur->pos] == '\r' || cur->p[cur->pos] == '\n')
				break;
		}
	}
	return proxy_v1_literal(cur, "\r\n");
}

static enum proxy_step proxy_v1_tcp(struct proxy_v1_cursor *cur, int family,
				    struct proxy_info *info)
{
	uint16_t sport = 0, dport = 0;
	enum proxy_step step;

	if ((step = proxy_v1_addr(cur, family, &info->src)) != PROXY_STEP_OK ||
	    (step = proxy_v1_addr(cur, family, &info->dst)) != PROXY_STEP_OK ||
	    (step = proxy_v1_port(cur, ' ', &sport)) != PROXY_STEP_OK ||
	    (step = proxy_v1_literal(cur, " ")) != PROXY_STEP_OK ||
	    (step = proxy_v1_port(cur, '\r', &dport)) != PROXY_STEP_OK ||
	    (step = proxy_v1_literal(cur, "\r\n")) != PROXY_STEP_OK)
		return step;
	proxy_set_port(&info->src, htons(sport));
	proxy_set_port(&info->dst, htons(dport));
	return PROXY_STEP_OK;
}

static enum proxy_step proxy_v1_body(struct proxy_v1_cursor *cur, struct proxy_info *info)
{
	static const struct {
		const char *name;
		int family;
	} protos[] = {
		{ "TCP4 ", AF_INET },
		{ "TCP6 ", AF_INET6 },
		{ "UNKNOWN", AF_UNSPEC },
	};
	enum proxy_step step;

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		step = proxy_v1_literal(cur, protos[i].name);
		if (step == PROXY_STEP_BAD)
			continue;
		/* MORE: a prefix of this name (perhaps of the next one too) */
		if (step == PROXY_STEP_MORE)
			return step;
		if (protos[i].family == AF_UNSPEC) {
			info->is_local = true;
			return proxy_v1_unknown_tail(cur);
		}
		return proxy_v1_tcp(cur, protos[i].family, info);
	}
	return PROXY_STEP_BAD;
}

static int proxy_parse_v1(const char *data, size_t len, struct proxy_info *info_r,
			  size_t *used_r, const char **error_r)
{
	struct proxy_v1_cursor cur = {
		.p = data,
		.len = len < PROXY_V1_MAX ? len : PROXY_V1_MAX,
	};
	struct proxy_info info = { .version = 1 };

	switch (proxy_v1_literal(&cur, PROXY_V1_SIG)) {
	case PROXY_STEP_OK:
		break;
	case PROXY_STEP_MORE:
		return 0;
	case PROXY_STEP_BAD:
		*error_r = "Not a PROXY protocol header";
		return -1;
	}
	switch (proxy_v1_body(&cur, &info)) {
	case PROXY_STEP_OK:
		*info_r = info;
		*used_r = cur.pos;
		return 1;
	case PROXY_STEP_MORE:
		if (len < PROXY_V1_MAX)
			return 0;
		*error_r = "PROXY v1 header too long";
		return -1;
	case PROXY_STEP_BAD:
		break;
	}
	*error_r = "Invalid PROXY v1 header";
	return -1;
}

/* ---- v2 ---------------------------------------------------------------- */

/* Copies a TLV value into dst (a string of dst_size bytes including the
   NUL) if it fits and is printable ASCII; otherwise dst becomes "". */
static void proxy_tlv_copy_str(char *dst, size_t dst_size, const uint8_t *value, size_t len)
{
	dst[0] = '\0';
	if (len >= dst_size)
		return;
	for (size_t i = 0; i < len; i++) {
		if (value[i] < 0x20 || value[i] > 0x7e)
			return;
	}
	memcpy(dst, value, len);
	dst[len] = '\0';
}

static int proxy_v2_tlvs(const uint8_t *p, size_t len, struct proxy_info *info,
			 const char **error_r)
{
	size_t pos = 0;

	while (pos < len) {
		uint8_t type;
		size_t vlen;

		if (len - pos < 3) {
			*error_r = "Truncated PROXY v2 TLV";
			return -1;
		}
		type = p[pos];
		vlen = (size_t)p[pos + 1] << 8 | p[pos + 2];
		pos += 3;
		if (vlen > len - pos) {
			*error_r = "PROXY v2 TLV overruns the header";
			return -1;
		}
		switch (type) {
		case PROXY_TLV_AUTHORITY:
			proxy_tlv_copy_str(info->authority, sizeof(info->authority), p + pos,
					   vlen);
			break;
		case PROXY_TLV_JA4:
			proxy_tlv_copy_str(info->ja4, sizeof(info->ja4), p + pos, vlen);
			break;
		case PROXY_TLV_SESSION_ID:
			proxy_tlv_copy_str(info->session_id, sizeof(info->session_id),
					   p + pos, vlen);
			break;
		default:
			/* ALPN, CRC32C, NOOP, UNIQUE_ID, SSL, NETNS, …: unused */
			break;
		}
		pos += vlen;
	}
	return 0;
}

static void proxy_v2_addrs(const uint8_t *p, int fam, struct proxy_info *info)
{
	if (fam == PROXY_V2_FAM_INET) {
		struct sockaddr_in *src = (struct sockaddr_in *)&info->src;
		struct sockaddr_in *dst = (struct sockaddr_in *)&info->dst;

		src->sin_family = AF_INET;
		dst->sin_family = AF_INET;
		memcpy(&src->sin_addr, p, 4);
		memcpy(&dst->sin_addr, p + 4, 4);
		/* ports stay in network order */
		memcpy(&src->sin_port, p + 8, 2);
		memcpy(&dst->sin_port, p + 10, 2);
	} else {
		struct sockaddr_in6 *src = (struct sockaddr_in6 *)&info->src;
		struct sockaddr_in6 *dst = (struct sockaddr_in6 *)&info->dst;

		src->sin6_family = AF_INET6;
		dst->sin6_family = AF_INET6;
		memcpy(&src->sin6_addr, p, 16);
		memcpy(&dst->sin6_addr, p + 16, 16);
		memcpy(&src->sin6_port, p + 32, 2);
		memcpy(&dst->sin6_port, p + 34, 2);
	}
}

/* Checks the fixed header as far as it is present. Sets *total_r (header
   plus declared length) and *addr_len_r once all 16 bytes are there. */
static int proxy_v2_check_fixed(const uint8_t *p, size_t len, size_t *total_r,
				size_t *addr_len_r, const char **error_r)
{
	int cmd, fam, trans;
	size_t body_len;

	if (len <= 12)
		return 0;
	if (p[12] >> 4 != PROXY_V2_VERSION) {
		*error_r = "Unsupported PROXY v2 version";
		return -1;
	}
	cmd = p[12] & 0x0f;
	if (cmd != PROXY_V2_CMD_LOCAL && cmd != PROXY_V2_CMD_PROXY) {
		*error_r = "Invalid PROXY v2 command";
		return -1;
	}
	if (len == 13)
		return 0;
	fam = p[13] >> 4;
	trans = p[13] & 0x0f;
	*addr_len_r = 0;
	if (cmd == PROXY_V2_CMD_PROXY) {
		if (fam == PROXY_V2_FAM_INET) {
			*addr_len_r = PROXY_V2_ADDR_INET_LEN;
		} else if (fam == PROXY_V2_FAM_INET6) {
			*addr_len_r = PROXY_V2_ADDR_INET6_LEN;
		} else if (fam != PROXY_V2_FAM_UNSPEC) {
			*error_r = "Unsupported PROXY v2 address family";
			return -1;
		}
		if (trans != PROXY_V2_TRANS_STREAM && trans != PROXY_V2_TRANS_UNSPEC) {
			*error_r = "Unsupported PROXY v2 transport";
			return -1;
		}
	}
	if (len < PROXY_V2_HDR_LEN)
		return 0;
	body_len = (size_t)p[14] << 8 | p[15];
	if (body_len > PROXY_V2_MAX - PROXY_V2_HDR_LEN) {
		*error_r = "PROXY v2 header too long";
		return -1;
	}
	if (body_len < *addr_len_r) {
		*error_r = "PROXY v2 address block too short";
		return -1;
	}
	*total_r = PROXY_V2_HDR_LEN + body_len;
	return 1;
}

static int proxy_parse_v2(const uint8_t *p, size_t len, struct proxy_info *info_r,
			  size_t *used_r, const char **error_r)
{
	struct proxy_info info = { .version = 2 };
	size_t total = 0, addr_len = 0;
	int ret;

	ret = proxy_v2_check_fixed(p, len, &total, &addr_len, error_r);
	if (ret <= 0)
		return ret;
	if (len < total)
		return 0;

	if ((p[12] & 0x0f) == PROXY_V2_CMD_LOCAL) {
		/* health checks and the like: use the socket peer and ignore
		   the rest of the header, as the spec requires */
		info.is_local = true;
	} else {
		if (addr_len == 0)
			info.is_local = true; /* UNSPEC family */
		else
			proxy_v2_addrs(p + PROXY_V2_HDR_LEN, p[13] >> 4, &info);
		if (proxy_v2_tlvs(p + PROXY_V2_HDR_LEN + addr_len,
				  total - PROXY_V2_HDR_LEN - addr_len, &info, error_r) < 0)
			return -1;
	}
	*info_r = info;
	*used_r = total;
	return 1;
}

/* ---- entry ------------------------------------------------------------- */

int proxy_parse(const void *data, size_t len, struct proxy_info *info_r, size_t *used_r,
		const char **error_r)
{
	const uint8_t *p = data;
	size_t n;

	if (len == 0)
		return 0;
	if (p[0] == 'P')
		return proxy_parse_v1(data, len, info_r, used_r, error_r);
	if (p[0] == proxy_v2_sig[0]) {
		n = len < sizeof(proxy_v2_sig) ? len : sizeof(proxy_v2_sig);
		if (memcmp(p, proxy_v2_sig, n) != 0) {
			*error_r = "Not a PROXY protocol header";
			return -1;
		}
		return proxy_parse_v2(p, len, info_r, used_r, error_r);
	}
	*error_r = "Not a PROXY protocol header";
	return -1;
}
