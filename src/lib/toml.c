/* TOML 1.0 reader.

   Design: one forward pass over the text, which was checked for valid UTF-8
   first. Every key and value becomes a node as soon as its key is read, so
   redefinitions are caught before the value is parsed and positions are
   asked for in increasing order (toml_locate() keeps a cursor and only
   rescans from the start when asked for an earlier position, which happens
   on errors only). A temporary hash index (parent, key) -> node keeps
   duplicate checks O(1); it is malloc'ed and freed before toml_parse()
   returns. Everything that survives lives in the caller's arena.

   Table bookkeeping (node flags) follows the TOML 1.0 rules:
   - TOML_F_EXPLICIT: defined by a [header] (or the root); a second [header]
     for it is an error.
   - TOML_F_DOTTED: created by a dotted key; only dotted keys of the same
     section may extend it; a [header] may traverse it but not define it.
   - no flag: created implicitly as an intermediate part of a [header]; a
     later [header] may define it, a dotted key may not extend it.
   - TOML_F_SEALED: an inline table; nothing may extend it once closed.
   - TOML_F_TABLE_ARRAY: an array made by [[header]]s; headers traverse into
     its last element. Any other array is static. */

#include "toml.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"
#include "util.h"

enum {
	TOML_F_EXPLICIT = 1 << 0,
	TOML_F_DOTTED = 1 << 1,
	TOML_F_SEALED = 1 << 2,
	TOML_F_TABLE_ARRAY = 1 << 3,
};

struct toml_key {
	const char *ptr; /* decoded bytes (input or arena) */
	size_t len;
	const char *pos; /* where the key part starts in the input */
};

struct toml_slot {
	struct toml_node *node;
	size_t hash;
};

struct toml_parser {
	struct arena *arena;
	const char *text, *p, *end;
	struct toml_error *err;
	bool failed;
	size_t nodes;

	/* toml_locate() cursor */
	const char *loc_pos;
	unsigned loc_line, loc_col;

	struct toml_slot *slots;
	size_t slot_cap, slot_used;

	struct toml_node *root, *cur;
};

static const char *const toml_type_names[] = {
	"table", "array", "string", "integer", "float", "boolean",
};
static_assert(ARRAY_SIZE(toml_type_names) == TOML_TYPE_COUNT, "toml_type_names out of sync");

static int toml_parse_value(struct toml_parser *ps, struct toml_node *n);

/* ---- positions and errors ---- */

static void toml_locate(struct toml_parser *ps, const char *pos, unsigned *line_r, unsigned *col_r)
{
	const char *q = ps->loc_pos;
	unsigned line = ps->loc_line, col = ps->loc_col;

	if (pos < q) {
		q = ps->text;
		line = 1;
		col = 1;
	}
	for (; q < pos; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)*q & 0xc0) != 0x80) {
			col++;
		}
	}
	ps->loc_pos = pos;
	ps->loc_line = line;
	ps->loc_col = col;
	*line_r = line;
	*col_r = col;
}

static int PRINTF_FMT(3, 4) toml_fail(struct toml_parser *ps, const char *pos, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return -1;
	ps->failed = true;
	if (pos > ps->end)
		pos = ps->end;
	toml_locate(ps, pos, &ps->err->line, &ps->err->column);
	va_start(ap, fmt);
	(void)vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* A key for messages: quoted if needed, cut to fit. */
static const char *toml_key_disp(struct toml_parser *ps, const struct toml_key *k)
{
	char *s = toml_key_str(ps->arena, k->ptr, k->len);

	if (strlen(s) > 48) {
		s[44] = '.';
		s[45] = '.';
		s[46] = '.';
		s[47] = '\0';
	}
	return s;
}

/* "a" or "an" before a type name in messages */
static const char *toml_article(enum toml_type type)
{
	return type == TOML_ARRAY || type == TOML_INTEGER ? "an" : "a";
}

/* ---- character classes ---- */

static bool toml_is_ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool toml_is_bare_key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static bool toml_is_digit(char c, unsigned base)
{
	switch (base) {
	case 2:
		return c == '0' || c == '1';
	case 8:
		return c >= '0' && c <= '7';
	case 10:
		return c >= '0' && c <= '9';
	default:
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	}
}

static unsigned toml_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	return (unsigned)(c - 'A' + 10);
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
   surrogates, nothing above U+10FFFF), or 0. */
static size_t toml_utf8_len(const unsigned char *s, size_t avail)
{
	uint32_t cp;

	return utf8_decode(s, avail, &cp);
}

static int toml_check_utf8(struct toml_parser *ps)
{
	const unsigned char *s = (const unsigned char *)ps->p;
	size_t len = (size_t)(ps->end - ps->p);

	for (size_t i = 0; i < len;) {
		size_t n = toml_utf8_len(s + i, len - i);

		if (n == 0)
			return toml_fail(ps, ps->p + i, "invalid UTF-8");
		i += n;
	}
	return 0;
}

