/* The streaming MIME structure walk.

   Design: bytes are consumed line by line in one pass, whatever the chunk
   boundaries. Nothing of the body is kept: a body line is counted (LFs,
   bare LFs), given to the part's decoder and forgotten. Only three things
   are buffered, all bounded: the current header field (limits.max_field),
   the first MIME_BOUNDARY_LINE_MAX bytes of a line that may be a boundary
   (a body line starting with "-", the line after a header's blank line),
   and a held-back CR/LF for the decoder.

   Offsets: every part records the absolute position and the LF / bare-LF
   counters where its header starts, its body starts and its body ends;
   sizes, IMAP sizes (bare LF counted as CRLF) and line counts are
   differences of those. Boundary rules are Dovecot's:
   - a line is a boundary when it starts with "--" and one of the open
     boundaries (innermost first, longest match) is a prefix of the rest;
     "--boundary--" closes its multipart, inner multiparts end with it;
   - the line end before a boundary line belongs to the boundary, unless the
     boundary is the first line after a header, a boundary or a part start;
   - a boundary inside a header cuts the header there; the line end before
     it then goes to the parent part. So does a boundary (not the part's
     own) right after the blank line: the blank line leaves the header;
   - past limits.max_parts parts, boundaries are ordinary text; past
     limits.max_depth, multiparts and messages are leaves.

   Invariants: p->part is the innermost open part; its ancestors are open;
   p->boundaries belong to open multiparts, innermost first. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "mime-private.h"

/* counters saved at the start of a header or body until it ends */
#define SAVED_LF(part, what) ((part)->what##_lines)
#define SAVED_BARE(part, what) ((part)->what##_vsize)

struct boundary {
	struct boundary *next;
	struct mime_part *part; /* the multipart */
	const char *str;
	size_t len;
	bool digest;
};

/* a position in the message: offset and the counters before it */
struct mark {
	uint64_t pos, lf, bare;
};

enum parse_state {
	PS_HEADER,
	PS_BODY,
	PS_SKIP_LINE, /* the rest of a boundary line */
	PS_EOH_CHECK, /* the line after a blank line: a boundary cuts the header */
};

struct mime_parser {
	struct arena *a;
	struct mime_limits lim;
	struct mime_message *msg;
	struct mime_part *part;
	struct mime_part **last_child; /* per depth: last child appended */
	struct boundary *boundaries;
	unsigned int depth;
	enum parse_state state;
	bool open_child_after_line; /* PS_SKIP_LINE: a new part follows */
	struct mark eoh_end;        /* PS_EOH_CHECK: just after the blank line */
	bool eoh_cut;               /* the header had its blank line, then a boundary */

	uint64_t pos, lf, bare;
	unsigned char last; /* last byte consumed */

	/* the current line */
	bool in_line, seg_first, lp_hold;
	struct mark line;
	unsigned int prev_eol; /* 1 or 2: line end of the previous line */
	unsigned char lp[MIME_BOUNDARY_LINE_MAX];
	size_t lp_len;

	/* the current header field, unfolded */
	struct mime_hdr hdr;
	struct buf field;
	size_t field_first_len;
	bool in_field, field_cr, field_is_cont;
	size_t header_used;
	const char *references;

	/* the body of a leaf part goes to the decoder */
	struct mime_text *text;
	bool decode, dec_cr;
	unsigned int dec_eol;
};

static struct mark mark_now(const struct mime_parser *p)
{
	return (struct mark){ .pos = p->pos, .lf = p->lf, .bare = p->bare };
}

