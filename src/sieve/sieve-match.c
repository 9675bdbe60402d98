/* Comparators (RFC 4790, RFC 5051) and match types (RFC 5228 §2.7.1,
   RFC 5231 relational, RFC 5229 captures, draft regex).

   :matches runs without backtracking: the pattern is split at each '*'
   into segments of literals and '?'; the first segment is anchored at the
   start, the last at the end, and every middle one is placed at its
   leftmost occurrence. Leftmost placement is always safe (a later
   placement leaves less room for the rest), so the cost is
   O(value × pattern) and each '*' captures the shortest possible span,
   as RFC 5229 §3.2 asks. :regex uses PCRE2 with match and depth limits. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicase.h>
#include <uninorm.h>

#include "lib/utf8.h"
#include "sieve-private.h"

#define REGEX_MATCH_LIMIT 200000
#define REGEX_DEPTH_LIMIT 5000

struct slice sv_unicode_fold(struct slice s, struct arena *a)
{
	size_t n = 0;
	uint8_t *f = u8_casefold((const uint8_t *)s.ptr, s.len, NULL, UNINORM_NFKD, NULL, &n);
	char *out;

	if (f == NULL) { /* invalid UTF-8: ASCII folding is the best we can do */
		out = arena_strndup(a, s.ptr, s.len);
		for (size_t i = 0; i < s.len; i++)
			out[i] = (char)tolower((unsigned char)out[i]);
		return slice_from(out, s.len);
	}
	out = arena_strndup(a, (const char *)f, n);
	free(f);
	return slice_from(out, n);
}

/* CMP_UNICODE reaching the glob matcher means: already folded, compare
   octets */
