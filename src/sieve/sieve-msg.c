/* The message as Sieve tests see it: the header fields (unfolded, in order,
   editable by editheader), body parts decoded for the body test (RFC 5173),
   address parts (RFC 5228 §2.7.4, RFC 5233) and date parts (RFC 5260). */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/utf8.h"
#include "mime/mime.h"
#include "sieve-private.h"

#define MAX_FIELDS 10000

void sv_msg_index(struct sv_msgview *v, const char *data, size_t len, struct arena *a)
{
	size_t i = 0;

	memset(v, 0, sizeof(*v));
	while (i < len) {
		size_t ls = i, le, colon;
		struct buf val, raw;

		while (i < len && data[i] != '\n')
			i++;
		le = i;
		if (i < len)
			i++;
		if (le > ls && data[le - 1] == '\r')
			le--;
		if (le == ls)
			break; /* blank line: end of header */
		if (data[ls] == ' ' || data[ls] == '\t')
			continue; /* continuation without a field: ignored */
		for (colon = ls; colon < le && data[colon] != ':'; colon++)
			;
		if (colon == le)
			continue; /* not a field */
		size_t ne = colon;

		while (ne > ls && (data[ne - 1] == ' ' || data[ne - 1] == '\t'))
			ne--;
		buf_init(&val, 0);
		buf_init(&raw, 0);
		(void)buf_append(&val, data + colon + 1, le - colon - 1);
		(void)buf_append(&raw, data + colon + 1, le - colon - 1);
		/* continuation lines, unfolded: the CRLF goes, the blank stays */
		while (i < len && (data[i] == ' ' || data[i] == '\t')) {
			size_t cs = i, ce;

			while (i < len && data[i] != '\n')
				i++;
			ce = i;
			if (i < len)
				i++;
			if (ce > cs && data[ce - 1] == '\r')
				ce--;
			/* the folding blank reads as one space, as Dovecot unfolds */
			(void)buf_append(&val, " ", 1);
			(void)buf_append(&val, data + cs + 1, ce - cs - 1);
			(void)buf_append(&raw, data + cs, ce - cs);
		}
		if (v->count < MAX_FIELDS && ne > ls) {
			struct slice sv = slice_trim(buf_slice(&val));
			struct slice sr = slice_trim(buf_slice(&raw));

			if (v->count == v->cap) {
				size_t ncap = v->cap == 0 ? 32 : v->cap * 2;
				struct sv_field *nf = arena_alloc(a, ncap * sizeof(*nf));

				if (v->count > 0)
					memcpy(nf, v->fields, v->count * sizeof(*nf));
				v->fields = nf;
				v->cap = ncap;
			}
			v->fields[v->count].name = arena_strndup(a, data + ls, ne - ls);
			v->fields[v->count].value = arena_strndup(a, sv.ptr, sv.len);
			v->fields[v->count].raw = arena_strndup(a, sr.ptr, sr.len);
			v->count++;
		}
		buf_free(&val);
		buf_free(&raw);
	}
	v->body = data + i;
	v->body_len = len - i;
}

/* ---- body ---- */

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void decode_base64(const char *s, size_t n, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);

		if (s[i] == '=')
			break;
		if (v < 0)
			continue; /* line breaks and junk are skipped, as everyone does */
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			unsigned char c = (unsigned char)(acc >> (bits - 8));

			bits -= 8;
			if (buf_append(out, &c, 1) < 0)
				return;
		}
	}
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void decode_qp(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '=') {
			if (buf_append(out, s + i, 1) < 0)
				return;
			continue;
		}
		if (i + 2 < n + 0 && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
			unsigned char c = (unsigned char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));

			(void)buf_append(out, &c, 1);
			i += 2;
			continue;
		}
		/* soft line break: "=" [blanks] CRLF */
		size_t j = i + 1;

		while (j < n && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j < n && s[j] == '\r')
			j++;
		if (j < n && s[j] == '\n') {
			i = j;
			continue;
		}
		(void)buf_append(out, "=", 1);
	}
}

static void to_utf8(const char *charset, struct buf *in, struct buf *out)
{
	iconv_t cd;
	char *ip = in->data;
	size_t il = in->len;

	if (charset == NULL || strcasecmp(charset, "utf-8") == 0 ||
	    strcasecmp(charset, "us-ascii") == 0 || (cd = iconv_open("UTF-8", charset)) ==
								 (iconv_t)-1) {
		(void)buf_append(out, in->data, in->len);
		return;
	}
	while (il > 0) {
		char ob[1024], *op = ob;
		size_t ol = sizeof(ob);
		size_t r = iconv(cd, &ip, &il, &op, &ol);

		if (buf_append(out, ob, (size_t)(op - ob)) < 0)
			break;
		if (r == (size_t)-1 && errno != E2BIG) {
			(void)buf_append(out, "\xef\xbf\xbd", 3);
			ip++;
			il--;
		}
	}
	iconv_close(cd);
}