static void consume(struct mime_parser *p, const unsigned char *d, size_t n)
{
	const unsigned char *s = d, *end = d + n, *nl;

	if (n == 0)
		return;
	while ((nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
		unsigned char before = nl > d ? nl[-1] : p->last;

		p->lf++;
		if (before != '\r')
			p->bare++;
		s = nl + 1;
	}
	p->pos += n;
	p->last = d[n - 1];
}

static bool can_be_boundary(const struct mime_parser *p)
{
	return p->boundaries != NULL && p->msg->part_count < p->lim.max_parts;
}

/* The open boundary that prefixes s (n bytes of the line after "--"; the
   whole line is line_len bytes without its line end): the longest one,
   innermost first on ties, but an exact match ("--b" or "--b--" when the
   line ended) wins at once, so that an inner "b" closes before an outer
   "b--" is considered. */
static struct boundary *boundary_match(struct boundary *list, const unsigned char *s, size_t n,
				       size_t line_len, bool has_lf, bool *closing_r)
{
	bool dashes = has_lf && line_len > 2 && n >= line_len && s[line_len - 1] == '-' &&
		      s[line_len - 2] == '-';
	struct boundary *best = NULL;

	for (struct boundary *b = list; b != NULL; b = b->next) {
		if (b->len <= n && memcmp(b->str, s, b->len) == 0 &&
		    (best == NULL || b->len > best->len)) {
			best = b;
			if (b->len == line_len || (dashes && b->len == line_len - 2))
				break;
		}
	}
	if (best != NULL)
		*closing_r = n >= best->len + 2 && s[best->len] == '-' && s[best->len + 1] == '-';
	return best;
}

/* line_len: the line's length without its line end */
static struct boundary *line_boundary(struct mime_parser *p, uint64_t line_len, bool has_lf,
				      bool *closing_r)
{
	if (p->lp_len < 2 || p->lp[0] != '-' || p->lp[1] != '-' || p->boundaries == NULL)
		return NULL;
	if (!can_be_boundary(p)) {
		p->msg->limit_hit = true; /* too many parts: boundaries are text */
		return NULL;
	}
	return boundary_match(p->boundaries, p->lp + 2, p->lp_len - 2,
			      line_len < 2 ? 0 : (size_t)(line_len - 2), has_lf, closing_r);
}

/* ---- decoder feeding: the line end before a boundary is not body ---- */

static void dec_feed(struct mime_parser *p, const void *d, size_t n)
{
	if (n > 0)
		mime_text_part_data(p->text, d, n);
}

static void dec_flush_held(struct mime_parser *p)
{
	if (p->dec_eol > 0) {
		static const char crlf[] = "\r\n";

		dec_feed(p, &crlf[2 - p->dec_eol], p->dec_eol);
		p->dec_eol = 0;
	}
}

static void body_data(struct mime_parser *p, const unsigned char *d, size_t n, bool has_lf)
{
	size_t content = has_lf ? n - 1 : n;
	unsigned int eol = 0;

	if (n > 0 && memchr(d, '\0', n) != NULL)
		p->part->flags |= MIME_PART_HAS_NUL;
	if (!p->decode || n == 0)
		return;
	dec_flush_held(p);
	if (has_lf) {
		eol = 1;
		if (content > 0 && d[content - 1] == '\r') {
			content--;
			eol = 2;
		} else if (content == 0 && p->dec_cr) {
			/* the CR held back ends this line */
			p->dec_cr = false;
			eol = 2;
		}
	}
	if (p->dec_cr) {
		/* more of the line follows: the held CR was data */
		dec_feed(p, "\r", 1);
		p->dec_cr = false;
	}
	if (!has_lf && content > 0 && d[content - 1] == '\r') {
		content--;
		p->dec_cr = true;
	}
	dec_feed(p, d, content);
	p->dec_eol = eol;
}

/* ---- parts ---- */

static void part_open(struct mime_parser *p, struct mark at)
{
	struct mime_part *parent = p->part, *part = arena_alloc(p->a, sizeof(*part));
	bool is_child_of_message = parent != NULL && (parent->flags & MIME_PART_MESSAGE) != 0;

	part->parent = parent;
	part->binary_size = UINT64_MAX;
	if (parent == NULL) {
		p->msg->root = part;
	} else {
		p->depth++;
		if (parent->children == NULL)
			parent->children = part;
		else
			p->last_child[p->depth]->next = part;
		parent->child_count++;
	}
	p->last_child[p->depth] = part;
	part->hdr_start = at.pos;
	SAVED_LF(part, hdr) = at.lf;
	SAVED_BARE(part, hdr) = at.bare;
	p->msg->part_count++;
	p->part = part;
	p->state = PS_HEADER;
	p->seg_first = true;
	p->in_line = false;
	p->in_field = false;
	mime_hdr_begin(&p->hdr, part, parent == NULL || is_child_of_message, parent == NULL,
		       parent != NULL && !is_child_of_message, p->a);
}

static bool is_identity_encoding(const char *enc)
{
	return enc == NULL || strcasecmp(enc, "7bit") == 0 || strcasecmp(enc, "8bit") == 0 ||
	       strcasecmp(enc, "binary") == 0;
}

static void part_close(struct mime_parser *p, struct mark end, bool at_eof)
{
	struct mime_part *part = p->part;
	uint64_t size = end.pos - part->body_start, decoded = UINT64_MAX;
	bool decoded_part = p->decode;

	if (p->decode) {
		if (at_eof) {
			/* what was held back is body after all */
			if (p->dec_cr)
				dec_feed(p, "\r", 1);
			dec_flush_held(p);
		}
		decoded = mime_text_part_end(p->text);
		p->decode = false;
		p->dec_cr = false;
		p->dec_eol = 0;
	}
	part->body_end = end.pos;
	part->body_lines = end.lf - SAVED_LF(part, body);
	part->body_vsize = size + (end.bare - SAVED_BARE(part, body));
	if (part->hdr_vsize + part->body_vsize > (part->body_start - part->hdr_start) + size)
		part->flags |= MIME_PART_BARE_LF;
	if (decoded_part)
		part->binary_size =
			is_identity_encoding(part->encoding) ? part->body_vsize : decoded;
	p->part = part->parent;
	if (p->part != NULL)
		p->depth--;
}

static bool is_text_type(const struct mime_part *part)
{
	return part->type == NULL || strcasecmp(part->type, "text") == 0;
}

static bool parent_is_digest(const struct mime_parser *p)
{
	return p->part->parent != NULL && p->boundaries != NULL &&
	       p->boundaries->part == p->part->parent && p->boundaries->digest;
}

/* The header of p->part ends at end. eoh: a blank line was seen; cut: a
   boundary follows at once, so a multipart gets no parts. */
static void header_done(struct mime_parser *p, struct mark end, bool eoh, bool cut)
{
	struct mime_part *part = p->part;
	enum mime_ct_kind kind;
	bool room = p->depth + 1 < p->lim.max_depth;

	part->body_start = end.pos;
	part->hdr_lines = end.lf - SAVED_LF(part, hdr);
	part->hdr_vsize = (end.pos - part->hdr_start) + (end.bare - SAVED_BARE(part, hdr));
	SAVED_LF(part, body) = end.lf;
	SAVED_BARE(part, body) = end.bare;
	if (part->parent == NULL) {
		p->references = p->hdr.references;
	}
	mime_hdr_end(&p->hdr, p->a);
	kind = p->hdr.seen_ct && p->hdr.is_mime ? p->hdr.ct_kind : MIME_CT_NONE;
	if (kind == MIME_CT_NONE && parent_is_digest(p))
		kind = MIME_CT_MESSAGE;

	p->state = PS_BODY;
	p->seg_first = true;
	p->in_line = false;
	if (kind == MIME_CT_MESSAGE) {
		if (!room) {
			p->msg->limit_hit = true;
		} else {
			part->flags |= MIME_PART_MESSAGE;
			part_open(p, end); /* the encapsulated message */
			return;
		}
	} else if (kind == MIME_CT_MULTIPART || kind == MIME_CT_DIGEST) {
		if (eoh && p->hdr.boundary != NULL && !room) {
			p->msg->limit_hit = true;
		} else {
			part->flags |= MIME_PART_MULTIPART;
			if (eoh && !cut && p->hdr.boundary != NULL) {
				struct boundary *b = arena_alloc(p->a, sizeof(*b));

				b->part = part;
				b->str = p->hdr.boundary;
				b->len = strlen(b->str);
				b->digest = kind == MIME_CT_DIGEST;
				b->next = p->boundaries;
				p->boundaries = b;
			}
			return;
		}
	}
	if (is_text_type(part))
		part->flags |= MIME_PART_TEXT;
	p->decode = true;
	p->dec_cr = false;
	p->dec_eol = 0;
	mime_text_part_begin(p->text, part);
}

/* A header is cut by a boundary or the end of input: an encapsulated
   message opened by it is empty, ending at the same place. */
static void header_cut(struct mime_parser *p, struct mark end, bool eoh)
{
	header_done(p, end, eoh, true);
	while (p->state == PS_HEADER)
		header_done(p, end, false, true);
}

/* Closes p->part and its ancestors up to owner (not included). Parts at or
   below cut end at inner, the others at outer. */
static void close_to(struct mime_parser *p, struct mime_part *owner, const struct mime_part *cut,
		     struct mark inner, struct mark outer)
{
	bool passed = cut == NULL;

	while (p->part != owner) {
		bool was_cut = p->part == cut;

		part_close(p, passed ? outer : inner, false);
		if (was_cut)
			passed = true;
	}
}

/* The current line (started at p->line) is a boundary line of b. */
static void boundary_found(struct mime_parser *p, struct boundary *b, bool closing)
{
	unsigned int e = p->seg_first ? 0 : p->prev_eol;
	struct mark inner = {
		.pos = p->line.pos - e,
		.lf = p->line.lf - (e > 0 ? 1 : 0),
		.bare = p->line.bare - (e == 1 ? 1 : 0),
	};
	const struct mime_part *cut = NULL;

	if (p->state == PS_HEADER) {
		cut = p->part;
		p->in_field = false;
		header_cut(p, inner, p->eoh_cut);
		p->eoh_cut = false;
	}
	close_to(p, b->part, cut, inner, cut == NULL ? inner : p->line);
	p->boundaries = closing ? b->next : b;
	p->state = PS_SKIP_LINE;
	p->open_child_after_line = !closing;
	p->decode = false;
}

static void line_done(struct mime_parser *p, bool cr)
{
	p->in_line = false;
	p->seg_first = false;
	p->prev_eol = cr ? 2 : 1;
}

/* the boundary line ended: a new part or the epilogue begins */
static void boundary_line_done(struct mime_parser *p)
{
	p->in_line = false;
	if (p->open_child_after_line) {
		part_open(p, mark_now(p));
	} else {
		p->state = PS_BODY;
		p->seg_first = true;
	}
}

/* ---- header lines ---- */

static void field_add(struct mime_parser *p, const unsigned char *d, size_t n)
{
	size_t room;

	if (!p->in_field || n == 0)
		return;
	room = p->lim.max_field > p->field.len ? p->lim.max_field - p->field.len : 0;
	if (n > room) {
		n = room;
		p->msg->limit_hit = true;
	}
	(void)buf_append(&p->field, d, n);
}

static void field_bytes(struct mime_parser *p, const unsigned char *d, size_t n)
{
	if (n == 0)
		return;
	if (p->field_cr) {
		field_add(p, (const unsigned char *)"\r", 1);
		p->field_cr = false;
	}
	if (d[n - 1] == '\r') {
		p->field_cr = true;
		n--;
	}
	field_add(p, d, n);
}

static void field_process(struct mime_parser *p)
{
	const char *f = p->field.data, *colon, *v, *first_end;
	size_t name_len, len;

	p->in_field = false;
	if (f == NULL || (colon = memchr(f, ':', p->field.len)) == NULL)
		return;
	name_len = (size_t)(colon - f);
	while (name_len > 0 && (f[name_len - 1] == ' ' || f[name_len - 1] == '\t'))
		name_len--;
	name_len = strnlen(f, name_len); /* a NUL ends the name, as in Dovecot */
	if (!mime_hdr_wants(&p->hdr, f, name_len))
		return;
	/* what we keep of headers is bounded per message */
	if (p->header_used >= p->lim.max_header_total) {
		p->msg->limit_hit = true;
		return;
	}
	p->header_used += p->field.len;
	/* blanks after the colon are skipped on the first line; when that
	   line has nothing else, only one is (Dovecot) */
	first_end = f + MIN(p->field_first_len, p->field.len);
	v = colon + 1;
	while (v < first_end && (*v == ' ' || *v == '\t'))
		v++;
	if (v == first_end && v > colon + 1)
		v = colon + 2;
	len = p->field.len - (size_t)(v - f);
	mime_hdr_field(&p->hdr, p->a, f, name_len, v, len);
}

static void header_line_begin(struct mime_parser *p, unsigned char first)
{
	p->in_line = true;
	p->line = mark_now(p);
	p->lp_len = 0;
	p->field_cr = false;
	p->field_is_cont = first == ' ' || first == '\t';
	if (p->field_is_cont) {
		/* unfolded values keep an LF where the line broke, as
		   Dovecot's do: ENVELOPE and BODYSTRUCTURE writers drop it */
		field_add(p, (const unsigned char *)"\n", 1);
		return;
	}
	if (p->in_field)
		field_process(p);
	buf_clear(&p->field);
	p->in_field = true;
	p->field_first_len = SIZE_MAX;
}

/* a header line ended (has_lf false: at the end of input) */
static void header_line_end(struct mime_parser *p, bool has_lf, bool cr)
{
	uint64_t content = p->pos - p->line.pos - (has_lf ? 1 : 0) - (cr ? 1 : 0);
	struct boundary *b;
	bool closing;

	if ((b = line_boundary(p, content, has_lf, &closing)) != NULL) {
		boundary_found(p, b, closing);
		if (has_lf)
			boundary_line_done(p);
		return;
	}
	if (content == 0 && has_lf) {
		/* the blank line; an enclosing boundary right after it would
		   still cut the header (Dovecot), so look at the next line */
		p->in_field = false;
		p->in_line = false;
		if (!can_be_boundary(p)) {
			header_done(p, mark_now(p), true, false);
			return;
		}
		p->eoh_end = mark_now(p);
		p->prev_eol = cr ? 2 : 1;
		p->seg_first = false;
		p->lp_len = 0;
		p->state = PS_EOH_CHECK;
		return;
	}
	if (!p->field_is_cont && p->field_first_len == SIZE_MAX)
		p->field_first_len = p->field.len;
	if (!has_lf && p->field_cr)
		field_add(p, (const unsigned char *)"\r", 1);
	line_done(p, cr);
}

static size_t feed_header(struct mime_parser *p, const unsigned char *d, size_t len)
{
	const unsigned char *nl;
	size_t n, cap;
	bool cr;

	if (!p->in_line)
		header_line_begin(p, d[0]);
	nl = memchr(d, '\n', len);
	n = nl == NULL ? len : (size_t)(nl - d);
	cap = MIN(n, sizeof(p->lp) - p->lp_len);
	memcpy(p->lp + p->lp_len, d, cap);
	p->lp_len += cap;
	field_bytes(p, d, n);
	if (nl == NULL) {
		consume(p, d, len);
		return len;
	}
	cr = n > 0 ? d[n - 1] == '\r' : p->last == '\r' && p->pos > p->line.pos;
	p->field_cr = false;
	consume(p, d, n + 1);
	header_line_end(p, true, cr);
	return n + 1;
}

/* ---- body lines ---- */

static size_t feed_skip(struct mime_parser *p, const unsigned char *d, size_t len)
{
	const unsigned char *nl = memchr(d, '\n', len);
	size_t n = nl == NULL ? len : (size_t)(nl - d) + 1;

	consume(p, d, n);
	if (nl != NULL)
		boundary_line_done(p);
	return n;
}

/* lp holds the start of a line beginning with "-": decide. complete: the
   line ended (LF or end of input) or lp is full. */
static void body_line_decide(struct mime_parser *p, bool has_lf, bool at_eof)
{
	struct boundary *b;
	bool closing, cr;
	size_t line_len;

	p->lp_hold = false;
	line_len = p->lp_len;
	if (has_lf && line_len > 0 && p->lp[line_len - 1] == '\r')
		line_len--;
	if ((b = line_boundary(p, line_len, has_lf, &closing)) != NULL) {
		boundary_found(p, b, closing);
		if (has_lf)
			boundary_line_done(p);
		return;
	}
	cr = p->lp_len > 0 && p->lp[p->lp_len - 1] == '\r';
	body_data(p, p->lp, p->lp_len, false);
	if (has_lf) {
		body_data(p, (const unsigned char *)"\n", 1, true);
		line_done(p, cr);
	} else if (at_eof) {
		p->in_line = false;
	}
}

static size_t feed_body_held(struct mime_parser *p, const unsigned char *d, size_t len)
{
	size_t room = sizeof(p->lp) - p->lp_len, scan = MIN(len, room);
	const unsigned char *nl = memchr(d, '\n', scan);

	if (nl != NULL) {
		size_t n = (size_t)(nl - d);

		memcpy(p->lp + p->lp_len, d, n);
		p->lp_len += n;
		consume(p, d, n + 1);
		body_line_decide(p, true, false);
		return n + 1;
	}
	memcpy(p->lp + p->lp_len, d, scan);
	p->lp_len += scan;
	consume(p, d, scan);
	if (p->lp_len == sizeof(p->lp) || (p->lp_len >= 2 && p->lp[1] != '-'))
		body_line_decide(p, false, false);
	return scan;
}

static size_t feed_body(struct mime_parser *p, const unsigned char *d, size_t len)
{
	const unsigned char *nl;
	size_t n;

	if (!p->in_line) {
		p->in_line = true;
		p->line = mark_now(p);
		p->lp_len = 0;
		/* held even past max_parts, to notice the limit */
		p->lp_hold = d[0] == '-' && p->boundaries != NULL;
	}
	if (p->lp_hold)
		return feed_body_held(p, d, len);
	nl = memchr(d, '\n', len);
	n = nl == NULL ? len : (size_t)(nl - d) + 1;
	body_data(p, d, n, nl != NULL);
	if (nl != NULL) {
		bool cr = n >= 2 ? d[n - 2] == '\r' : p->last == '\r' && p->pos > p->line.pos;

		consume(p, d, n);
		line_done(p, cr);
	} else {
		consume(p, d, n);
	}
	return n;
}

/* ---- the line after a blank line ---- */

static void feed_all(struct mime_parser *p, const unsigned char *d, size_t len);

/* The first bytes of the line after a header's blank line are in p->lp,
   not consumed yet. A boundary of an enclosing multipart there means the
   blank line's line end belongs to that boundary: the header is cut before
   it. Otherwise the header ended normally. Either way the held bytes are
   then fed again in the state that follows. */
static void eoh_decide(struct mime_parser *p, bool has_lf)
{
	struct boundary own = { .next = p->boundaries, .part = p->part };
	struct boundary *list = p->boundaries, *b = NULL;
	unsigned char held[MIME_BOUNDARY_LINE_MAX];
	size_t held_len = p->lp_len, line_len = held_len;
	bool closing;

	memcpy(held, p->lp, held_len);
	if (p->hdr.boundary != NULL && p->hdr.is_mime && p->depth + 1 < p->lim.max_depth &&
	    (p->hdr.ct_kind == MIME_CT_MULTIPART || p->hdr.ct_kind == MIME_CT_DIGEST)) {
		/* its own boundary would be open already: it may match better */
		own.str = p->hdr.boundary;
		own.len = strlen(own.str);
		list = &own;
	}
	if (has_lf && line_len > 0 && held[line_len - 1] == '\r')
		line_len--;
	if (held_len >= 2 && held[0] == '-' && held[1] == '-')
		b = boundary_match(list, held + 2, held_len - 2, line_len < 2 ? 0 : line_len - 2,
				   has_lf, &closing);
	p->lp_len = 0;
	if (b != NULL && b != &own) {
		/* fed as a header line, the boundary cuts the header */
		p->state = PS_HEADER;
		p->eoh_cut = true;
	} else {
		header_done(p, p->eoh_end, true, false);
	}
	feed_all(p, held, held_len);
}

static size_t feed_eoh_check(struct mime_parser *p, const unsigned char *d, size_t len)
{
	size_t room = sizeof(p->lp) - p->lp_len, scan = MIN(len, room);
	const unsigned char *nl = memchr(d, '\n', scan);
	size_t n = nl == NULL ? scan : (size_t)(nl - d);

	memcpy(p->lp + p->lp_len, d, n);
	p->lp_len += n;
	if (nl != NULL || p->lp_len == sizeof(p->lp) || p->lp[0] != '-' ||
	    (p->lp_len >= 2 && p->lp[1] != '-'))
		eoh_decide(p, nl != NULL);
	return n;
}

/* ---- API ---- */

struct mime_parser *mime_parser_new(struct arena *a, const struct mime_limits *limits)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	mime_gmime_init();
	p->a = a;
	p->lim = limits != NULL ? *limits : MIME_LIMITS_DEFAULT;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 1;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = 1;
	p->msg = arena_alloc(a, sizeof(*p->msg));
	p->last_child = xcalloc(p->lim.max_depth + 1, sizeof(*p->last_child));
	buf_init(&p->field, 0);
	mime_hdr_init(&p->hdr);
	p->text = mime_text_new(p->lim.max_text);
	part_open(p, mark_now(p));
	return p;
}