static size_t toml_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* ---- whitespace, comments, newlines ---- */

static void toml_skip_ws(struct toml_parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* 1: a newline was consumed; 0: none here; -1: bare CR. */
static int toml_eat_newline(struct toml_parser *ps)
{
	if (ps->p >= ps->end)
		return 0;
	if (*ps->p == '\n') {
		ps->p++;
		return 1;
	}
	if (*ps->p == '\r') {
		if (ps->p + 1 < ps->end && ps->p[1] == '\n') {
			ps->p += 2;
			return 1;
		}
		return toml_fail(ps, ps->p, "carriage return not followed by a newline");
	}
	return 0;
}

/* At '#': consumes the comment up to (not including) the newline. */
static int toml_skip_comment(struct toml_parser *ps)
{
	ps->p++;
	while (ps->p < ps->end && *ps->p != '\n') {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '\r') {
			if (ps->p + 1 < ps->end && ps->p[1] == '\n')
				break;
			return toml_fail(ps, ps->p, "carriage return not followed by a newline");
		}
		if (toml_is_ctrl(c) && c != '\t')
			return toml_fail(ps, ps->p, "control character in a comment");
		ps->p++;
	}
	return 0;
}

/* Whitespace, comments and newlines, as allowed inside arrays. */
static int toml_skip_wcn(struct toml_parser *ps)
{
	for (;;) {
		int ret;

		toml_skip_ws(ps);
		if (ps->p >= ps->end)
			return 0;
		if (*ps->p == '#') {
			if (toml_skip_comment(ps) < 0)
				return -1;
			continue;
		}
		ret = toml_eat_newline(ps);
		if (ret < 0)
			return -1;
		if (ret == 0)
			return 0;
	}
}

/* After a key/value pair or a header: optional comment, then a newline or
   the end of the input. */
static int toml_expect_eol(struct toml_parser *ps, const char *what)
{
	int ret;

	toml_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '#' && toml_skip_comment(ps) < 0)
		return -1;
	if (ps->p >= ps->end)
		return 0;
	ret = toml_eat_newline(ps);
	if (ret < 0)
		return -1;
	if (ret == 0)
		return toml_fail(ps, ps->p, "expected the end of the line after %s", what);
	return 0;
}

/* ---- strings ---- */

/* One scanning routine for all four string forms. Called twice: first with
   out == NULL to validate and measure, then to decode. On success returns
   0, sets *len_r and *end_r (just past the closing delimiter). */
static int toml_scan_string(struct toml_parser *ps, const char *open, const char *q, bool literal,
			    bool ml, char *out, size_t *len_r, const char **end_r)
{
	const char delim = literal ? '\'' : '"';
	const char *end = ps->end;
	size_t o = 0;

#define TOML_EMIT(c)                    \
	do {                            \
		if (out != NULL)        \
			out[o] = (c);   \
		o++;                    \
	} while (0)

	for (;;) {
		unsigned char c;

		if (q >= end)
			return toml_fail(ps, open, "unterminated string");
		c = (unsigned char)*q;
		if (c == (unsigned char)delim) {
			size_t run = 1;

			if (!ml) {
				q++;
				break;
			}
			while (q + run < end && q[run] == delim)
				run++;
			if (run >= 3) {
				if (run > 5)
					return toml_fail(ps, q, "too many quotes at the end of "
								"a multi-line string");
				for (size_t i = 3; i < run; i++)
					TOML_EMIT(delim);
				q += run;
				break;
			}
			for (size_t i = 0; i < run; i++)
				TOML_EMIT(delim);
			q += run;
			continue;
		}
		if (c == '\\' && !literal) {
			const char *bs = q;
			unsigned ndig = 0;

			if (++q >= end)
				return toml_fail(ps, open, "unterminated string");
			switch (*q) {
			case 'b': TOML_EMIT('\b'); q++; continue;
			case 't': TOML_EMIT('\t'); q++; continue;
			case 'n': TOML_EMIT('\n'); q++; continue;
			case 'f': TOML_EMIT('\f'); q++; continue;
			case 'r': TOML_EMIT('\r'); q++; continue;
			case '"': TOML_EMIT('"'); q++; continue;
			case '\\': TOML_EMIT('\\'); q++; continue;
			case 'u': ndig = 4; break;
			case 'U': ndig = 8; break;
			default: break;
			}
			if (ndig > 0) {
				uint32_t cp = 0;
				char u8[4];
				size_t n;

				q++;
				if ((size_t)(end - q) < ndig)
					return toml_fail(ps, bs, "invalid Unicode escape");
				for (unsigned i = 0; i < ndig; i++) {
					if (!toml_is_digit(q[i], 16))
						return toml_fail(ps, bs, "invalid Unicode escape");
					cp = (cp << 4) | toml_digit_value(q[i]);
				}
				if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
					return toml_fail(ps, bs,
							 "Unicode escape is not a scalar value");
				q += ndig;
				n = toml_utf8_encode(cp, u8);
				for (size_t i = 0; i < n; i++)
					TOML_EMIT(u8[i]);
				continue;
			}
			if (ml && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) {
				/* line-ending backslash: only blanks up to the newline */
				while (q < end && (*q == ' ' || *q == '\t'))
					q++;
				if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n')
					q++;
				if (q >= end || *q != '\n')
					return toml_fail(ps, bs, "invalid escape sequence");
				while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' ||
						   *q == '\r')) {
					if (*q == '\r' && !(q + 1 < end && q[1] == '\n'))
						return toml_fail(ps, q, "carriage return not "
									"followed by a newline");
					q++;
				}
				continue;
			}
			return toml_fail(ps, bs, "invalid escape sequence");
		}
		if (c == '\n') {
			if (!ml)
				return toml_fail(ps, q, "newline in a single-line string");
			TOML_EMIT('\n');
			q++;
			continue;
		}
		if (c == '\r') {
			if (ml && q + 1 < end && q[1] == '\n') {
				TOML_EMIT('\n');
				q += 2;
				continue;
			}
			return toml_fail(ps, q, ml ? "carriage return not followed by a newline"
						   : "newline in a single-line string");
		}
		if (toml_is_ctrl(c) && c != '\t')
			return toml_fail(ps, q,
					 "control character in a string (write it as an escape)");
		TOML_EMIT((char)c);
		q++;
	}
