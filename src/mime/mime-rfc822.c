/* RFC 822/5322 lexing of header values: comments, atoms, quoted strings,
   content types, MIME parameters with RFC 2231 sections, and address
   lists.

   Broken input is common and IMAP clients compare what servers say, so the
   rules for it (what is skipped, what becomes MISSING_DOMAIN, how RFC 2231
   sections merge) are Dovecot 2.3's, checked against its imap binary. The
   code is ours; every function works on an unfolded value in memory and
   allocates only from the buffers and arena it is given. */
#include <stdlib.h>
#include <string.h>

#include "mime-private.h"

/* atext of RFC 5322 plus 8-bit bytes (1); MIME tspecials among them (2):
   tokens are atext without "/", "=" and "?", plus ".". */
static const unsigned char atext_table[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['/'] = 2, ['='] = 2, ['?'] = 2, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1,
};

bool mime_is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
		return true;
	return atext_table[c] != 0;
}

static bool is_token_char(unsigned char c)
{
	return c == '.' || (mime_is_atext(c) && atext_table[c] != 2);
}

static void out_add(struct buf *out, const unsigned char *p, size_t n)
{
	(void)buf_append(out, p, n);
}

/* text of quoted strings, comments and domain literals: NUL becomes
   U+FFFD there (atoms and tokens simply end at a NUL), as in Dovecot */
static void out_add_text(struct buf *out, const unsigned char *p, size_t n)
{
	const unsigned char *nul;

	while (n > 0 && (nul = memchr(p, '\0', n)) != NULL) {
		out_add(out, p, (size_t)(nul - p));
		(void)buf_append(out, "\xef\xbf\xbd", 3);
		n -= (size_t)(nul - p) + 1;
		p = nul + 1;
	}
	out_add(out, p, n);
}

static int lex_more(const struct mime_lex *l)
{
	return l->p < l->end ? 1 : 0;
}

static int lex_skip_comment(struct mime_lex *l)
{
	const unsigned char *start;
	unsigned int level = 1;

	if (l->comment != NULL)
		buf_clear(l->comment);
	start = ++l->p;
	for (; l->p < l->end; l->p++) {
		if (*l->p == '\0') {
			/* kept as U+FFFD even when the comment never ends */
			if (l->comment != NULL)
				out_add_text(l->comment, start, (size_t)(l->p - start) + 1);
			start = l->p + 1;
		} else if (*l->p == '(') {
			level++;
		} else if (*l->p == ')') {
			if (--level == 0) {
				if (l->comment != NULL)
					out_add_text(l->comment, start, (size_t)(l->p - start));
				l->p++;
				return lex_more(l);
			}
		} else if (*l->p == '\\') {
			if (l->comment != NULL)
				out_add_text(l->comment, start, (size_t)(l->p - start));
			start = l->p + 1;
			if (++l->p >= l->end)
				return -1;
		}
	}
	return -1; /* missing ")" */
}

int mime_lex_skip_lwsp(struct mime_lex *l)
{
	while (l->p < l->end) {
		unsigned char c = *l->p;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l->p++;
			continue;
		}
		if (c != '(')
			break;
		if (lex_skip_comment(l) < 0)
			return -1;
	}
	return lex_more(l);
}

int mime_lex_atom(struct mime_lex *l, struct buf *out)
{
	const unsigned char *start = l->p;

	if (l->p >= l->end || !mime_is_atext(*l->p))
		return -1;
	while (l->p < l->end && mime_is_atext(*l->p))
		l->p++;
	out_add(out, start, (size_t)(l->p - start));
	return l->p < l->end ? mime_lex_skip_lwsp(l) : 0;
}

/* RFC 822 allowed whitespace around the dots; so do we. A dot must be
   followed by more atext ("b.", "b..c" fail). */