static inline unsigned char fold(enum sv_cmp cmp, unsigned char c)
{
	return cmp == CMP_ASCIICASE && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* i;ascii-numeric (RFC 4790 §9.1): leading digits as an unbounded
   number; a string that does not start with a digit is +infinity */
static int numeric_order(struct slice a, struct slice b)
{
	size_t la = 0, lb = 0, za = 0, zb = 0;

	while (la < a.len && isdigit((unsigned char)a.ptr[la]))
		la++;
	while (lb < b.len && isdigit((unsigned char)b.ptr[lb]))
		lb++;
	if (la == 0 || lb == 0)
		return (la == 0) - (lb == 0);
	while (za + 1 < la && a.ptr[za] == '0')
		za++;
	while (zb + 1 < lb && b.ptr[zb] == '0')
		zb++;
	if (la - za != lb - zb)
		return la - za < lb - zb ? -1 : 1;
	int c = memcmp(a.ptr + za, b.ptr + zb, la - za);

	return c < 0 ? -1 : c > 0;
}

int sv_cmp_order(enum sv_cmp cmp, struct slice a, struct slice b)
{
	size_t n = MIN(a.len, b.len);

	if (cmp == CMP_NUMERIC)
		return numeric_order(a, b);
	if (cmp == CMP_UNICODE) {
		struct arena *ar = arena_new(1024);
		struct slice fa = sv_unicode_fold(a, ar), fb = sv_unicode_fold(b, ar);
		int r = sv_cmp_order(CMP_OCTET, fa, fb);

		arena_free(&ar);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char x = fold(cmp, (unsigned char)a.ptr[i]);
		unsigned char y = fold(cmp, (unsigned char)b.ptr[i]);

		if (x != y)
			return x < y ? -1 : 1;
	}
	return a.len == b.len ? 0 : a.len < b.len ? -1 : 1;
}

bool sv_relop_holds(enum sv_relop op, int order)
{
	switch (op) {
	case REL_GT: return order > 0;
	case REL_GE: return order >= 0;
	case REL_LT: return order < 0;
	case REL_LE: return order <= 0;
	case REL_EQ: return order == 0;
	case REL_NE: return order != 0;
	}
	return false;
}

/* work between two looks at the clock: well under a millisecond */
#define WORK_CHECK (1u << 20)

/* 1 / 0, or -1 when the deadline passed (value and key may both be
   large: the naive search is quadratic, so it watches the clock) */
static int contains(struct sv_run *r, enum sv_cmp cmp, struct slice v, struct slice k)
{
	uint64_t work = 0;

	if (k.len == 0)
		return 1;
	if (cmp == CMP_OCTET)
		return memmem(v.ptr, v.len, k.ptr, k.len) != NULL; /* linear (two-way) */
	for (size_t i = 0; i + k.len <= v.len; i++) {
		size_t j = 0;

		while (j < k.len && fold(cmp, (unsigned char)v.ptr[i + j]) ==
					    fold(cmp, (unsigned char)k.ptr[j]))
			j++;
		if (j == k.len)
			return 1;
		work += j + 1;
		if (work >= WORK_CHECK) {
			work = 0;
			if (sv_deadline_passed(r))
				return -1;
		}
	}
	return 0;
}

/* ---- :matches ---- */

enum gtok { G_LIT, G_ONE, G_STAR };

struct gpat {
	enum gtok *kind;
	unsigned char *ch;
	size_t n;
};

static void glob_compile(struct slice key, struct arena *a, struct gpat *p)
{
	p->kind = arena_alloc(a, (key.len + 1) * sizeof(*p->kind));
	p->ch = arena_alloc(a, key.len + 1);
	p->n = 0;
	for (size_t i = 0; i < key.len; i++) {
		char c = key.ptr[i];

		if (c == '\\' && i + 1 < key.len) {
			p->kind[p->n] = G_LIT;
			p->ch[p->n++] = (unsigned char)key.ptr[++i];
		} else if (c == '*') {
			if (p->n > 0 && p->kind[p->n - 1] == G_STAR) {
				/* "**" is one star, but still two captures: keep both,
				   the second one always captures "" */
			}
			p->kind[p->n++] = G_STAR;
		} else if (c == '?') {
			p->kind[p->n++] = G_ONE;
		} else {
			p->kind[p->n] = G_LIT;
			p->ch[p->n++] = (unsigned char)c;
		}
	}
}

/* length of one character at s for '?' (RFC 5228 §2.7.1 "a single
   character"): a UTF-8 sequence, or one octet where the bytes are not
   UTF-8 and always with i;octet (RFC 4790 §9.3) */
static size_t char_len(enum sv_cmp cmp, const char *s, size_t avail)
{
	uint32_t cp;
	size_t n;

	if (cmp == CMP_OCTET || avail == 0)
		return avail == 0 ? 0 : 1;
	n = utf8_decode((const unsigned char *)s, avail, &cp);
	return n == 0 ? 1 : n;
}

struct gcap {
	size_t start, len;
};

/* segment tokens [ts, te) at v[pos...]; returns end offset or -1.
   caps receives one entry per '?' */
static ssize_t seg_at(enum sv_cmp cmp, const struct gpat *p, size_t ts, size_t te,
		      struct slice v, size_t pos, struct gcap *caps, size_t *ncap)
{
	size_t c0 = *ncap;

	for (size_t t = ts; t < te; t++) {
		if (p->kind[t] == G_LIT) {
			if (pos >= v.len ||
			    fold(cmp, (unsigned char)v.ptr[pos]) != fold(cmp, p->ch[t])) {
				*ncap = c0;
				return -1;
			}
			pos++;
		} else {
			size_t cl = char_len(cmp, v.ptr + pos, v.len - pos);

			if (cl == 0) {
				*ncap = c0;
				return -1;
			}
			caps[(*ncap)++] = (struct gcap){ pos, cl };
			pos += cl;
		}
	}
	return (ssize_t)pos;
}

static int glob_match(struct sv_run *r, enum sv_cmp cmp, const struct gpat *p, struct slice v,
		      struct gcap *caps, size_t *ncap)
{
	size_t t = 0, pos = 0;
	uint64_t work = 0;
	size_t te;
	ssize_t e;

	*ncap = 0;
	/* first segment: anchored at the start */
	for (te = t; te < p->n && p->kind[te] != G_STAR; te++)
		;
	if ((e = seg_at(cmp, p, t, te, v, pos, caps, ncap)) < 0)
		return 0;
	pos = (size_t)e;
	if (te == p->n)
		return pos == v.len;
	t = te;
	while (t < p->n) {
		size_t star_cap, star_start = pos;
		bool last;

		/* p->kind[t] == G_STAR */
		star_cap = (*ncap)++;
		t++;
		for (te = t; te < p->n && p->kind[te] != G_STAR; te++)
			;
		last = te == p->n;
		for (size_t s = pos;; s++) {
			size_t saved = *ncap;

			/* each attempt costs up to the segment's length */
			work += te - t + 1;
			if (work >= WORK_CHECK) {
				work = 0;
				if (sv_deadline_passed(r))
					return -1;
			}
			if (s > v.len)
				return 0;
			e = seg_at(cmp, p, t, te, v, s, caps, ncap);
			if (e >= 0 && (!last || (size_t)e == v.len)) {
				caps[star_cap] = (struct gcap){ star_start, s - star_start };
				pos = (size_t)e;
				break;
			}
			*ncap = saved;
		}
		t = te;
	}
	return 1;
}

/* ---- :regex ---- */

static pcre2_code *regex_compile(const char *pat, size_t len, bool icase, const char **error_r,
				 char *ebuf, size_t esize)
{
	uint32_t opts = icase ? PCRE2_CASELESS : 0;
	int ecode;
	PCRE2_SIZE eoff;
	pcre2_code *re;

	if (utf8_is_valid(pat, len))
		opts |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
	re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ecode, &eoff, NULL);
	if (re == NULL) {
		(void)pcre2_get_error_message(ecode, (PCRE2_UCHAR *)ebuf, esize);
		*error_r = ebuf;
	}
	return re;
}