#undef TOML_EMIT
	*len_r = o;
	*end_r = q;
	return 0;
}

/* At a quote: parses any string form (multi-line only if allow_ml) into
   the arena. */
static int toml_parse_string(struct toml_parser *ps, bool allow_ml, const char **str_r,
			     size_t *len_r)
{
	const char *open = ps->p;
	bool literal = *open == '\'';
	bool ml = ps->end - open >= 3 && open[1] == *open && open[2] == *open;
	const char *q, *end_pos;
	size_t len;
	char *out;

	if (ml && !allow_ml)
		return toml_fail(ps, open, "a key cannot be a multi-line string");
	q = open + (ml ? 3 : 1);
	if (ml) {
		/* a newline right after the opening delimiter is trimmed */
		if (q < ps->end && *q == '\n')
			q++;
		else if (ps->end - q >= 2 && q[0] == '\r' && q[1] == '\n')
			q += 2;
	}
	if (toml_scan_string(ps, open, q, literal, ml, NULL, &len, &end_pos) < 0)
		return -1;
	out = arena_alloc(ps->arena, len + 1);
	(void)toml_scan_string(ps, open, q, literal, ml, out, &len, &end_pos);
	out[len] = '\0';
	ps->p = end_pos;
	*str_r = out;
	*len_r = len;
	return 0;
}

/* ---- keys ---- */

static int toml_parse_simple_key(struct toml_parser *ps, struct toml_key *k)
{
	const char *start = ps->p;

	k->pos = start;
	if (start >= ps->end)
		return toml_fail(ps, start, "expected a key");
	if (*start == '"' || *start == '\'')
		return toml_parse_string(ps, false, &k->ptr, &k->len);
	while (ps->p < ps->end && toml_is_bare_key_char(*ps->p))
		ps->p++;
	if (ps->p == start) {
		if (*start == '=')
			return toml_fail(ps, start, "missing key before '='");
		if (*start == '.')
			return toml_fail(ps, start, "empty part in a dotted key");
		return toml_fail(ps, start, "expected a key (bare keys use A-Z a-z 0-9 _ -)");
	}
	k->ptr = start;
	k->len = (size_t)(ps->p - start);
	return 0;
}

/* A possibly dotted key into parts[TOML_MAX_DEPTH]. */
static int toml_parse_key(struct toml_parser *ps, struct toml_key *parts, size_t *n_r)
{
	size_t n = 0;

	for (;;) {
		if (n == TOML_MAX_DEPTH)
			return toml_fail(ps, ps->p, "key has more than %d parts", TOML_MAX_DEPTH);
		if (toml_parse_simple_key(ps, &parts[n]) < 0)
			return -1;
		n++;
		toml_skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '.')
			break;
		ps->p++;
		toml_skip_ws(ps);
	}
	*n_r = n;
	return 0;
}

/* ---- the (parent, key) index ---- */