int mime_lex_dot_atom(struct mime_lex *l, struct buf *out)
{
	const unsigned char *start;
	int ret;

	if (l->p >= l->end || !mime_is_atext(*l->p))
		return -1;
	start = l->p++;
	while (l->p < l->end) {
		if (mime_is_atext(*l->p)) {
			l->p++;
			continue;
		}
		out_add(out, start, (size_t)(l->p - start));
		if ((ret = mime_lex_skip_lwsp(l)) <= 0)
			return ret;
		if (*l->p != '.')
			return 1;
		l->p++;
		out_add(out, (const unsigned char *)".", 1);
		if (mime_lex_skip_lwsp(l) <= 0 || !mime_is_atext(*l->p))
			return -1;
		start = l->p;
	}
	out_add(out, start, (size_t)(l->p - start));
	return 0;
}

int mime_lex_token(struct mime_lex *l, struct buf *out)
{
	const unsigned char *start = l->p;

	while (l->p < l->end && is_token_char(*l->p))
		l->p++;
	out_add(out, start, (size_t)(l->p - start));
	return l->p < l->end ? mime_lex_skip_lwsp(l) : 0;
}

int mime_lex_quoted(struct mime_lex *l, struct buf *out)
{
	const unsigned char *start;

	start = ++l->p;
	for (; l->p < l->end; l->p++) {
		if (*l->p == '\0') {
			/* kept as U+FFFD even when the string never ends */
			out_add_text(out, start, (size_t)(l->p - start) + 1);
			start = l->p + 1;
		} else if (*l->p == '"') {
			out_add_text(out, start, (size_t)(l->p - start));
			l->p++;
			return mime_lex_skip_lwsp(l);
		} else if (*l->p == '\n') {
			/* folding inside the string: drop the (CR)LF */
			size_t n = (size_t)(l->p - start);

			if (n > 0 && start[n - 1] == '\r')
				n--;
			out_add_text(out, start, n);
			start = l->p + 1;
		} else if (*l->p == '\\') {
			/* a backslash before a line break is just a backslash */
			if (l->p + 1 < l->end && (l->p[1] == '\r' || l->p[1] == '\n'))
				continue;
			if (++l->p >= l->end)
				return -1;
			out_add_text(out, start, (size_t)(l->p - start - 1));
			start = l->p;
		}
	}
	return -1; /* missing '"' */
}

/* an atom that may contain dots, without skipping whitespace inside */
static int lex_atom_or_dot(struct mime_lex *l, struct buf *out)
{
	const unsigned char *start = l->p;

	while (l->p < l->end && (mime_is_atext(*l->p) || *l->p == '.'))
		l->p++;
	out_add(out, start, (size_t)(l->p - start));
	return l->p < l->end ? mime_lex_skip_lwsp(l) : 0;
}

int mime_lex_phrase(struct mime_lex *l, struct buf *out)
{
	int ret;

	if (l->p >= l->end)
		return 0;
	if (*l->p == '.')
		return -1;
	for (;;) {
		if (*l->p == '"')
			ret = mime_lex_quoted(l, out);
		else
			ret = lex_atom_or_dot(l, out);
		if (ret <= 0)
			return ret;
		if (!mime_is_atext(*l->p) && *l->p != '"' && *l->p != '.')
			break;
		out_add(out, (const unsigned char *)" ", 1);
	}
	return mime_lex_skip_lwsp(l);
}

static int lex_domain_literal(struct mime_lex *l, struct buf *out)
{
	const unsigned char *start = l->p;

	for (; l->p < l->end; l->p++) {
		if (*l->p == '\\') {
			if (++l->p >= l->end)
				break;
		} else if (*l->p == ']') {
			l->p++;
			out_add_text(out, start, (size_t)(l->p - start));
			return mime_lex_skip_lwsp(l);
		}
	}
	return -1; /* missing "]" */
}

int mime_lex_domain(struct mime_lex *l, struct buf *out)
{
	l->p++; /* "@" */
	if (mime_lex_skip_lwsp(l) <= 0)
		return -1;
	if (*l->p == '[')
		return lex_domain_literal(l, out);
	return mime_lex_dot_atom(l, out);
}

/* Dovecot 2.3 accepts "type/subtype" followed by nothing or ";" only, and a
   lone "type" (kept, with an empty subtype); anything else gives "" "". */
