#include "lmtp-parse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

void lmtp_split_command(struct slice line, struct slice *verb_r, struct slice *params_r)
{
	ssize_t sp = slice_find(line, ' ');

	*verb_r = line;
	*params_r = slice_from(line.ptr + line.len, 0);
	if (sp >= 0) {
		verb_r->len = (size_t)sp;
		*params_r = slice_trim(slice_from(line.ptr + sp + 1, line.len - (size_t)sp - 1));
	}
}

int lmtp_parse_path(struct slice params, const char *prefix, struct slice *addr_r,
		    struct slice *rest_r)
{
	size_t plen = strlen(prefix);
	ssize_t close;

	if (!slice_starts_with_ci(params, prefix))
		return -1;
	params = slice_trim(slice_from(params.ptr + plen, params.len - plen));
	if (params.len < 2 || params.ptr[0] != '<')
		return -1;
	close = slice_find(params, '>');
	if (close < 0)
		return -1;
	*addr_r = slice_from(params.ptr + 1, (size_t)close - 1);
	*rest_r = slice_trim(slice_from(params.ptr + close + 1, params.len - (size_t)close - 1));
	for (size_t i = 0; i < addr_r->len; i++) {
		unsigned char ch = (unsigned char)addr_r->ptr[i];

		if (ch < 0x21 || ch == 0x7f || ch == '<' || ch == '>')
			return -1;
	}
	return addr_r->len < 255 ? 0 : -1;
}

int lmtp_parse_bdat(struct slice params, uint64_t *size_r, bool *last_r)
{
	ssize_t sp = slice_find(params, ' ');
	struct slice num = sp < 0 ? params : slice_from(params.ptr, (size_t)sp);

	*last_r = false;
	if (num.len == 0 || num.len > 19 || str_to_u64(num, size_r) < 0)
		return -1;
	if (sp >= 0) {
		struct slice rest = slice_trim(slice_from(params.ptr + sp + 1,
							  params.len - (size_t)sp - 1));

		if (!slice_eq_ci(rest, "LAST"))
			return -1;
		*last_r = true;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 3461 xtext into out; only printable ASCII results are accepted, so
   nothing decoded can break a header or a log line. */
static int xtext_decode(struct slice v, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < v.len; i++) {
		int ch = (unsigned char)v.ptr[i];

		if (ch == '+') {
			int hi, lo;

			if (i + 2 >= v.len)
				return -1;
			hi = hexval(v.ptr[i + 1]);
			lo = hexval(v.ptr[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch < 0x21 || ch > 0x7e || n + 1 >= size)
			return -1;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	return 0;
}

static int xclient_addr(const char *text, char *out, size_t size)
{
	unsigned char bin[sizeof(struct in6_addr)];

	if (strncasecmp(text, "IPV6:", 5) == 0) {
		if (inet_pton(AF_INET6, text + 5, bin) != 1)
			return -1;
		text += 5;
	} else if (inet_pton(AF_INET, text, bin) != 1 && inet_pton(AF_INET6, text, bin) != 1) {
		return -1;
	}
	if (strlen(text) >= size)
		return -1;
	snprintf(out, size, "%s", text);
	return 0;
}

static int xclient_attr(struct lmtp_xclient *x, struct slice key, const char *val,
			const char **error_r)
{
	if (slice_eq_ci(key, "ADDR")) {
		if (xclient_addr(val, x->addr, sizeof(x->addr)) < 0) {
			*error_r = "5.5.4 Bad XCLIENT ADDR syntax";
			return -1;
		}
	} else if (slice_eq_ci(key, "PORT")) {
		if (str_to_u32(slice_cstr(val), &x->port) < 0 || x->port == 0 || x->port > 65535) {
			*error_r = "5.5.4 Bad XCLIENT PORT syntax";
			return -1;
		}
	} else if (slice_eq_ci(key, "PROTO")) {
		if (strcasecmp(val, "SMTP") != 0 && strcasecmp(val, "ESMTP") != 0) {
			*error_r = "5.5.4 Bad XCLIENT PROTO syntax";
			return -1;
		}
		snprintf(x->proto, sizeof(x->proto), "%.6s", val);
	} else if (slice_eq_ci(key, "HELO")) {
		snprintf(x->helo, sizeof(x->helo), "%s", val);
	} else if (slice_eq_ci(key, "NAME")) {
		snprintf(x->name, sizeof(x->name), "%s", val);
	} else if (slice_eq_ci(key, "LOGIN")) {
		snprintf(x->login, sizeof(x->login), "%s", val);
	} else if (!slice_eq_ci(key, "DESTADDR") && !slice_eq_ci(key, "DESTPORT")) {
		*error_r = "5.5.4 Bad XCLIENT attribute name";
		return -1;
	}
	return 0;
}

int lmtp_parse_xclient(struct slice params, struct lmtp_xclient *x, const char **error_r)
{
	size_t pairs = 0;

	*x = (struct lmtp_xclient){ 0 };
	while (params.len > 0) {
		ssize_t sp = slice_find(params, ' ');
		struct slice a = sp < 0 ? params : slice_from(params.ptr, (size_t)sp);
		ssize_t eq = slice_find(a, '=');
		char val[256];

		if (eq <= 0) {
			*error_r = "5.5.4 Syntax: XCLIENT attribute=value...";
			return -1;
		}
		if (xtext_decode(slice_from(a.ptr + eq + 1, a.len - (size_t)eq - 1), val,
				 sizeof(val)) < 0) {
			*error_r = "5.5.4 Bad XCLIENT attribute value";
			return -1;
		}
		if (strcasecmp(val, "[UNAVAILABLE]") != 0 && strcasecmp(val, "[TEMPUNAVAIL]") != 0 &&
		    xclient_attr(x, slice_from(a.ptr, (size_t)eq), val, error_r) < 0)
			return -1;
		pairs++;
		params = sp < 0 ? slice_from(params.ptr + params.len, 0)
				: slice_trim(slice_from(params.ptr + sp + 1,
							params.len - (size_t)sp - 1));
	}
	if (pairs == 0) {
		*error_r = "5.5.4 Syntax: XCLIENT attribute=value...";
		return -1;
	}
	return 0;
}

enum lmtp_data_step lmtp_data_step(struct lmtp_data_reader *r, struct slice in,
				   size_t max_piece, size_t *used_r, struct slice *piece_r)
{
	ssize_t lf = slice_find(in, '\n');
	size_t take;
	bool at_start = !r->mid_line;

	*used_r = 0;
	*piece_r = slice_from(in.ptr, 0);
	if (lf < 0) {
		/* a very long line: pass its head on, it cannot be "." */
		if (in.len < max_piece || in.len == 0)
			return LMTP_DATA_NEED_MORE;
		take = in.len;
	} else {
		take = (size_t)lf + 1;
	}
	if (at_start && lf >= 0 && in.ptr[0] == '.' &&
	    (take == 2 || (take == 3 && in.ptr[1] == '\r'))) {
		*used_r = take;
		r->mid_line = false;
		return LMTP_DATA_END;
	}
	/* RFC 5321 §4.5.2: remove the stuffed dot */
	if (at_start && in.ptr[0] == '.')
		*piece_r = slice_from(in.ptr + 1, take - 1);
	else
		*piece_r = slice_from(in.ptr, take);
	r->mid_line = lf < 0;
	*used_r = take;
	return LMTP_DATA_PIECE;
}