/* crude text/html to text: tags dropped, a few entities decoded */
static void strip_html(struct buf *in, struct buf *out)
{
	bool tag = false;

	for (size_t i = 0; i < in->len; i++) {
		char c = in->data[i];

		if (tag) {
			if (c == '>')
				tag = false;
			continue;
		}
		if (c == '<') {
			tag = true;
			continue;
		}
		(void)buf_append(out, &c, 1);
	}
}

static bool type_matches(const struct mime_part *p, const struct sv_str *types, size_t ntypes)
{
	const char *type = p->type != NULL && p->type[0] != '\0' ? p->type : "text";
	const char *sub = p->type != NULL && p->type[0] != '\0' ? p->subtype : "plain";

	for (size_t i = 0; i < ntypes; i++) {
		const char *t = types[i].s, *slash = strchr(t, '/');

		if (t[0] == '\0')
			return true;
		if (slash == NULL) {
			if (strcasecmp(t, type) == 0)
				return true;
		} else if (strncasecmp(t, type, (size_t)(slash - t)) == 0 &&
			   type[slash - t] == '\0' && strcasecmp(slash + 1, sub) == 0) {
			return true;
		}
	}
	return false;
}

struct body_walk {
	const char *data;
	size_t len, max, used;
	const struct sv_str *types;
	size_t ntypes;
	bool text_only;
	struct arena *a;
	struct slice *parts;
	size_t n, cap;
};

static void add_part(struct body_walk *w, const struct mime_part *p)
{
	const char *type = p->type != NULL && p->type[0] != '\0' ? p->type : "text";
	const char *sub = p->type != NULL && p->type[0] != '\0' ? p->subtype : "plain";
	bool is_text = strcasecmp(type, "text") == 0;
	struct buf dec, conv, fin;

	if (w->text_only ? !is_text : !type_matches(p, w->types, w->ntypes))
		return;
	if (w->used >= w->max || p->body_end > w->len)
		return;
	buf_init(&dec, w->max - w->used);
	buf_init(&conv, 0);
	buf_init(&fin, 0);
	const char *b = w->data + p->body_start;
	size_t bl = (size_t)(p->body_end - p->body_start);

	if (p->encoding != NULL && strcasecmp(p->encoding, "base64") == 0)
		decode_base64(b, bl, &dec);
	else if (p->encoding != NULL && strcasecmp(p->encoding, "quoted-printable") == 0)
		decode_qp(b, bl, &dec);
	else
		(void)buf_append(&dec, b, MIN(bl, w->max - w->used));
	if (is_text)
		to_utf8(p->charset, &dec, &conv);
	else
		(void)buf_append(&conv, dec.data, dec.len);
	if (w->text_only && strcasecmp(sub, "html") == 0)
		strip_html(&conv, &fin);
	else
		(void)buf_append(&fin, conv.data, conv.len);
	if (w->n == w->cap) {
		size_t ncap = w->cap == 0 ? 8 : w->cap * 2;
		struct slice *np = arena_alloc(w->a, ncap * sizeof(*np));

		if (w->n > 0)
			memcpy(np, w->parts, w->n * sizeof(*np));
		w->parts = np;
		w->cap = ncap;
	}
	w->parts[w->n++] = slice_from(arena_strndup(w->a, fin.data == NULL ? "" : fin.data, fin.len),
				      fin.len);
	w->used += fin.len;
	buf_free(&dec);
	buf_free(&conv);
	buf_free(&fin);
}

static void walk(struct body_walk *w, const struct mime_part *p, unsigned int depth)
{
	if (depth > 20)
		return;
	if (p->children != NULL) {
		for (const struct mime_part *c = p->children; c != NULL; c = c->next)
			walk(w, c, depth + 1);
		return;
	}
	if ((p->flags & MIME_PART_MULTIPART) != 0)
		return;
	add_part(w, p);
}

const struct mime_part *sv_msg_structure(const char *data, size_t len, struct arena *a)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	struct mime_message *m;
	const char *error;

	lim.max_depth = 20;
	lim.max_parts = 500;
	lim.max_text = 1; /* the search text is not needed here */
	if (mime_parse_limits(data, len, &lim, a, &m, &error) < 0)
		return NULL;
	return m->root;
}