int mime_lex_content_type(struct mime_lex *l, struct buf *out)
{
	size_t base = out->len, sub;
	int ret;

	if (mime_lex_skip_lwsp(l) <= 0)
		return -1;
	ret = mime_lex_token(l, out);
	if (out->len == base)
		return -1;
	if (ret <= 0)
		return -1;
	if (*l->p != '/')
		goto broken;
	l->p++;
	if (mime_lex_skip_lwsp(l) <= 0)
		goto broken;
	out_add(out, (const unsigned char *)"/", 1);
	sub = out->len;
	ret = mime_lex_token(l, out);
	if (ret < 0 || out->len == sub || (ret > 0 && *l->p != ';'))
		goto broken;
	return ret;
broken:
	out->len = base;
	out->data[base] = '\0';
	return -1;
}

/* One "; key=value". 1: *key/value set, 0: end, -1: broken here. */
static int lex_content_param(struct mime_lex *l, struct buf *key, struct buf *value)
{
	int ret;

	buf_clear(key);
	buf_clear(value);
	if (l->p >= l->end)
		return 0;
	if (*l->p != ';')
		return -1;
	l->p++;
	if (mime_lex_skip_lwsp(l) <= 0)
		return -1;
	if (mime_lex_token(l, key) <= 0)
		return -1;
	if (*l->p != '=')
		return -1;
	l->p++;
	if ((ret = mime_lex_skip_lwsp(l)) <= 0) {
		/* no value: "" */
	} else if (*l->p == '"') {
		ret = mime_lex_quoted(l, value);
	} else if (*l->p == '=') {
		/* broken senders write name==?utf-8?b?...?= unquoted */
		const unsigned char *start = l->p;

		while (l->p < l->end && *l->p != ';' && *l->p != ' ' && *l->p != '\t' &&
		       *l->p != '\r' && *l->p != '\n')
			l->p++;
		out_add(value, start, (size_t)(l->p - start));
	} else {
		ret = mime_lex_token(l, value);
	}
	return ret < 0 ? -1 : 1;
}

/* ---- RFC 2231 ---- */

/* Dovecot reads at most this many parameters, skipped bytes of broken
   ones counted as one each */
#define PARAMS_MAX_STEPS 128

struct rfc2231_section {
	const char *key, *value;
	unsigned int idx;
	bool extended;
};

static int section_cmp(const struct rfc2231_section *a, const struct rfc2231_section *b)
{
	int ret = strcmp(a->key, b->key);

	if (ret != 0)
		return ret;
	return a->idx < b->idx ? -1 : (a->idx > b->idx ? 1 : 0);
}

/* stable merge sort: equal sections keep their order */
static void sections_sort(struct rfc2231_section *v, struct rfc2231_section *tmp, size_t n)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	sections_sort(v, tmp, mid);
	sections_sort(v + mid, tmp, n - mid);
	while (i < mid && j < n)
		tmp[k++] = section_cmp(&v[j], &v[i]) < 0 ? v[j++] : v[i++];
	while (i < mid)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

struct param_list {
	struct mime_param *v;
	unsigned int count, cap;
};

static void param_add(struct param_list *pl, struct arena *a, const char *name, const char *value)
{
	if (pl->count == pl->cap) {
		unsigned int cap = pl->cap == 0 ? 4 : pl->cap * 2;
		struct mime_param *v = arena_alloc(a, cap * sizeof(*v));

		if (pl->count > 0)
			memcpy(v, pl->v, pl->count * sizeof(*v));
		pl->v = v;
		pl->cap = cap;
	}
	pl->v[pl->count++] = (struct mime_param){ .name = name, .value = value };
}

/* "key*<n>[*]": returns false for an ordinary key. idx keeps its value for
   a bare "key*" (Dovecot reuses the previous section number there). */
static bool section_split(const char *key, size_t *name_len_r, unsigned int *idx,
			  bool *extended_r)
{
	const char *star = strchr(key, '*'), *p;

	if (star == NULL)
		return false;
	p = star;
	if (p[1] != '\0') {
		p++;
		*idx = 0;
		for (; *p >= '0' && *p <= '9'; p++)
			*idx = *idx * 10 + (unsigned int)(*p - '0');
	}
	*extended_r = *p == '*';
	if (*extended_r)
		p++;
	if (*p != '\0')
		return false;
	*name_len_r = (size_t)(star - key);
	return true;
}

