/* The little XML the S3 driver reads: ListObjectsV2 results and error
   documents. Not a general XML parser: elements, text, the five named
   entities and numeric references; comments and the XML declaration are
   skipped; DOCTYPE and CDATA are refused (S3 sends neither), so there is
   no entity expansion to abuse. Pure and bounded: no I/O, no recursion,
   a fixed element depth, text kept only for the elements we want. */

#include "blob-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XML_MAX_DEPTH 8
#define XML_SIZE_MAX_DIGITS 20

enum xml_want {
	XML_WANT_NONE,
	XML_WANT_KEY,
	XML_WANT_SIZE,
	XML_WANT_TRUNCATED,
	XML_WANT_TOKEN,
	XML_WANT_MTIME,
};

struct xml_list_state {
	struct slice stack[XML_MAX_DEPTH];
	unsigned depth;
	enum xml_want want;
	struct buf text;
	struct buf key;
	bool has_key;
	uint64_t size;
	int64_t mtime;
	bool saw_root;
};

/* "YYYY-MM-DDTHH:MM:SS[.fff]Z" (S3's LastModified) to Unix seconds; 0 when
   it is anything else (callers then treat the object as new). */
static int64_t xml_parse_time(const struct buf *t)
{
	static const unsigned pos[6] = { 0, 5, 8, 11, 14, 17 }, len[6] = { 4, 2, 2, 2, 2, 2 };
	static const char sep[6] = { '-', '-', 'T', ':', ':', 0 };
	int v[6];
	struct tm tm = { 0 };
	time_t r;

	if (t->len < 20 || t->data[t->len - 1] != 'Z')
		return 0;
	for (size_t i = 0; i < 6; i++) {
		v[i] = 0;
		for (size_t j = 0; j < len[i]; j++) {
			char c = t->data[pos[i] + j];

			if (c < '0' || c > '9')
				return 0;
			v[i] = v[i] * 10 + (c - '0');
		}
		if (sep[i] != 0 && t->data[pos[i] + len[i]] != sep[i])
			return 0;
	}
	if ((t->data[19] != 'Z' && t->data[19] != '.') || v[0] < 1970 || v[1] < 1 || v[1] > 12 ||
	    v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return 0;
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	r = timegm(&tm);
	return r == (time_t)-1 ? 0 : (int64_t)r;
}

static void xml_utf8(uint32_t cp, char out[4], size_t *len_r)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		*len_r = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		*len_r = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		*len_r = 3;
	} else {
		out[0] = (char)(0xf0 | cp >> 18);
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (char)(0x80 | (cp & 0x3f));
		*len_r = 4;
	}
}

/* "&…;" at ent (len bytes up to and including ';') → bytes. */
static int xml_entity(const char *ent, size_t len, char out[4], size_t *out_len_r)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
		      { "apos", '\'' } };
	const char *body = ent + 1;
	size_t body_len = len - 2;
	uint32_t cp = 0;
	bool hex;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(named); i++) {
		if (strlen(named[i].name) == body_len &&
		    memcmp(body, named[i].name, body_len) == 0) {
			out[0] = named[i].c;
			*out_len_r = 1;
			return 0;
		}
	}
	if (body_len < 2 || body[0] != '#')
		return -1;
	hex = body[1] == 'x';
	i = hex ? 2 : 1;
	if (i >= body_len || body_len - i > 8)
		return -1;
	for (; i < body_len; i++) {
		char c = body[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		if (cp > 0x10ffff)
			return -1;
	}
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	xml_utf8(cp, out, out_len_r);
	return 0;
}

/* Appends the decoded text [p, end) to out; -1 on a bad entity or when
   out's ceiling is hit. */
static int xml_decode(const char *p, const char *end, struct buf *out)
{
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *semi;
		char dec[4];
		size_t dec_len;

		if (amp == NULL)
			return buf_append(out, p, (size_t)(end - p));
		if (buf_append(out, p, (size_t)(amp - p)) < 0)
			return -1;
		semi = memchr(amp, ';', (size_t)MIN(end - amp, 12));
		if (semi == NULL || xml_entity(amp, (size_t)(semi - amp + 1), dec, &dec_len) < 0 ||
		    buf_append(out, dec, dec_len) < 0)
			return -1;
		p = semi + 1;
	}
	return 0;
}

static bool xml_name_is(struct slice s, const char *name)
{
	return s.len == strlen(name) && memcmp(s.ptr, name, s.len) == 0;
}

static const char *xml_find(const char *p, const char *end, const char *needle)
{
	size_t n = strlen(needle);

	for (; (size_t)(end - p) >= n; p++) {
		if (memcmp(p, needle, n) == 0)
			return p;
	}
	return NULL;
}

