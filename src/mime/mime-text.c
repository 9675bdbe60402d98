/* Decoding: the only file that talks to GMime.

   GMime does what it is good at: RFC 2047 words
   (g_mime_utils_header_decode_text/_phrase), charset conversion through
   g_mime_iconv_open() (which maps labels glibc does not know, such as
   ks_c_5601-1987), and base64 / quoted-printable decoding
   (g_mime_encoding_step). Structure and offsets are not its job here.

   The body text extractor gets each leaf part's bytes in chunks: it
   transfer-decodes them (counting the decoded size for BINARY.SIZE) and,
   for text/plain and text/html, converts them to UTF-8, strips HTML and
   appends to a bounded buffer. Nothing is kept per part but small state:
   an incomplete multibyte sequence, an unfinished HTML tag or entity. */
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
/* glib has its own; ours (lib/util.h) are the same macros */
#undef MIN
#undef MAX

#include "mime-private.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
	g_mime_init();
}

void mime_gmime_init(void)
{
	(void)pthread_once(&gmime_once, gmime_init_once);
}

/* ---- UTF-8 output helpers ---- */

static size_t utf8_put(unsigned char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		if (cp >= 0xd800 && cp < 0xe000)
			cp = 0xfffd;
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp > 0x10ffff)
		return utf8_put(out, 0xfffd);
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence at s (n bytes available): >0 valid,
   0 incomplete (needs more bytes), -1 invalid. */