static void sections_merge(struct rfc2231_section *s, size_t count, struct arena *a,
			   struct param_list *pl)
{
	struct buf value;
	size_t i, j, next;

	buf_init(&value, 0);
	for (i = 0; i < count; i = next) {
		bool ok = true, have_extended = false;
		unsigned int want = 0;

		for (j = i; j < count && strcasecmp(s[i].key, s[j].key) == 0; j++) {
			if (s[j].idx != want++)
				ok = false;
			if (s[j].extended)
				have_extended = true;
		}
		next = j;
		if (!ok) {
			/* a section is missing: keep them as they were */
			for (j = i; j < next; j++) {
				param_add(pl, a,
					  arena_printf(a, s[j].extended ? "%s*%u*" : "%s*%u",
						       s[j].key, s[j].idx),
					  s[j].value);
			}
			continue;
		}
		buf_clear(&value);
		if (!s[i].extended && have_extended)
			(void)buf_append_str(&value, "''");
		for (j = i; j < next; j++) {
			const char *v = s[j].value;

			if (s[j].extended || !have_extended) {
				(void)buf_append_str(&value, v);
				continue;
			}
			for (; *v != '\0'; v++) {
				if (*v == '%')
					(void)buf_append_str(&value, "%25");
				else
					(void)buf_append(&value, v, 1);
			}
		}
		param_add(pl, a, have_extended ? arena_printf(a, "%s*", s[i].key) : s[i].key,
			  arena_strndup(a, value.data == NULL ? "" : value.data, value.len));
	}
	buf_free(&value);
}

void mime_params_parse(struct mime_lex *l, struct arena *a, const struct mime_param **params_r,
		       unsigned int *count_r)
{
	struct param_list pl = { 0 };
	struct rfc2231_section *sec = NULL, *tmp;
	size_t sec_count = 0, sec_cap = 0;
	struct buf key, value;
	unsigned int idx = 0, steps = 0;
	int ret;

	buf_init(&key, 0);
	buf_init(&value, 0);
	while (steps++ < PARAMS_MAX_STEPS && (ret = lex_content_param(l, &key, &value)) != 0) {
		const char *k, *v;
		size_t name_len;
		bool extended = false;

		if (ret < 0) {
			/* skip a byte and look for the next ";" */
			if (l->p >= l->end)
				break;
			l->p++;
			continue;
		}
		k = arena_strdup(a, key.data == NULL ? "" : key.data);
		v = arena_strdup(a, value.data == NULL ? "" : value.data);
		if (!section_split(k, &name_len, &idx, &extended)) {
			param_add(&pl, a, k, v);
			continue;
		}
		if (sec_count == sec_cap) {
			sec_cap = sec_cap == 0 ? 8 : sec_cap * 2;
			sec = xrealloc(sec, sec_cap * sizeof(*sec));
		}
		sec[sec_count++] = (struct rfc2231_section){
			.key = arena_strndup(a, k, name_len),
			.value = v,
			.idx = idx,
			.extended = extended,
		};
	}
	buf_free(&key);
	buf_free(&value);
	if (sec_count > 0) {
		tmp = xmalloc(sec_count * sizeof(*tmp));
		sections_sort(sec, tmp, sec_count);
		free(tmp);
		sections_merge(sec, sec_count, a, &pl);
	}
	free(sec);
	*params_r = pl.v;
	*count_r = pl.count;
}

/* ---- addresses (RFC 5322 §3.4 plus Dovecot's recovery rules) ---- */

struct addr_ctx {
	struct mime_lex l;
	struct arena *a;
	struct buf str, comment;
	struct mime_address addr, *first, *last;
	unsigned int left; /* addresses that may still be added */
	bool invalid;
};

static const char *ctx_str(struct addr_ctx *c)
{
	return arena_strndup(c->a, c->str.data == NULL ? "" : c->str.data, c->str.len);
}