static enum xml_want xml_list_want(const struct xml_list_state *st)
{
	if (st->depth == 2) {
		if (xml_name_is(st->stack[1], "IsTruncated"))
			return XML_WANT_TRUNCATED;
		if (xml_name_is(st->stack[1], "NextContinuationToken"))
			return XML_WANT_TOKEN;
	} else if (st->depth == 3 && xml_name_is(st->stack[1], "Contents")) {
		if (xml_name_is(st->stack[2], "Key"))
			return XML_WANT_KEY;
		if (xml_name_is(st->stack[2], "Size"))
			return XML_WANT_SIZE;
		if (xml_name_is(st->stack[2], "LastModified"))
			return XML_WANT_MTIME;
	}
	return XML_WANT_NONE;
}

static int xml_list_start(struct xml_list_state *st, struct slice name, struct blob_error *err)
{
	if (st->depth == XML_MAX_DEPTH) {
		blob_error_set(err, BLOB_PERMANENT, "S3 list: XML nested too deep");
		return -1;
	}
	if (st->depth == 0) {
		if (st->saw_root || !xml_name_is(name, "ListBucketResult")) {
			blob_error_set(err, BLOB_PERMANENT, "S3 list: not a ListBucketResult");
			return -1;
		}
		st->saw_root = true;
	}
	st->stack[st->depth++] = name;
	if (st->depth == 2 && xml_name_is(name, "Contents")) {
		buf_clear(&st->key);
		st->has_key = false;
		st->size = 0;
		st->mtime = 0;
	}
	st->want = xml_list_want(st);
	buf_clear(&st->text);
	return 0;
}

/* 0 go on, 1 stopped by fn, -1 error */
static int xml_list_end(struct xml_list_state *st, struct slice name, blob_list_entry_fn *fn,
			void *ctx, struct blob_s3_list_page *page, struct blob_error *err)
{
	int ret = 0;

	if (st->depth == 0 || !slice_eq(st->stack[st->depth - 1], name)) {
		blob_error_set(err, BLOB_PERMANENT, "S3 list: mismatched XML end tag");
		return -1;
	}
	switch (st->want) {
	case XML_WANT_KEY:
		buf_clear(&st->key);
		st->has_key = true;
		/* too long for a key: kept empty, so skipped below */
		(void)buf_append(&st->key, st->text.len > 0 ? st->text.data : "", st->text.len);
		break;
	case XML_WANT_SIZE:
		if (st->text.len > XML_SIZE_MAX_DIGITS ||
		    str_to_u64(buf_slice(&st->text), &st->size) < 0) {
			blob_error_set(err, BLOB_PERMANENT, "S3 list: bad <Size>");
			return -1;
		}
		break;
	case XML_WANT_MTIME:
		st->mtime = xml_parse_time(&st->text);
		break;
	case XML_WANT_TRUNCATED:
		page->is_truncated = slice_eq(buf_slice(&st->text), SLICE_LIT("true"));
		break;
	case XML_WANT_TOKEN:
		free(page->next_token);
		page->next_token = st->text.len > 0 ? xstrndup(st->text.data, st->text.len) : NULL;
		break;
	case XML_WANT_NONE:
		break;
	}
	st->depth--;
	if (st->depth == 1 && xml_name_is(name, "Contents")) {
		if (!st->has_key) {
			blob_error_set(err, BLOB_PERMANENT, "S3 list: <Contents> without <Key>");
			return -1;
		}
		/* keys our API cannot name (written by other tools) are skipped */
		if (st->key.data != NULL && st->key.len == strlen(st->key.data) &&
		    blob_key_valid(st->key.data)) {
			struct blob_list_entry e = { st->key.data, st->size, st->mtime };

			ret = fn(ctx, &e, err);
			if (ret < 0 && err->code == BLOB_OK)
				blob_error_set(err, BLOB_IO, "list stopped by its reader");
		}
	}
	st->want = xml_list_want(st);
	buf_clear(&st->text);
	return ret < 0 ? -1 : ret > 0 ? 1 : 0;
}

/* Reads the tag at p ('<' …), sets *next_r past it. Kind: 0 skip, 1 start,
   2 end, 3 empty element; -1 malformed. */