static void feed_all(struct mime_parser *p, const unsigned char *d, size_t len)
{
	while (len > 0) {
		size_t n;

		switch (p->state) {
		case PS_HEADER:
			n = feed_header(p, d, len);
			break;
		case PS_BODY:
			n = feed_body(p, d, len);
			break;
		case PS_EOH_CHECK:
			n = feed_eoh_check(p, d, len);
			break;
		default:
			n = feed_skip(p, d, len);
			break;
		}
		d += n;
		len -= n;
	}
}

int mime_parser_feed(struct mime_parser *p, const void *data, size_t len, const char **error_r)
{
	if (p->lim.max_size != 0 && (len > p->lim.max_size || p->pos > p->lim.max_size - len)) {
		*error_r = "Message too large";
		return -1;
	}
	feed_all(p, data, len);
	return 0;
}

static void input_end(struct mime_parser *p)
{
	if (p->state == PS_EOH_CHECK)
		eoh_decide(p, false);
	if (p->state == PS_HEADER) {
		if (p->in_line)
			header_line_end(p, false, false);
		if (p->state == PS_HEADER) {
			if (p->in_field)
				field_process(p);
			header_cut(p, mark_now(p), false);
		}
	}
	if (p->state == PS_BODY && p->in_line && p->lp_hold)
		body_line_decide(p, false, true);
	while (p->part != NULL)
		part_close(p, mark_now(p), true);
}

void mime_parser_free(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	mime_text_free(&p->text);
	mime_hdr_deinit(&p->hdr);
	buf_free(&p->field);
	free(p->last_child);
	free(p);
}

struct mime_message *mime_parser_finish(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;
	struct mime_message *msg = p->msg;

	input_end(p);
	msg->size = p->pos;
	msg->vsize = p->pos + p->bare;
	mime_text_finish(p->text, msg, p->a);
	mime_message_columns(msg, p->references, p->a);
	mime_parser_free(pp);
	return msg;
}

int mime_parse_limits(const char *data, size_t len, const struct mime_limits *limits,
		      struct arena *a, struct mime_message **msg_r, const char **error_r)
{
	struct mime_parser *p = mime_parser_new(a, limits);

	if (mime_parser_feed(p, data, len, error_r) < 0) {
		mime_parser_free(&p);
		return -1;
	}
	*msg_r = mime_parser_finish(&p);
	return 0;
}

int mime_parse(const char *data, size_t len, struct arena *a, struct mime_message **msg_r,
	       const char **error_r)
{
	return mime_parse_limits(data, len, NULL, a, msg_r, error_r);
}