static void addr_push(struct addr_ctx *c)
{
	struct mime_address *addr = arena_alloc(c->a, sizeof(*addr));

	if (c->left > 0)
		c->left--;
	*addr = c->addr;
	addr->next = NULL;
	c->addr = (struct mime_address){ 0 };
	c->invalid = false;
	if (c->first == NULL)
		c->first = addr;
	else
		c->last->next = addr;
	c->last = addr;
}

static void addr_push_fixed(struct addr_ctx *c)
{
	if (c->addr.mailbox == NULL)
		c->addr.mailbox = "MISSING_MAILBOX";
	if (c->addr.domain == NULL || c->addr.domain[0] == '\0')
		c->addr.domain = "MISSING_DOMAIN";
	addr_push(c);
}

/* local-part with any dots anywhere ("user.", ".user", "us..er" are common
   in Japanese mail) */
static int lex_loose_dot_atom(struct mime_lex *l, struct buf *out)
{
	int ret = -1;

	do {
		while (*l->p == '.') {
			out_add(out, l->p, 1);
			if (++l->p >= l->end)
				return 0;
			ret = 1;
		}
		if (*l->p == '@')
			break;
		ret = mime_lex_atom(l, out);
	} while (ret > 0 && *l->p == '.');
	return ret;
}

static int addr_local_part(struct addr_ctx *c)
{
	int ret;

	buf_clear(&c->str);
	if (*c->l.p == '"')
		ret = mime_lex_quoted(&c->l, &c->str);
	else
		ret = lex_loose_dot_atom(&c->l, &c->str);
	if (ret < 0)
		return -1;
	c->addr.mailbox = ctx_str(c);
	return ret;
}

static int addr_domain(struct addr_ctx *c)
{
	int ret;

	buf_clear(&c->str);
	if ((ret = mime_lex_domain(&c->l, &c->str)) < 0)
		return -1;
	c->addr.domain = ctx_str(c);
	return ret;
}

/* obs-domain-list = "@" domain *(*(CFWS / ",") [CFWS] "@" domain) */
static int addr_route(struct addr_ctx *c)
{
	int ret;

	buf_clear(&c->str);
	for (;;) {
		if (c->l.p >= c->l.end)
			return 0;
		if (*c->l.p != '@')
			break;
		if (c->str.len > 0)
			out_add(&c->str, (const unsigned char *)",", 1);
		out_add(&c->str, (const unsigned char *)"@", 1);
		if ((ret = mime_lex_domain(&c->l, &c->str)) <= 0)
			return ret;
		while (mime_lex_skip_lwsp(&c->l) > 0 && *c->l.p == ',')
			c->l.p++;
	}
	c->addr.route = ctx_str(c);
	return 1;
}

/* "<" [ "@" route ":" ] local-part "@" domain ">" */
static int addr_angle(struct addr_ctx *c)
{
	c->l.p++;
	if (mime_lex_skip_lwsp(&c->l) <= 0)
		return -1;
	if (*c->l.p == '@') {
		if (addr_route(c) > 0 && *c->l.p == ':') {
			c->l.p++;
		} else {
			c->addr.route = "INVALID_ROUTE";
			if (c->l.p >= c->l.end)
				return -1;
		}
		if (mime_lex_skip_lwsp(&c->l) <= 0)
			return -1;
	}
	if (*c->l.p != '>') {
		if (addr_local_part(c) <= 0)
			return -1;
		if (*c->l.p == '@' && addr_domain(c) <= 0)
			return -1;
	}
	if (*c->l.p != '>')
		return -1;
	c->l.p++;
	return mime_lex_skip_lwsp(&c->l);
}

/* name-addr = [display-name] angle-addr */
static int addr_name_addr(struct addr_ctx *c)
{
	buf_clear(&c->str);
	if (mime_lex_phrase(&c->l, &c->str) <= 0 || *c->l.p != '<')
		return -1;
	c->addr.name = c->str.len == 0 ? NULL : ctx_str(c);
	if (addr_angle(c) < 0) {
		c->addr.domain = "SYNTAX_ERROR";
		c->invalid = true;
	}
	return c->l.p < c->l.end ? 1 : 0;
}