static int xml_tag(const char *p, const char *end, struct slice *name_r, const char **next_r)
{
	const char *q, *gt;
	char quote = 0;

	if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
		q = xml_find(p + 4, end, "-->");
		if (q == NULL)
			return -1;
		*next_r = q + 3;
		return 0;
	}
	if (end - p >= 2 && p[1] == '?') {
		q = xml_find(p + 2, end, "?>");
		if (q == NULL)
			return -1;
		*next_r = q + 2;
		return 0;
	}
	if (end - p >= 2 && p[1] == '!')
		return -1; /* DOCTYPE, CDATA */
	q = p + 1;
	if (q < end && *q == '/')
		q++;
	name_r->ptr = q;
	while (q < end && *q != '>' && *q != '/' && *q != ' ' && *q != '\t' && *q != '\r' &&
	       *q != '\n')
		q++;
	name_r->len = (size_t)(q - name_r->ptr);
	if (name_r->len == 0)
		return -1;
	for (gt = q; gt < end; gt++) {
		if (quote != 0) {
			if (*gt == quote)
				quote = 0;
		} else if (*gt == '"' || *gt == '\'') {
			quote = *gt;
		} else if (*gt == '>') {
			break;
		} else if (*gt == '<') {
			return -1;
		}
	}
	if (gt == end)
		return -1;
	*next_r = gt + 1;
	if (p[1] == '/')
		return 2;
	return gt[-1] == '/' ? 3 : 1;
}

struct xml_list_adapter {
	blob_list_fn *fn;
	void *ctx;
};

static int xml_list_adapt(void *ctx, const struct blob_list_entry *e, struct blob_error *err)
{
	struct xml_list_adapter *a = ctx;

	return a->fn(a->ctx, e->key, e->size, err);
}

int blob_s3_list_parse(const char *xml, size_t len, blob_list_fn *fn, void *ctx,
		       struct blob_s3_list_page *page_r, struct blob_error *err)
{
	struct xml_list_adapter a = { fn, ctx };

	return blob_s3_list_parse_entries(xml, len, xml_list_adapt, &a, page_r, err);
}

int blob_s3_list_parse_entries(const char *xml, size_t len, blob_list_entry_fn *fn, void *ctx,
			       struct blob_s3_list_page *page_r, struct blob_error *err)
{
	struct xml_list_state st = { 0 };
	const char *p = xml, *end = xml + len;
	int ret = 0;

	*page_r = (struct blob_s3_list_page){ 0 };
	buf_init(&st.text, BLOB_S3_TOKEN_MAX);
	buf_init(&st.key, BLOB_KEY_MAX);
	while (p < end && ret == 0) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		const char *text_end = lt == NULL ? end : lt;
		struct slice name;
		const char *next;
		int kind;

		if (st.want != XML_WANT_NONE && xml_decode(p, text_end, &st.text) < 0) {
			blob_error_set(err, BLOB_PERMANENT, "S3 list: bad or too long text");
			ret = -1;
			break;
		}
		if (lt == NULL)
			break;
		kind = xml_tag(lt, end, &name, &next);
		if (kind < 0) {
			blob_error_set(err, BLOB_PERMANENT, "S3 list: malformed XML");
			ret = -1;
		} else if (kind == 1 || kind == 3) {
			ret = xml_list_start(&st, name, err);
			if (ret == 0 && kind == 3)
				ret = xml_list_end(&st, name, fn, ctx, page_r, err);
		} else if (kind == 2) {
			ret = xml_list_end(&st, name, fn, ctx, page_r, err);
		}
		p = next;
	}
	if (ret == 0 && (st.depth != 0 || !st.saw_root)) {
		blob_error_set(err, BLOB_PERMANENT, "S3 list: truncated XML");
		ret = -1;
	}
	buf_free(&st.text);
	buf_free(&st.key);
	if (ret < 0) {
		free(page_r->next_token);
		page_r->next_token = NULL;
	}
	return ret;
}

bool blob_s3_xml_find(const char *xml, size_t len, const char *name, char *out, size_t out_size)
{
	char open[64], close[64];
	const char *end = xml + len, *start, *stop;
	struct buf text;
	bool found = false;
	int n1 = snprintf(open, sizeof(open), "<%s>", name);
	int n2 = snprintf(close, sizeof(close), "</%s>", name);

	if (out_size == 0 || n1 < 0 || (size_t)n1 >= sizeof(open) || n2 < 0 ||
	    (size_t)n2 >= sizeof(close))
		return false;
	out[0] = '\0';
	start = xml_find(xml, end, open);
	if (start == NULL)
		return false;
	start += n1;
	stop = xml_find(start, end, close);
	if (stop == NULL)
		return false;
	buf_init(&text, out_size - 1);
	if (xml_decode(start, stop, &text) == 0) {
		for (size_t i = 0; i < text.len; i++) {
			unsigned char c = (unsigned char)text.data[i];

			out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		out[text.len] = '\0';
		found = true;
	}
	buf_free(&text);
	return found;
}