size_t sv_msg_body_parts(const char *data, size_t len, const struct mime_part *root,
			 const struct sv_str *types, size_t ntypes, bool text_only,
			 size_t max_bytes, struct arena *a, struct slice **parts_r)
{
	struct body_walk w = { .data = data, .len = len, .max = max_bytes, .types = types,
			       .ntypes = ntypes, .text_only = text_only, .a = a };

	*parts_r = NULL;
	if (root == NULL)
		return 0;
	walk(&w, root, 0);
	*parts_r = w.parts;
	return w.n;
}

/* ---- addresses ---- */

bool sv_address_part(const char *local, const char *domain, enum sv_addrpart part,
		     struct arena *a, const char **out_r)
{
	const char *plus;

	switch (part) {
	case AP_ALL:
		*out_r = domain == NULL ? local : arena_printf(a, "%s@%s", local, domain);
		return true;
	case AP_LOCALPART:
		*out_r = local;
		return true;
	case AP_DOMAIN:
		*out_r = domain == NULL ? "" : domain;
		return true;
	case AP_USER:
		plus = strchr(local, '+');
		*out_r = plus == NULL ? local : arena_strndup(a, local, (size_t)(plus - local));
		return true;
	case AP_DETAIL:
		plus = strchr(local, '+');
		if (plus == NULL)
			return false; /* RFC 5233 §4: no detail, no match */
		*out_r = plus + 1;
		return true;
	}
	return false;
}

/* ---- dates ---- */

int sv_zone_parse(const char *z, int *min_r)
{
	int h, m;

	if (strlen(z) != 5 || (z[0] != '+' && z[0] != '-'))
		return -1;
	for (int i = 1; i < 5; i++) {
		if (!isdigit((unsigned char)z[i]))
			return -1;
	}
	h = (z[1] - '0') * 10 + (z[2] - '0');
	m = (z[3] - '0') * 10 + (z[4] - '0');
	if (h > 23 || m > 59)
		return -1;
	*min_r = (z[0] == '-' ? -1 : 1) * (h * 60 + m);
	return 0;
}

static const char *const date_parts[] = { "year", "month", "day", "date", "julian", "hour",
					  "minute", "second", "time", "iso8601", "std11",
					  "zone", "weekday" };

bool sv_date_part_known(const char *part)
{
	for (size_t i = 0; i < ARRAY_SIZE(date_parts); i++) {
		if (strcasecmp(part, date_parts[i]) == 0)
			return true;
	}
	return false;
}

const char *sv_date_part(int64_t t, int tz, const char *part, struct arena *a)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t lt = (time_t)(t + (int64_t)tz * 60);
	struct tm tm;
	char zone[8];
	int az = tz < 0 ? -tz : tz;

	if (gmtime_r(&lt, &tm) == NULL)
		return NULL;
	if (snprintf(zone, sizeof(zone), "%c%02d%02d", tz < 0 ? '-' : '+', az / 60, az % 60) < 0)
		return NULL;
	if (strcasecmp(part, "year") == 0)
		return arena_printf(a, "%04d", tm.tm_year + 1900);
	if (strcasecmp(part, "month") == 0)
		return arena_printf(a, "%02d", tm.tm_mon + 1);
	if (strcasecmp(part, "day") == 0)
		return arena_printf(a, "%02d", tm.tm_mday);
	if (strcasecmp(part, "date") == 0)
		return arena_printf(a, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
				    tm.tm_mday);
	if (strcasecmp(part, "julian") == 0) {
		/* Modified Julian Day: days since 1858-11-17 */
		int64_t days = (int64_t)((lt >= 0 ? lt : lt - 86399) / 86400);

		return arena_printf(a, "%lld", (long long)(days + 40587));
	}
	if (strcasecmp(part, "hour") == 0)
		return arena_printf(a, "%02d", tm.tm_hour);
	if (strcasecmp(part, "minute") == 0)
		return arena_printf(a, "%02d", tm.tm_min);
	if (strcasecmp(part, "second") == 0)
		return arena_printf(a, "%02d", tm.tm_sec);
	if (strcasecmp(part, "time") == 0)
		return arena_printf(a, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (strcasecmp(part, "iso8601") == 0 && tz == 0) /* RFC 3339 time-offset "Z" */
		return arena_printf(a, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
				    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (strcasecmp(part, "iso8601") == 0)
		return arena_printf(a, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
				    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				    tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+', az / 60, az % 60);
	if (strcasecmp(part, "std11") == 0)
		return arena_printf(a, "%s, %02d %s %04d %02d:%02d:%02d %s", wd[tm.tm_wday],
				    tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
				    tm.tm_min, tm.tm_sec, zone);
	if (strcasecmp(part, "zone") == 0)
		return arena_strdup(a, zone);
	if (strcasecmp(part, "weekday") == 0)
		return arena_printf(a, "%d", tm.tm_wday);
	return NULL;
}