static int addr_spec(struct addr_ctx *c)
{
	bool quoted = *c->l.p == '"';
	int ret, ret2 = -2;

	buf_clear(&c->comment);
	ret = addr_local_part(c);
	if (ret <= 0)
		c->invalid = true;
	if (ret != 0 && c->l.p < c->l.end && *c->l.p == '@') {
		ret2 = addr_domain(c);
		if (ret2 <= 0)
			ret = ret2;
	}
	if (c->comment.len > 0) {
		/* "user@host (Real Name)" */
		c->addr.name = arena_strndup(c->a, c->comment.data, c->comment.len);
	} else if (ret2 == -2) {
		/* no @domain: a lone word is a mailbox, more words make it a
		   display-name */
		size_t len;

		out_add(&c->str, (const unsigned char *)" ", 1);
		len = c->str.len;
		(void)mime_lex_phrase(&c->l, &c->str);
		if (c->str.len != len) {
			c->addr.mailbox = NULL;
			c->addr.name = ctx_str(c);
		} else if (!quoted) {
			c->addr.domain = "";
		}
		c->invalid = true;
		ret = -1;
	}
	return ret;
}

static int addr_mailbox(struct addr_ctx *c)
{
	const unsigned char *start = c->l.p;
	int ret;

	if ((ret = addr_name_addr(c)) < 0) {
		c->l.p = start;
		ret = addr_spec(c);
		if (c->invalid && c->addr.name == NULL && c->addr.mailbox != NULL &&
		    c->addr.domain == NULL) {
			c->addr.name = c->addr.mailbox;
			c->addr.mailbox = NULL;
		}
	}
	addr_push_fixed(c);
	return ret;
}

/* group = display-name ":" [mailbox-list / CFWS] ";" [CFWS] */
static int addr_group(struct addr_ctx *c)
{
	int ret;

	buf_clear(&c->str);
	if (mime_lex_phrase(&c->l, &c->str) <= 0 || *c->l.p != ':')
		return -1;
	/* from here on it is a group, broken or not */
	c->l.p++;
	ret = mime_lex_skip_lwsp(&c->l);
	c->addr.mailbox = ctx_str(c);
	addr_push(c);
	if (ret > 0 && *c->l.p != ';') {
		for (;;) {
			(void)addr_mailbox(c);
			if (c->l.p >= c->l.end || *c->l.p != ',' || c->left == 0)
				break;
			c->l.p++;
			if (mime_lex_skip_lwsp(&c->l) <= 0) {
				ret = -1;
				break;
			}
		}
	}
	if (ret >= 0) {
		if (c->l.p >= c->l.end || *c->l.p != ';') {
			ret = -1;
		} else {
			c->l.p++;
			ret = mime_lex_skip_lwsp(&c->l);
		}
	}
	addr_push(c); /* end of group */
	return ret == 0 ? 0 : 1;
}

static int addr_address(struct addr_ctx *c)
{
	const unsigned char *start = c->l.p;
	int ret;

	if ((ret = addr_group(c)) < 0) {
		c->l.p = start;
		ret = addr_mailbox(c);
	}
	return ret;
}

struct mime_address *mime_address_list_parse(const char *s, size_t len, struct arena *a,
					     unsigned int *budget)
{
	struct addr_ctx c = { .a = a, .left = *budget };
	int ret;

	buf_init(&c.str, 0);
	buf_init(&c.comment, 0);
	mime_lex_init(&c.l, s, len, &c.comment);
	if (mime_lex_skip_lwsp(&c.l) > 0) {
		while (c.left > 0) {
			if (addr_address(&c) == 0)
				break;
			if (c.l.p >= c.l.end || *c.l.p != ',')
				break;
			c.l.p++;
			if ((ret = mime_lex_skip_lwsp(&c.l)) <= 0) {
				if (ret < 0)
					addr_push_fixed(&c); /* ends with garbage */
				break;
			}
		}
	}
	buf_free(&c.str);
	buf_free(&c.comment);
	*budget = c.left;
	return c.first;
}

struct mime_address *mime_address_parse(struct slice raw, struct arena *a)
{
	unsigned int budget = MIME_ADDRESS_MAX;

	return mime_address_list_parse(raw.ptr, raw.len, a, &budget);
}
