#include "base64.h"

#include <stdbool.h>
#include <stdint.h>

/* All-ones when a < b, else 0; a and b below 2^31. No branch. */
static uint32_t b64_lt(uint32_t a, uint32_t b)
{
	return 0u - ((a - b) >> 31);
}

static uint32_t b64_in(uint32_t c, uint32_t lo, uint32_t hi)
{
	return b64_lt(c, hi + 1) & ~b64_lt(c, lo);
}

/* 0..63 to its character: 'A' plus a correction per range. */
static char b64_char(uint32_t v)
{
	uint32_t c = v + 'A';

	c += b64_lt(25, v) & 6;          /* 26.. -> 'a'.. */
	c -= b64_lt(51, v) & 75;         /* 52.. -> '0'.. */
	c -= b64_lt(61, v) & 15;         /* 62   -> '+'   */
	c += b64_lt(62, v) & 3;          /* 63   -> '/'   */
	return (char)c;
}

/* A character to 0..63; ORs a non-zero value into *err for anything else. */
static uint32_t b64_value(char ch, uint32_t *err)
{
	uint32_t c = (unsigned char)ch, v = 0, valid = 0, m;

	m = b64_in(c, 'A', 'Z');
	v |= m & (c - 'A');
	valid |= m;
	m = b64_in(c, 'a', 'z');
	v |= m & (c - 'a' + 26);
	valid |= m;
	m = b64_in(c, '0', '9');
	v |= m & (c - '0' + 52);
	valid |= m;
	m = b64_in(c, '+', '+');
	v |= m & 62;
	valid |= m;
	m = b64_in(c, '/', '/');
	v |= m & 63;
	valid |= m;
	*err |= ~valid & 1;
	return v & 63;
}

size_t base64_encode(const void *data, size_t len, char *out)
{
	const unsigned char *in = data;
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_char(n >> 18);
		out[o++] = b64_char((n >> 12) & 63);
		out[o++] = b64_char((n >> 6) & 63);
		out[o++] = b64_char(n & 63);
	}
	if (len - i == 1) {
		uint32_t n = (uint32_t)in[i] << 16;

		out[o++] = b64_char(n >> 18);
		out[o++] = b64_char((n >> 12) & 63);
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = b64_char(n >> 18);
		out[o++] = b64_char((n >> 12) & 63);
		out[o++] = b64_char((n >> 6) & 63);
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int base64_decode(const char *in, size_t len, void *out_v, size_t *out_len_r)
{
	unsigned char *out = out_v;
	size_t pad = 0, o = 0;
	uint32_t err = 0;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	/* every group is decoded before deciding, so that the time does not
	   depend on where a bad character sits; a '=' anywhere but in the
	   padding is not in the alphabet and sets err */
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		uint32_t a = b64_value(in[i], &err), b = b64_value(in[i + 1], &err), c, d;

		out[o++] = (unsigned char)(a << 2 | b >> 4);
		if (last && pad == 2) {
			err |= b & 0x0f; /* canonical: the unused bits are zero */
			break;
		}
		c = b64_value(in[i + 2], &err);
		out[o++] = (unsigned char)((b & 0x0f) << 4 | c >> 2);
		if (last && pad == 1) {
			err |= c & 0x03;
			break;
		}
		d = b64_value(in[i + 3], &err);
		out[o++] = (unsigned char)((c & 0x03) << 6 | d);
	}
	if (err != 0)
		return -1;
	*out_len_r = o;
	return 0;
}