bool sv_regex_valid(const char *pattern, size_t len, bool icase, const char **error_r)
{
	static _Thread_local char ebuf[200];
	pcre2_code *re = regex_compile(pattern, len, icase, error_r, ebuf, sizeof(ebuf));

	if (re == NULL)
		return false;
	pcre2_code_free(re);
	return true;
}

static int regex_match(struct sv_run *r, struct slice v, struct slice key, bool icase,
		       struct arena *a, const char **captures, int *ncap)
{
	char ebuf[200];
	const char *error;
	pcre2_code *re = regex_compile(key.ptr, key.len, icase, &error, ebuf, sizeof(ebuf));
	pcre2_match_data *md;
	pcre2_match_context *mc;
	int rc;

	if (re == NULL) {
		sv_run_fail(r, "invalid regular expression: %s", error);
		return -1;
	}
	md = pcre2_match_data_create_from_pattern(re, NULL);
	mc = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(mc, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(mc, REGEX_DEPTH_LIMIT);
	rc = pcre2_match(re, (PCRE2_SPTR)v.ptr, v.len, 0, 0, md, mc);
	if (rc > 0 && captures != NULL) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

		for (int i = 0; i < 10; i++) {
			if (i < rc && ov[2 * i] != PCRE2_UNSET)
				captures[i] = arena_strndup(a, v.ptr + ov[2 * i],
							    ov[2 * i + 1] - ov[2 * i]);
			else
				captures[i] = "";
		}
		*ncap = 10;
	}
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT) {
		sv_run_fail(r, "regular expression too complex for this message");
		return -1;
	}
	if (sv_deadline_passed(r))
		return -1;
	return rc > 0;
}

int sv_match_one(struct sv_run *r, const struct sv_opts *o, struct slice value, struct slice key,
		 struct arena *a, const char **captures, int *ncap)
{
	enum sv_cmp cmp = o->cmp;

	if (cmp == CMP_UNICODE && o->match != MATCH_VALUE && o->match != MATCH_REGEX) {
		value = sv_unicode_fold(value, a);
		key = sv_unicode_fold(key, a);
		/* octet compare on folded text; :matches keeps CMP_UNICODE so that
		   '?' still takes whole characters */
		if (o->match != MATCH_MATCHES)
			cmp = CMP_OCTET;
	}
	switch (o->match) {
	case MATCH_IS:
		return sv_cmp_order(cmp, value, key) == 0;
	case MATCH_CONTAINS:
		return contains(r, cmp, value, key);
	case MATCH_VALUE:
	case MATCH_COUNT:
		return sv_relop_holds(o->relop, sv_cmp_order(cmp, value, key));
	case MATCH_REGEX:
		return regex_match(r, value, key, o->cmp != CMP_OCTET, a, captures, ncap);
	case MATCH_MATCHES: {
		struct gpat p;
		struct gcap caps[64], *cp = caps;
		size_t nc = 0;
		int ret;

		glob_compile(key, a, &p);
		if (p.n > ARRAY_SIZE(caps))
			cp = arena_alloc(a, p.n * sizeof(*cp));
		ret = glob_match(r, cmp, &p, value, cp, &nc);
		if (ret == 1 && captures != NULL) {
			captures[0] = arena_strndup(a, value.ptr, value.len);
			for (size_t i = 1; i < 10; i++)
				captures[i] = i - 1 < nc ? arena_strndup(a, value.ptr + cp[i - 1].start,
									 cp[i - 1].len)
							 : "";
			*ncap = 10;
		}
		return ret;
	}
	}
	return 0;
}