static size_t toml_hash(const struct toml_node *parent, const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ ((uint64_t)(uintptr_t)parent * 0x9e3779b97f4a7c15ULL);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

static struct toml_node *toml_index_get(struct toml_parser *ps, const struct toml_node *parent,
					const struct toml_key *k)
{
	size_t h, mask, i;

	if (ps->slot_cap == 0)
		return NULL;
	h = toml_hash(parent, k->ptr, k->len);
	mask = ps->slot_cap - 1;
	for (i = h & mask; ps->slots[i].node != NULL; i = (i + 1) & mask) {
		struct toml_node *n = ps->slots[i].node;

		if (ps->slots[i].hash == h && n->parent == parent && n->key_len == k->len &&
		    memcmp(n->key, k->ptr, k->len) == 0)
			return n;
	}
	return NULL;
}

static void toml_index_put_slot(struct toml_slot *slots, size_t cap, struct toml_node *n, size_t h)
{
	size_t mask = cap - 1, i;

	for (i = h & mask; slots[i].node != NULL; i = (i + 1) & mask)
		;
	slots[i].node = n;
	slots[i].hash = h;
}

static void toml_index_put(struct toml_parser *ps, struct toml_node *n)
{
	if ((ps->slot_used + 1) * 2 > ps->slot_cap) {
		size_t cap = ps->slot_cap == 0 ? 64 : ps->slot_cap * 2;
		struct toml_slot *slots = xcalloc(cap, sizeof(*slots));

		for (size_t i = 0; i < ps->slot_cap; i++) {
			if (ps->slots[i].node != NULL)
				toml_index_put_slot(slots, cap, ps->slots[i].node,
						    ps->slots[i].hash);
		}
		free(ps->slots);
		ps->slots = slots;
		ps->slot_cap = cap;
	}
	toml_index_put_slot(ps->slots, ps->slot_cap, n, toml_hash(n->parent, n->key, n->key_len));
	ps->slot_used++;
}

/* ---- nodes ---- */

static struct toml_node *toml_new_node(struct toml_parser *ps, struct toml_node *parent,
				       enum toml_type type, const struct toml_key *k,
				       const char *pos)
{
	struct toml_node *n;

	if (parent->depth >= TOML_MAX_DEPTH) {
		toml_fail(ps, pos, "nested deeper than %d levels", TOML_MAX_DEPTH);
		return NULL;
	}
	if (ps->nodes >= TOML_MAX_NODES) {
		toml_fail(ps, pos, "more than %d keys and values", TOML_MAX_NODES);
		return NULL;
	}
	ps->nodes++;
	n = arena_alloc(ps->arena, sizeof(*n));
	n->type = type;
	n->parent = parent;
	n->depth = parent->depth + 1;
	toml_locate(ps, pos, &n->line, &n->column);
	if (parent->last == NULL)
		parent->first = n;
	else
		parent->last->next = n;
	parent->last = n;
	parent->count++;
	if (k != NULL) {
		n->key = arena_strndup(ps->arena, k->ptr, k->len);
		n->key_len = k->len;
		toml_index_put(ps, n);
	}
	return n;
}

/* ---- values ---- */

/* DIGIT *( ["_"] DIGIT ) of the base at s: its length, 0 when s does not
   start with a digit. *bad_r: an underscore not between two digits. */
static size_t toml_digit_run(const char *s, size_t len, unsigned base, bool *bad_r)
{
	size_t i = 1;

	*bad_r = false;
	if (len == 0 || !toml_is_digit(s[0], base))
		return 0;
	while (i < len) {
		if (toml_is_digit(s[i], base)) {
			i++;
		} else if (s[i] == '_') {
			if (i + 1 < len && toml_is_digit(s[i + 1], base)) {
				i += 2;
				continue;
			}
			*bad_r = true;
			break;
		} else {
			break;
		}
	}
	return i;
}

static int toml_parse_integer(struct toml_parser *ps, const char *tok, size_t len, bool neg,
			      size_t skip, unsigned base, struct toml_node *n)
{
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v = 0;

	for (size_t i = skip; i < len; i++) {
		unsigned d;

		if (tok[i] == '_')
			continue;
		d = toml_digit_value(tok[i]);
		if (v > (limit - d) / base)
			return toml_fail(ps, tok, "integer out of range (64-bit signed)");
		v = v * base + d;
	}
	n->type = TOML_INTEGER;
	if (neg)
		n->integer = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		n->integer = (int64_t)v;
	return 0;
}

static int toml_parse_float(struct toml_parser *ps, const char *tok, size_t len,
			    struct toml_node *n)
{
	char *copy = arena_alloc(ps->arena, len + 1), *endp;
	size_t o = 0;
	double d;

	for (size_t i = 0; i < len; i++) {
		if (tok[i] != '_')
			copy[o++] = tok[i];
	}
	copy[o] = '\0';
	errno = 0;
	d = strtod(copy, &endp);
	if (endp != copy + o)
		return toml_fail(ps, tok, "invalid float");
	if (isinf(d))
		return toml_fail(ps, tok, "float out of range");
	n->type = TOML_FLOAT;
	n->fp = d;
	return 0;
}

/* A number token: sign handling, base prefixes, leading zeros, digit runs
   with underscores, then integer or float. */
static int toml_parse_number(struct toml_parser *ps, const char *tok, size_t len,
			     struct toml_node *n)
{
	size_t i = 0, run;
	bool neg = false, has_sign = false, bad;

	if (tok[0] == '+' || tok[0] == '-') {
		neg = tok[0] == '-';
		has_sign = true;
		i = 1;
	}
	if (len - i >= 2 && tok[i] == '0' && (tok[i + 1] == 'x' || tok[i + 1] == 'o' ||
					     tok[i + 1] == 'b')) {
		unsigned base = tok[i + 1] == 'x' ? 16 : tok[i + 1] == 'o' ? 8 : 2;

		if (has_sign)
			return toml_fail(ps, tok,
					 "a hex, octal or binary integer cannot have a sign");
		run = toml_digit_run(tok + i + 2, len - i - 2, base, &bad);
		if (run == 0 || bad || i + 2 + run != len)
			return toml_fail(ps, tok, "invalid %s integer",
					 base == 16 ? "hexadecimal"
					 : base == 8 ? "octal" : "binary");
		return toml_parse_integer(ps, tok, len, false, i + 2, base, n);
	}
	run = toml_digit_run(tok + i, len - i, 10, &bad);
	if (run == 0 || bad)
		return toml_fail(ps, tok,
				 bad ? "underscores must be between digits" : "invalid number");
	if (tok[i] == '0' && run > 1)
		return toml_fail(ps, tok, "leading zeros are not allowed");
	if (i + run == len)
		return toml_parse_integer(ps, tok, len, neg, i, 10, n);
	i += run;
	if (tok[i] == '.') {
		run = toml_digit_run(tok + i + 1, len - i - 1, 10, &bad);
		if (run == 0 || bad)
			return toml_fail(ps, tok, "invalid float (digits must follow '.')");
		i += 1 + run;
	}
	if (i < len && (tok[i] == 'e' || tok[i] == 'E')) {
		i++;
		if (i < len && (tok[i] == '+' || tok[i] == '-'))
			i++;
		run = toml_digit_run(tok + i, len - i, 10, &bad);
		if (run == 0 || bad)
			return toml_fail(ps, tok, "invalid float exponent");
		i += run;
	}
	if (i != len)
		return toml_fail(ps, tok, "invalid number");
	return toml_parse_float(ps, tok, len, n);
}

static bool toml_is_token_char(char c)
{
	return toml_is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

static bool toml_looks_like_datetime(const char *t, size_t len)
{
	bool d4 = len >= 5 && toml_is_digit(t[0], 10) && toml_is_digit(t[1], 10) &&
		  toml_is_digit(t[2], 10) && toml_is_digit(t[3], 10) && t[4] == '-';
	bool t2 = len >= 3 && toml_is_digit(t[0], 10) && toml_is_digit(t[1], 10) && t[2] == ':';

	return d4 || t2;
}

/* Booleans, numbers, inf/nan, and a clear error for anything else bare. */
static int toml_parse_bare_value(struct toml_parser *ps, struct toml_node *n)
{
	const char *tok = ps->p;
	size_t len;

	while (ps->p < ps->end && toml_is_token_char(*ps->p))
		ps->p++;
	len = (size_t)(ps->p - tok);
	if (len == 0)
		return toml_fail(ps, tok, "expected a value");
	if (slice_eq(slice_from(tok, len), SLICE_LIT("true")) ||
	    slice_eq(slice_from(tok, len), SLICE_LIT("false"))) {
		n->type = TOML_BOOL;
		n->boolean = tok[0] == 't';
		return 0;
	}
	if (toml_looks_like_datetime(tok, len))
		return toml_fail(ps, tok, "date-time values are not supported");
	{
		size_t s = (tok[0] == '+' || tok[0] == '-') ? 1 : 0;
		struct slice rest = slice_from(tok + s, len - s);

		if (slice_eq(rest, SLICE_LIT("inf")) || slice_eq(rest, SLICE_LIT("nan"))) {
			n->type = TOML_FLOAT;
			n->fp = rest.ptr[0] == 'i' ? INFINITY : NAN;
			if (tok[0] == '-')
				n->fp = -n->fp;
			return 0;
		}
		if (s < len && toml_is_digit(tok[s], 10))
			return toml_parse_number(ps, tok, len, n);
	}
	return toml_fail(ps, tok, "invalid value (strings must be quoted)");
}

static int toml_parse_array(struct toml_parser *ps, struct toml_node *n)
{
	const char *open = ps->p;

	ps->p++;
	n->type = TOML_ARRAY;
	for (;;) {
		struct toml_node *elem;

		if (toml_skip_wcn(ps) < 0)
			return -1;
		if (ps->p >= ps->end)
			return toml_fail(ps, open, "unterminated array");
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		elem = toml_new_node(ps, n, TOML_BOOL, NULL, ps->p);
		if (elem == NULL || toml_parse_value(ps, elem) < 0)
			return -1;
		if (toml_skip_wcn(ps) < 0)
			return -1;
		if (ps->p >= ps->end)
			return toml_fail(ps, open, "unterminated array");
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		return toml_fail(ps, ps->p, "expected ',' or ']' in an array");
	}
}

static int toml_parse_keyval(struct toml_parser *ps, struct toml_node *table);

static int toml_parse_inline_table(struct toml_parser *ps, struct toml_node *n)
{
	const char *open = ps->p;

	ps->p++;
	n->type = TOML_TABLE;
	n->flags |= TOML_F_EXPLICIT;
	toml_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		n->flags |= TOML_F_SEALED;
		return 0;
	}
	for (;;) {
		toml_skip_ws(ps);
		if (ps->p >= ps->end)
			return toml_fail(ps, open, "unterminated inline table");
		if (*ps->p == '\n' || *ps->p == '\r')
			return toml_fail(ps, ps->p, "an inline table must be on one line");
		if (toml_parse_keyval(ps, n) < 0)
			return -1;
		toml_skip_ws(ps);
		if (ps->p >= ps->end)
			return toml_fail(ps, open, "unterminated inline table");
		if (*ps->p == ',') {
			ps->p++;
			toml_skip_ws(ps);
			if (ps->p < ps->end && *ps->p == '}')
				return toml_fail(ps, ps->p, "trailing comma in an inline table");
			continue;
		}
		if (*ps->p == '}') {
			ps->p++;
			n->flags |= TOML_F_SEALED;
			return 0;
		}
		if (*ps->p == '\n' || *ps->p == '\r')
			return toml_fail(ps, ps->p, "an inline table must be on one line");
		return toml_fail(ps, ps->p, "expected ',' or '}' in an inline table");
	}
}

static int toml_parse_value(struct toml_parser *ps, struct toml_node *n)
{
	if (ps->p >= ps->end)
		return toml_fail(ps, ps->p, "expected a value");
	switch (*ps->p) {
	case '"':
	case '\'':
		n->type = TOML_STRING;
		return toml_parse_string(ps, true, &n->str, &n->str_len);
	case '[':
		return toml_parse_array(ps, n);
	case '{':
		return toml_parse_inline_table(ps, n);
	case '\n':
	case '\r':
	case '#':
		return toml_fail(ps, ps->p, "expected a value on the same line");
	default:
		return toml_parse_bare_value(ps, n);
	}
}

/* ---- key/value pairs and headers ---- */

static int toml_parse_keyval(struct toml_parser *ps, struct toml_node *table)
{
	struct toml_key parts[TOML_MAX_DEPTH];
	struct toml_node *t = table, *leaf;
	size_t n;

	if (toml_parse_key(ps, parts, &n) < 0)
		return -1;
	if (ps->p >= ps->end || *ps->p != '=')
		return toml_fail(ps, ps->p, "expected '=' after a key");
	ps->p++;
	toml_skip_ws(ps);
	for (size_t i = 0; i + 1 < n; i++) {
		struct toml_node *child = toml_index_get(ps, t, &parts[i]);

		if (child == NULL) {
			child = toml_new_node(ps, t, TOML_TABLE, &parts[i], parts[i].pos);
			if (child == NULL)
				return -1;
			child->flags |= TOML_F_DOTTED;
		} else if (child->type != TOML_TABLE) {
			return toml_fail(ps, parts[i].pos, "key %s is already defined as %s %s",
					 toml_key_disp(ps, &parts[i]),
					 toml_article(child->type), toml_type_name(child->type));
		} else if ((child->flags & TOML_F_SEALED) != 0) {
			return toml_fail(ps, parts[i].pos, "inline table %s cannot be extended",
					 toml_key_disp(ps, &parts[i]));
		} else if ((child->flags & TOML_F_DOTTED) == 0) {
			return toml_fail(ps, parts[i].pos,
					 "table %s is defined by a header; "
					 "dotted keys cannot extend it here",
					 toml_key_disp(ps, &parts[i]));
		}
		t = child;
	}
	if (toml_index_get(ps, t, &parts[n - 1]) != NULL)
		return toml_fail(ps, parts[n - 1].pos, "key %s is already defined",
				 toml_key_disp(ps, &parts[n - 1]));
	leaf = toml_new_node(ps, t, TOML_BOOL, &parts[n - 1], parts[n - 1].pos);
	if (leaf == NULL)
		return -1;
	return toml_parse_value(ps, leaf);
}

/* Walks the intermediate parts of a [header] or [[header]]. */
static struct toml_node *toml_header_walk(struct toml_parser *ps, const struct toml_key *parts,
					  size_t n)
{
	struct toml_node *t = ps->root;

	for (size_t i = 0; i < n; i++) {
		struct toml_node *child = toml_index_get(ps, t, &parts[i]);

		if (child == NULL) {
			child = toml_new_node(ps, t, TOML_TABLE, &parts[i], parts[i].pos);
			if (child == NULL)
				return NULL;
		} else if (child->type == TOML_ARRAY) {
			if ((child->flags & TOML_F_TABLE_ARRAY) == 0) {
				toml_fail(ps, parts[i].pos, "key %s is an array, not a table",
					  toml_key_disp(ps, &parts[i]));
				return NULL;
			}
			child = child->last;
		} else if (child->type != TOML_TABLE) {
			toml_fail(ps, parts[i].pos, "key %s is already defined as %s %s",
				  toml_key_disp(ps, &parts[i]),
				  toml_article(child->type), toml_type_name(child->type));
			return NULL;
		} else if ((child->flags & TOML_F_SEALED) != 0) {
			toml_fail(ps, parts[i].pos, "inline table %s cannot be extended",
				  toml_key_disp(ps, &parts[i]));
			return NULL;
		}
		t = child;
	}
	return t;
}

static int toml_parse_header(struct toml_parser *ps)
{
	struct toml_key parts[TOML_MAX_DEPTH];
	const char *open = ps->p;
	bool is_array = ps->end - open >= 2 && open[1] == '[';
	struct toml_node *t, *child;
	const struct toml_key *last;
	unsigned line, col;
	size_t n;

	/* located first: positions are asked for in increasing order */
	toml_locate(ps, open, &line, &col);
	ps->p += is_array ? 2 : 1;
	toml_skip_ws(ps);
	if (toml_parse_key(ps, parts, &n) < 0)
		return -1;
	if (is_array) {
		if (ps->end - ps->p < 2 || ps->p[0] != ']' || ps->p[1] != ']')
			return toml_fail(ps, ps->p,
					 "expected ']]' to close the table array header");
		ps->p += 2;
	} else {
		if (ps->p >= ps->end || *ps->p != ']')
			return toml_fail(ps, ps->p, "expected ']' to close the table header");
		ps->p++;
	}
	t = toml_header_walk(ps, parts, n - 1);
	if (t == NULL)
		return -1;
	last = &parts[n - 1];
	child = toml_index_get(ps, t, last);
	if (is_array) {
		if (child == NULL) {
			child = toml_new_node(ps, t, TOML_ARRAY, last, last->pos);
			if (child == NULL)
				return -1;
			child->flags |= TOML_F_TABLE_ARRAY;
		} else if (child->type != TOML_ARRAY || (child->flags & TOML_F_TABLE_ARRAY) == 0) {
			return toml_fail(ps, last->pos,
					 "key %s is already defined and is not an array of tables",
					 toml_key_disp(ps, last));
		}
		ps->cur = toml_new_node(ps, child, TOML_TABLE, NULL, last->pos);
		if (ps->cur == NULL)
			return -1;
		ps->cur->flags |= TOML_F_EXPLICIT;
		ps->cur->line = line;
		ps->cur->column = col;
		return toml_expect_eol(ps, "the table array header");
	}
	if (child == NULL) {
		child = toml_new_node(ps, t, TOML_TABLE, last, last->pos);
		if (child == NULL)
			return -1;
	} else if (child->type != TOML_TABLE) {
		return toml_fail(ps, last->pos, "key %s is already defined as %s %s",
				 toml_key_disp(ps, last),
				 toml_article(child->type), toml_type_name(child->type));
	} else if ((child->flags & (TOML_F_EXPLICIT | TOML_F_DOTTED | TOML_F_SEALED)) != 0) {
		return toml_fail(ps, last->pos, "table %s is already defined",
				 toml_key_disp(ps, last));
	} else {
		toml_locate(ps, last->pos, &child->line, &child->column);
	}
	child->flags |= TOML_F_EXPLICIT;
	ps->cur = child;
	return toml_expect_eol(ps, "the table header");
}

static int toml_parse_document(struct toml_parser *ps)
{
	while (ps->p < ps->end) {
		toml_skip_ws(ps);
		if (ps->p >= ps->end)
			break;
		switch (*ps->p) {
		case '[':
			if (toml_parse_header(ps) < 0)
				return -1;
			break;
		case '#':
		case '\n':
		case '\r':
			if (toml_expect_eol(ps, "a comment") < 0)
				return -1;
			break;
		default:
			if (toml_parse_keyval(ps, ps->cur) < 0 ||
			    toml_expect_eol(ps, "a value") < 0)
				return -1;
			break;
		}
	}
	return 0;
}

int toml_parse(struct arena *arena, const char *text, size_t len, struct toml_node **root_r,
	       struct toml_error *err_r)
{
	struct toml_parser ps = {
		.arena = arena,
		.text = text,
		.p = text,
		.end = text + len,
		.err = err_r,
		.loc_pos = text,
		.loc_line = 1,
		.loc_col = 1,
	};
	int ret;

	*err_r = (struct toml_error){ .line = 1, .column = 1 };
	if (len > TOML_MAX_INPUT) {
		(void)snprintf(err_r->msg, sizeof(err_r->msg), "input larger than %d bytes",
			       TOML_MAX_INPUT);
		return -1;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		ps.p += 3;
		ps.text = ps.loc_pos = ps.p;
	}
	ps.root = arena_alloc(arena, sizeof(*ps.root));
	ps.root->type = TOML_TABLE;
	ps.root->flags = TOML_F_EXPLICIT;
	ps.root->line = 1;
	ps.root->column = 1;
	ps.cur = ps.root;
	ret = toml_check_utf8(&ps);
	if (ret == 0)
		ret = toml_parse_document(&ps);
	free(ps.slots);
	if (ret < 0)
		return -1;
	*root_r = ps.root;
	return 0;
}

const char *toml_error_str(struct arena *arena, const struct toml_error *err)
{
	return arena_printf(arena, "line %u, column %u: %s", err->line, err->column, err->msg);
}

/* ---- lookups ---- */

struct toml_node *toml_first(const struct toml_node *n)
{
	if (n == NULL || (n->type != TOML_TABLE && n->type != TOML_ARRAY))
		return NULL;
	return n->first;
}

const struct toml_node *toml_get(const struct toml_node *table, const char *key)
{
	size_t len = strlen(key);
	const struct toml_node *c;

	if (table == NULL || table->type != TOML_TABLE)
		return NULL;
	toml_foreach(c, table) {
		if (c->key_len == len && memcmp(c->key, key, len) == 0)
			return c;
	}
	return NULL;
}

const struct toml_node *toml_get_path(const struct toml_node *table, const char *path)
{
	const struct toml_node *n = table;

	while (n != NULL) {
		const char *dot = strchr(path, '.');
		size_t len = dot == NULL ? strlen(path) : (size_t)(dot - path);
		const struct toml_node *c, *found = NULL;

		if (n->type != TOML_TABLE)
			return NULL;
		toml_foreach(c, n) {
			if (c->key_len == len && memcmp(c->key, path, len) == 0) {
				found = c;
				break;
			}
		}
		if (dot == NULL)
			return found;
		n = found;
		path = dot + 1;
	}
	return NULL;
}

const struct toml_node *toml_at(const struct toml_node *n, size_t i)
{
	const struct toml_node *c;

	toml_foreach(c, n) {
		if (i-- == 0)
			return c;
	}
	return NULL;
}

bool toml_is_table_array(const struct toml_node *n)
{
	return n != NULL && n->type == TOML_ARRAY && (n->flags & TOML_F_TABLE_ARRAY) != 0;
}

const char *toml_type_name(enum toml_type type)
{
	return (unsigned)type < TOML_TYPE_COUNT ? toml_type_names[type] : "unknown";
}

/* ---- paths for messages ---- */

static void toml_buf_key(struct buf *b, const char *key, size_t len)
{
	bool bare = len > 0;

	for (size_t i = 0; i < len && bare; i++)
		bare = toml_is_bare_key_char(key[i]);
	if (bare) {
		(void)buf_append(b, key, len);
		return;
	}
	(void)buf_append(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == '"' || c == '\\')
			(void)buf_printf(b, "\\%c", c);
		else if (toml_is_ctrl(c))
			(void)buf_printf(b, "\\u%04x", c);
		else
			(void)buf_append(b, &key[i], 1);
	}
	(void)buf_append(b, "\"", 1);
}

