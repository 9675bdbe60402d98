/* Modified UTF-7 (RFC 3501 §5.1.3): printable ASCII stands for itself
   ("&" is "&-"), anything else is UTF-16 in base64 with ',' for '/'
   between '&' and '-'. The decoder accepts the canonical form only, so
   that every mailbox has one name on the wire (Dovecot does the same). */
#include "imap-utf7.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../lib/utf8.h"

static const char mutf7_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static void put_utf8(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	(void)buf_append(out, b, n);
}

static bool is_direct(unsigned char ch)
{
	return ch >= 0x20 && ch < 0x7f;
}

void imap_utf8_to_utf7(const char *s, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;

	while (i < len) {
		uint32_t bits = 0;
		unsigned int nbits = 0;

		if (is_direct(p[i])) {
			(void)buf_append(out, p[i] == '&' ? "&-" : (const char *)&p[i],
					 p[i] == '&' ? 2 : 1);
			i++;
			continue;
		}
		(void)buf_append(out, "&", 1);
		while (i < len && !is_direct(p[i])) {
			uint16_t units[2];
			size_t nu = 1;
			uint32_t cp;
			size_t n = utf8_decode(p + i, len - i, &cp);

			if (n == 0) {
				cp = 0xfffd;
				n = 1;
			}
			i += n;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = (uint16_t)(0xd800 | (cp >> 10));
				units[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
				nu = 2;
			} else {
				units[0] = (uint16_t)cp;
			}
			for (size_t u = 0; u < nu; u++) {
				bits = ((bits << 16) | units[u]) & 0xffffff;
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					(void)buf_append(out, &mutf7_b64[(bits >> nbits) & 0x3f],
							 1);
				}
			}
		}
		if (nbits > 0)
			(void)buf_append(out, &mutf7_b64[(bits << (6 - nbits)) & 0x3f], 1);
		(void)buf_append(out, "-", 1);
	}
}

static int b64_value(char c)
{
	const char *hit = c != '\0' ? strchr(mutf7_b64, c) : NULL;

	return hit != NULL ? (int)(hit - mutf7_b64) : -1;
}

/* The base64 run after '&' up to its '-'; *pp ends after the '-'. */
static int decode_shift(const char **pp, struct buf *out)
{
	const char *p = *pp;
	uint32_t bits = 0, high = 0;
	unsigned int nbits = 0;
	bool any = false;

	for (; *p != '\0' && *p != '-'; p++) {
		int v = b64_value(*p);
		uint32_t u;

		if (v < 0)
			return -1;
		bits = ((bits << 6) | (uint32_t)v) & 0xffffff;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = (bits >> nbits) & 0xffff;
		any = true;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			put_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if ((u >= 0xdc00 && u <= 0xdfff) || u == 0 ||
			   (u < 0x80 && is_direct((unsigned char)u))) {
			/* lone low surrogate; printable ASCII must go direct */
			return -1;
		} else {
			put_utf8(out, u);
		}
	}
	if (*p != '-' || !any || high != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
		return -1;
	*pp = p + 1;
	return 0;
}

int imap_utf7_to_utf8(const char *s, struct buf *out)
{
	const char *p = s;
	bool after_shift = false;

	while (*p != '\0') {
		if (!is_direct((unsigned char)*p))
			return -1;
		if (*p != '&') {
			(void)buf_append(out, p++, 1);
			after_shift = false;
			continue;
		}
		if (p[1] == '-') {
			(void)buf_append(out, "&", 1);
			p += 2;
			after_shift = false;
			continue;
		}
		/* "&AOQ-&AOQ-" is one shift written as two: not canonical */
		if (after_shift)
			return -1;
		p++;
		if (decode_shift(&p, out) < 0)
			return -1;
		after_shift = true;
	}
	return 0;
}