static int utf8_seq(const unsigned char *s, size_t n)
{
	size_t need;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, cp = s[0] & 0x07;
	else
		return -1;
	for (size_t i = 1; i < need; i++) {
		if (i >= n)
			return 0;
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return -1;
	return (int)need;
}

/* ---- charset conversion of a complete string (parameters) ---- */

static iconv_t charset_open(const char *charset)
{
	if (charset == NULL || charset[0] == '\0' || strcasecmp(charset, "utf-8") == 0 ||
	    strcasecmp(charset, "utf8") == 0 || strcasecmp(charset, "us-ascii") == 0 ||
	    strcasecmp(charset, "ascii") == 0)
		return (iconv_t)-1;
	return g_mime_iconv_open("UTF-8", charset);
}

/* invalid UTF-8 bytes are taken as ISO-8859-1: undeclared 8-bit text is
   usually that, and the result stays valid UTF-8 */
static void utf8_sanitize(struct buf *out, const unsigned char *s, size_t n)
{
	unsigned char tmp[4];

	while (n > 0) {
		int len = utf8_seq(s, n);

		if (len > 0) {
			(void)buf_append(out, s, (size_t)len);
		} else {
			(void)buf_append(out, tmp, utf8_put(tmp, s[0]));
			len = 1;
		}
		s += len;
		n -= (size_t)len;
	}
}

const char *mime_decode_words(const char *s, size_t len, bool phrase, struct arena *a)
{
	char *in, *out;
	const char *ret;
	struct buf tmp;

	mime_gmime_init();
	/* unfold: folding keeps an LF in our values */
	in = arena_alloc(a, len + 1);
	for (size_t i = 0, o = 0; i < len; i++) {
		if (s[i] != '\r' && s[i] != '\n')
			in[o++] = s[i];
	}
	out = phrase ? g_mime_utils_header_decode_phrase(NULL, in) :
		       g_mime_utils_header_decode_text(NULL, in);
	/* GMime passes undeclared 8-bit text through: make it UTF-8 */
	buf_init(&tmp, 0);
	utf8_sanitize(&tmp, (const unsigned char *)(out != NULL ? out : in),
		      strlen(out != NULL ? out : in));
	ret = arena_strndup(a, tmp.data == NULL ? "" : tmp.data, tmp.len);
	buf_free(&tmp);
	g_free(out);
	return ret;
}

const char *mime_header_decode(struct slice raw, struct arena *a)
{
	return mime_decode_words(raw.ptr, raw.len, false, a);
}

/* iconv output is not always valid UTF-8 (glibc's UTF-8 decoder passes
   code points past U+10FFFF through): U+FFFD for what is not */
static void utf8_strict(struct buf *out, const unsigned char *s, size_t n)
{
	while (n > 0) {
		int len = utf8_seq(s, n);

		if (len > 0) {
			(void)buf_append(out, s, (size_t)len);
		} else {
			(void)buf_append(out, "\xef\xbf\xbd", 3);
			len = 1;
		}
		s += len;
		n -= (size_t)len;
	}
}

static void convert_all(iconv_t cd, struct buf *out, const unsigned char *s, size_t n)
{
	char obuf[1024];

	if (cd == (iconv_t)-1) {
		utf8_sanitize(out, s, n);
		return;
	}
	while (n > 0) {
		char *in = (char *)s, *o = obuf;
		size_t inleft = n, oleft = sizeof(obuf);
		size_t ret = iconv(cd, &in, &inleft, &o, &oleft);
		int err = errno;

		utf8_strict(out, (const unsigned char *)obuf, (size_t)(o - obuf));
		s = (const unsigned char *)in;
		n = inleft;
		if (ret != (size_t)-1 || err == E2BIG)
			continue;
		/* invalid or truncated input: U+FFFD, skip a byte */
		(void)buf_append(out, "\xef\xbf\xbd", 3);
		s++;
		n--;
	}
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 2231: charset'language'percent-encoded */
static const char *decode_2231(const char *v, struct arena *a)
{
	const char *q1 = strchr(v, '\''), *q2 = q1 == NULL ? NULL : strchr(q1 + 1, '\'');
	const char *charset = q1 == NULL ? NULL : arena_strndup(a, v, (size_t)(q1 - v));
	const char *enc = q2 == NULL ? v : q2 + 1;
	struct buf raw, out;
	const char *ret;
	iconv_t cd;

	buf_init(&raw, 0);
	buf_init(&out, 0);
	for (const char *p = enc; *p != '\0'; p++) {
		int hi, lo;

		if (*p == '%' && (hi = hex_value((unsigned char)p[1])) >= 0 &&
		    (lo = hex_value((unsigned char)p[2])) >= 0) {
			unsigned char c = (unsigned char)(hi * 16 + lo);

			(void)buf_append(&raw, &c, 1);
			p += 2;
		} else {
			(void)buf_append(&raw, p, 1);
		}
	}
	cd = charset_open(charset);
	convert_all(cd, &out, (const unsigned char *)(raw.data == NULL ? "" : raw.data), raw.len);
	if (cd != (iconv_t)-1)
		(void)g_mime_iconv_close(cd);
	ret = arena_strndup(a, out.data == NULL ? "" : out.data, out.len);
	buf_free(&raw);
	buf_free(&out);
	return ret;
}

const char *mime_param_decoded(const struct mime_param *params, unsigned int count,
			       const char *name, struct arena *a)
{
	size_t nlen = strlen(name);

	mime_gmime_init();
	for (unsigned int i = 0; i < count; i++) {
		const char *n = params[i].name;

		if (strncasecmp(n, name, nlen) == 0 && n[nlen] == '*' && n[nlen + 1] == '\0')
			return decode_2231(params[i].value, a);
	}
	for (unsigned int i = 0; i < count; i++) {
		if (strcasecmp(params[i].name, name) == 0)
			return mime_decode_words(params[i].value, strlen(params[i].value), false,
						 a);
	}
	return NULL;
}

/* ---- body text extraction ---- */

enum text_encoding { TE_IDENTITY, TE_BASE64, TE_QP, TE_UNKNOWN };

enum html_state { HS_TEXT, HS_TAG, HS_QUOTE, HS_COMMENT, HS_ENTITY };

#define HTML_NAME_MAX 12
#define ENTITY_MAX 12

struct mime_text {
	size_t max;
	struct buf out;
	bool truncated, full;

	/* the current part */
	enum text_encoding enc;
	GMimeEncoding gm;
	uint64_t decoded;
	bool want_text, html, part_started;
	iconv_t cd;
	unsigned char carry[8];
	size_t carry_len;
	size_t part_start;

	/* HTML */
	enum html_state hs;
	char quote;
	char name[HTML_NAME_MAX];
	size_t name_len;
	bool name_done, in_skip; /* inside <script> or <style> */
	char skip_end[HTML_NAME_MAX];
	unsigned char ent[ENTITY_MAX];
	size_t ent_len;
	unsigned int dashes;
	bool last_space;

	/* first part that gave text, for the preview */
	bool have_preview;
	size_t preview_start, preview_end;
};

struct mime_text *mime_text_new(size_t max_text)
{
	struct mime_text *t = xcalloc(1, sizeof(*t));

	t->max = max_text;
	t->cd = (iconv_t)-1;
	buf_init(&t->out, 0);
	return t;
}

void mime_text_free(struct mime_text **tp)
{
	struct mime_text *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	if (t->cd != (iconv_t)-1)
		(void)g_mime_iconv_close(t->cd);
	buf_free(&t->out);
	free(t);
}

/* UTF-8 text to the output, cut at a character boundary at the limit */
static void out_add(struct mime_text *t, const unsigned char *s, size_t n)
{
	size_t room;

	if (t->full || n == 0)
		return;
	if (!t->part_started) {
		t->part_started = true;
		if (t->out.len > 0 && t->out.data[t->out.len - 1] != '\n' && t->max > t->out.len)
			(void)buf_append(&t->out, "\n", 1);
		t->part_start = t->out.len;
	}
	room = t->max > t->out.len ? t->max - t->out.len : 0;
	if (n > room) {
		n = room;
		while (n > 0 && (s[n] & 0xc0) == 0x80)
			n--;
		t->truncated = true;
		t->full = true;
	}
	(void)buf_append(&t->out, s, n);
}

static bool html_block_tag(const char *name)
{
	static const char *const tags[] = { "br", "p", "div", "tr", "li", "h1", "h2", "h3",
					    "h4", "h5", "h6", "table", "ul", "ol", "blockquote",
					    "hr", "pre", "td", "th" };
	const char *n = name[0] == '/' ? name + 1 : name;

	for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
		if (strcmp(n, tags[i]) == 0)
			return true;
	}
	return false;
}

static void html_text(struct mime_text *t, const unsigned char *s, size_t n)
{
	if (t->in_skip)
		return;
	out_add(t, s, n);
	t->last_space = n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n');
}

static void html_space(struct mime_text *t, char c)
{
	if (t->in_skip || t->last_space)
		return;
	out_add(t, (const unsigned char *)&c, 1);
	t->last_space = true;
}

static void html_tag_end(struct mime_text *t)
{
	t->name[t->name_len] = '\0';
	if (t->in_skip) {
		if (strcmp(t->name, t->skip_end) == 0)
			t->in_skip = false;
		return;
	}
	if (strcmp(t->name, "script") == 0 || strcmp(t->name, "style") == 0 ||
	    strcmp(t->name, "title") == 0) {
		t->in_skip = true;
		t->skip_end[0] = '/';
		memcpy(t->skip_end + 1, t->name, t->name_len + 1);
		return;
	}
	if (html_block_tag(t->name))
		html_space(t, '\n');
}

/* HTML 4 Latin-1 entities, U+00A0 to U+00FF in order */
static const char *const latin1_entities[96] = {
	"nbsp",	  "iexcl",  "cent",   "pound",	"curren", "yen",    "brvbar", "sect",
	"uml",	  "copy",   "ordf",   "laquo",	"not",	  "shy",    "reg",    "macr",
	"deg",	  "plusmn", "sup2",   "sup3",	"acute",  "micro",  "para",   "middot",
	"cedil",  "sup1",   "ordm",   "raquo",	"frac14", "frac12", "frac34", "iquest",
	"Agrave", "Aacute", "Acirc",  "Atilde", "Auml",	  "Aring",  "AElig",  "Ccedil",
	"Egrave", "Eacute", "Ecirc",  "Euml",	"Igrave", "Iacute", "Icirc",  "Iuml",
	"ETH",	  "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",
	"Oslash", "Ugrave", "Uacute", "Ucirc",	"Uuml",	  "Yacute", "THORN",  "szlig",
	"agrave", "aacute", "acirc",  "atilde", "auml",	  "aring",  "aelig",  "ccedil",
	"egrave", "eacute", "ecirc",  "euml",	"igrave", "iacute", "icirc",  "iuml",
	"eth",	  "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide",
	"oslash", "ugrave", "uacute", "ucirc",	"uuml",	  "yacute", "thorn",  "yuml",
};

static bool entity_lookup(const char *name, uint32_t *cp_r)
{
	static const struct {
		const char *name;
		uint32_t cp;
	} named[] = { { "amp", '&' },	    { "lt", '<' },	   { "gt", '>' },
		      { "quot", '"' },	    { "apos", '\'' },	   { "hellip", 0x2026 },
		      { "mdash", 0x2014 }, { "ndash", 0x2013 },   { "euro", 0x20ac },
		      { "lsquo", 0x2018 }, { "rsquo", 0x2019 },   { "ldquo", 0x201c },
		      { "rdquo", 0x201d }, { "bull", 0x2022 },	   { "trade", 0x2122 } };

	for (size_t i = 0; i < ARRAY_SIZE(named); i++) {
		if (strcmp(name, named[i].name) == 0) {
			*cp_r = named[i].cp;
			return true;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(latin1_entities); i++) {
		if (strcmp(name, latin1_entities[i]) == 0) {
			*cp_r = 0xa0 + (uint32_t)i;
			return true;
		}
	}
	return false;
}

static void html_entity_end(struct mime_text *t, bool terminated)
{
	unsigned char tmp[4];
	uint32_t cp = 0;
	bool ok = false;

	t->ent[t->ent_len] = '\0';
	if (terminated && t->ent_len > 1 && t->ent[0] == '#') {
		bool hex = t->ent[1] == 'x' || t->ent[1] == 'X';

		ok = t->ent_len > (hex ? 2u : 1u);
		for (size_t i = hex ? 2 : 1; i < t->ent_len && ok; i++) {
			int v = hex ? hex_value(t->ent[i]) :
				      (t->ent[i] >= '0' && t->ent[i] <= '9' ? t->ent[i] - '0' : -1);

			if (v < 0 || cp > 0x10ffff)
				ok = false;
			else
				cp = cp * (hex ? 16 : 10) + (uint32_t)v;
		}
		if (ok && (cp == 0 || cp > 0x10ffff))
			cp = 0xfffd;
	} else if (terminated) {
		ok = entity_lookup((const char *)t->ent, &cp);
	}
	if (ok) {
		if (cp == 0xa0)
			html_space(t, ' ');
		else
			html_text(t, tmp, utf8_put(tmp, cp));
		return;
	}
	html_text(t, (const unsigned char *)"&", 1);
	html_text(t, t->ent, t->ent_len);
	if (terminated)
		html_text(t, (const unsigned char *)";", 1);
}

static void html_byte(struct mime_text *t, unsigned char c)
{
	switch (t->hs) {
	case HS_TEXT:
		if (c == '<') {
			t->hs = HS_TAG;
			t->name_len = 0;
			t->name_done = false;
		} else if (c == '&') {
			t->hs = HS_ENTITY;
			t->ent_len = 0;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			html_space(t, ' ');
		} else {
			html_text(t, &c, 1);
		}
		break;
	case HS_ENTITY:
		if (c == ';') {
			t->hs = HS_TEXT;
			html_entity_end(t, true);
		} else if (t->ent_len + 1 < ENTITY_MAX && (c == '#' || mime_is_atext(c)) &&
			   c != '&') {
			t->ent[t->ent_len++] = c;
		} else {
			t->hs = HS_TEXT;
			html_entity_end(t, false);
			html_byte(t, c);
		}
		break;
	case HS_TAG:
		if (t->name_len == 3 && !t->name_done && memcmp(t->name, "!--", 3) == 0) {
			t->hs = HS_COMMENT;
			t->dashes = 0;
			html_byte(t, c);
			break;
		}
		if (c == '>') {
			t->hs = HS_TEXT;
			html_tag_end(t);
		} else if (c == '"' || c == '\'') {
			t->name_done = true;
			t->quote = (char)c;
			t->hs = HS_QUOTE;
		} else if (!t->name_done && c != ' ' && c != '\t' && c != '\r' && c != '\n' &&
			   (c != '/' || t->name_len == 0) && t->name_len + 1 < HTML_NAME_MAX) {
			t->name[t->name_len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		} else if (t->name_len > 0) {
			t->name_done = true;
		}
		break;
	case HS_QUOTE:
		if (c == (unsigned char)t->quote)
			t->hs = HS_TAG;
		break;
	case HS_COMMENT:
		if (c == '>' && t->dashes >= 2)
			t->hs = HS_TEXT;
		t->dashes = c == '-' ? t->dashes + 1 : 0;
		break;
	}
}

static void text_utf8(struct mime_text *t, const unsigned char *s, size_t n)
{
	if (!t->html) {
		out_add(t, s, n);
		return;
	}
	for (size_t i = 0; i < n && !t->full; i++)
		html_byte(t, s[i]);
}

/* charset-decoded bytes to UTF-8, keeping an incomplete sequence */
static void text_bytes(struct mime_text *t, const unsigned char *s, size_t n)
{
	unsigned char tmp[256 + sizeof(t->carry)];
	struct buf conv;

	if (t->full || n == 0)
		return;
	buf_init(&conv, 0);
	while (n > 0 && !t->full) {
		size_t take = MIN(n, 256), len = t->carry_len + take, used = 0;

		memcpy(tmp, t->carry, t->carry_len);
		memcpy(tmp + t->carry_len, s, take);
		s += take;
		n -= take;
		t->carry_len = 0;
		buf_clear(&conv);
		if (t->cd == (iconv_t)-1) {
			/* UTF-8 / ASCII / unknown: validate, keep a split sequence */
			while (used < len) {
				int q = utf8_seq(tmp + used, len - used);

				if (q == 0 && len - used < sizeof(t->carry))
					break;
				if (q <= 0) {
					unsigned char c[4];

					(void)buf_append(&conv, c, utf8_put(c, tmp[used]));
					used++;
				} else {
					(void)buf_append(&conv, tmp + used, (size_t)q);
					used += (size_t)q;
				}
			}
		} else {
			char *in = (char *)tmp, obuf[1024];

			while (used < len) {
				char *o = obuf;
				size_t inleft = len - used, oleft = sizeof(obuf), r;

				int err;

				in = (char *)tmp + used;
				r = iconv(t->cd, &in, &inleft, &o, &oleft);
				err = errno;
				utf8_strict(&conv, (const unsigned char *)obuf, (size_t)(o - obuf));
				used = (size_t)((unsigned char *)in - tmp);
				if (r != (size_t)-1 || err == E2BIG)
					continue;
				if (err == EINVAL && len - used < sizeof(t->carry))
					break;
				(void)buf_append(&conv, "\xef\xbf\xbd", 3);
				used++;
			}
		}
		memcpy(t->carry, tmp + used, len - used);
		t->carry_len = len - used;
		if (conv.len > 0)
			text_utf8(t, (const unsigned char *)conv.data, conv.len);
	}
	buf_free(&conv);
}

static enum text_encoding encoding_of(const char *enc)
{
	if (enc == NULL || strcasecmp(enc, "7bit") == 0 || strcasecmp(enc, "8bit") == 0 ||
	    strcasecmp(enc, "binary") == 0)
		return TE_IDENTITY;
	if (strcasecmp(enc, "base64") == 0)
		return TE_BASE64;
	if (strcasecmp(enc, "quoted-printable") == 0)
		return TE_QP;
	return TE_UNKNOWN;
}

void mime_text_part_begin(struct mime_text *t, const struct mime_part *part)
{
	bool text = part->type == NULL || strcasecmp(part->type, "text") == 0;
	bool plain = part->subtype == NULL || strcasecmp(part->subtype, "plain") == 0;
	bool html = part->subtype != NULL && strcasecmp(part->subtype, "html") == 0;

	t->enc = encoding_of(part->encoding);
	t->decoded = 0;
	if (t->enc == TE_BASE64)
		g_mime_encoding_init_decode(&t->gm, GMIME_CONTENT_ENCODING_BASE64);
	else if (t->enc == TE_QP)
		g_mime_encoding_init_decode(&t->gm, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	t->want_text = text && (plain || html) && t->enc != TE_UNKNOWN && !t->full;
	t->html = html;
	t->part_started = false;
	t->carry_len = 0;
	t->hs = HS_TEXT;
	t->in_skip = false;
	t->last_space = true;
	if (t->want_text)
		t->cd = charset_open(part->charset);
}

static void decoded_data(struct mime_text *t, const unsigned char *s, size_t n)
{
	t->decoded += n;
	if (t->want_text)
		text_bytes(t, s, n);
}

void mime_text_part_data(struct mime_text *t, const void *data, size_t len)
{
	const unsigned char *s = data;
	unsigned char out[4096];

	if (t->enc == TE_IDENTITY) {
		decoded_data(t, s, len);
		return;
	}
	if (t->enc == TE_UNKNOWN)
		return;
	while (len > 0) {
		size_t take = MIN(len, 2048), n;

		if (g_mime_encoding_outlen(&t->gm, take) > sizeof(out))
			take = 1024;
		n = g_mime_encoding_step(&t->gm, (const char *)s, take, (char *)out);
		decoded_data(t, out, n);
		s += take;
		len -= take;
	}
}

uint64_t mime_text_part_end(struct mime_text *t)
{
	unsigned char out[64];

	if (t->enc == TE_BASE64 || t->enc == TE_QP)
		decoded_data(t, out, g_mime_encoding_flush(&t->gm, "", 0, (char *)out));
	if (t->want_text && t->carry_len > 0) {
		if (t->cd == (iconv_t)-1) {
			/* a lead byte at the end: taken as ISO-8859-1 too */
			struct buf tail;

			buf_init(&tail, 0);
			utf8_sanitize(&tail, t->carry, t->carry_len);
			text_utf8(t, (const unsigned char *)tail.data, tail.len);
			buf_free(&tail);
		} else {
			text_utf8(t, (const unsigned char *)"\xef\xbf\xbd", 3);
		}
		t->carry_len = 0;
	}
	if (t->want_text) {
		if (t->hs == HS_ENTITY)
			html_entity_end(t, false);
		if (!t->have_preview && t->part_started) {
			/* the first part with visible text gives the preview */
			for (size_t i = t->part_start; i < t->out.len; i++) {
				unsigned char c = (unsigned char)t->out.data[i];

				if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
					t->have_preview = true;
					t->preview_start = t->part_start;
					t->preview_end = t->out.len;
					break;
				}
			}
		}
	}
	if (t->cd != (iconv_t)-1) {
		(void)g_mime_iconv_close(t->cd);
		t->cd = (iconv_t)-1;
	}
	t->want_text = false;
	return t->enc == TE_UNKNOWN ? UINT64_MAX : t->decoded;
}

/* RFC 8970: up to 200 characters, whitespace collapsed */
static const char *make_preview(const unsigned char *s, size_t n, struct arena *a)
{
	struct buf out;
	unsigned int chars = 0;
	bool space = false;
	const char *ret;

	buf_init(&out, 0);
	for (size_t i = 0; i < n && chars < MIME_PREVIEW_CHARS;) {
		int len = utf8_seq(s + i, n - i);
		bool ws = s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' ||
			  s[i] == '\f' || s[i] == '\v' ||
			  (len == 2 && s[i] == 0xc2 && s[i + 1] == 0xa0);

		if (len <= 0) {
			i++; /* not UTF-8 (cannot happen): left out */
			continue;
		}
		if (ws) {
			space = out.len > 0;
		} else {
			if (space) {
				if (chars + 1 >= MIME_PREVIEW_CHARS)
					break; /* no trailing blank */
				(void)buf_append(&out, " ", 1);
				space = false;
				chars++;
			}
			(void)buf_append(&out, s + i, (size_t)len);
			chars++;
		}
		i += (size_t)len;
	}
	ret = arena_strndup(a, out.data == NULL ? "" : out.data, out.len);
	buf_free(&out);
	return ret;
}

void mime_text_finish(struct mime_text *t, struct mime_message *msg, struct arena *a)
{
	const unsigned char *s = (const unsigned char *)(t->out.data == NULL ? "" : t->out.data);

	size_t len = t->out.len, start = len;

	/* the limit may have cut a character that HTML added byte by byte */
	while (start > 0 && len - start < 4 && (s[start - 1] & 0xc0) == 0x80)
		start--;
	if (start > 0 && len - start < 4 && s[start - 1] >= 0xc0 &&
	    utf8_seq(s + start - 1, len - start + 1) <= 0)
		len = start - 1;
	msg->text = arena_strndup(a, (const char *)s, len);
	msg->text_len = len;
	msg->text_truncated = t->truncated;
	msg->preview = "";
	if (t->have_preview && t->preview_start < len) {
		size_t end = MIN(t->preview_end, len);

		msg->preview = make_preview(s + t->preview_start, end - t->preview_start, a);
	}
}