char *toml_key_str(struct arena *arena, const char *key, size_t key_len)
{
	struct buf b;
	char *s;

	buf_init(&b, 0);
	toml_buf_key(&b, key, key_len);
	s = arena_strndup(arena, b.data == NULL ? "" : b.data, b.len);
	buf_free(&b);
	return s;
}

char *toml_path(struct arena *arena, const struct toml_node *n)
{
	const struct toml_node *chain[TOML_MAX_DEPTH + 1];
	size_t depth = 0;
	struct buf b;
	char *s;

	for (; n != NULL && n->parent != NULL && depth < ARRAY_SIZE(chain); n = n->parent)
		chain[depth++] = n;
	buf_init(&b, 0);
	while (depth > 0) {
		const struct toml_node *c = chain[--depth];

		if (c->key == NULL) {
			size_t i = 0;
			const struct toml_node *s2;

			toml_foreach(s2, c->parent) {
				if (s2 == c)
					break;
				i++;
			}
			(void)buf_printf(&b, "[%zu]", i);
			continue;
		}
		if (b.len > 0)
			(void)buf_append(&b, ".", 1);
		toml_buf_key(&b, c->key, c->key_len);
	}
	s = arena_strndup(arena, b.data == NULL ? "" : b.data, b.len);
	buf_free(&b);
	return s;
}

void toml_wipe_strings(struct toml_node *root)
{
	struct toml_node *c;

	if (root == NULL)
		return;
	if (root->type == TOML_STRING) {
		util_wipe((void *)root->str, root->str_len);
		return;
	}
	toml_foreach(c, root)
		toml_wipe_strings(c);
}
