/* FETCH BODY[section] without re-parsing: IMAP part numbers to byte
   ranges, and a compact binary form of the part tree for the store.

   Encoded form: "M" 0x01, then every part in pre-order as unsigned LEB128
   numbers: flags, child count, header start, header size, body size, bare
   LFs in header, bare LFs in body, header lines, body lines, binary size + 1
   (0: unknown). Decoding checks every number against the parent's ranges,
   so a corrupt blob gives an error, never a bad offset. */
#include <string.h>

#include "mime-private.h"

#define PARTS_MAGIC "M\x01"
#define PARTS_MAX_DEPTH 256
#define PARTS_FLAGS_KNOWN                                                       \
	(MIME_PART_MULTIPART | MIME_PART_MESSAGE | MIME_PART_TEXT | MIME_PART_IS_MIME | \
	 MIME_PART_BARE_LF | MIME_PART_HAS_NUL)

/* ---- section lookup ---- */

static const struct mime_part *nth_child(const struct mime_part *part, uint32_t n)
{
	const struct mime_part *c = part->children;

	for (uint32_t i = 1; c != NULL && i < n; i++)
		c = c->next;
	return n == 0 ? NULL : c;
}

/* part n of a message whose root part is root: the n-th part of a
   multipart, or the body itself ("1") of a single-part message */
static const struct mime_part *message_part(const struct mime_part *root, uint32_t n)
{
	if ((root->flags & MIME_PART_MULTIPART) != 0)
		return nth_child(root, n);
	return n == 1 ? root : NULL;
}

static void range_set(struct mime_range *r, uint64_t start, uint64_t end, uint64_t vsize)
{
	*r = (struct mime_range){
		.start = start,
		.end = end,
		.vsize = vsize,
		.has_bare_lf = vsize != end - start,
	};
}

static void range_header(struct mime_range *r, const struct mime_part *p)
{
	range_set(r, p->hdr_start, p->body_start, p->hdr_vsize);
}

static void range_body(struct mime_range *r, const struct mime_part *p)
{
	range_set(r, p->body_start, p->body_end, p->body_vsize);
}

int mime_section_find(const struct mime_part *root, const uint32_t *nums, size_t count,
		      enum mime_section kind, struct mime_range *range_r, const char **error_r)
{
	const struct mime_part *part;

	if (count == 0) {
		switch (kind) {
		case MIME_SECTION_BODY:
			range_set(range_r, root->hdr_start, root->body_end,
				  root->hdr_vsize + root->body_vsize);
			return 0;
		case MIME_SECTION_HEADER:
			range_header(range_r, root);
			return 0;
		case MIME_SECTION_TEXT:
			range_body(range_r, root);
			return 0;
		case MIME_SECTION_MIME:
			break;
		}
		*error_r = "MIME needs a part number";
		return -1;
	}
	part = message_part(root, nums[0]);
	for (size_t i = 1; i < count && part != NULL; i++) {
		if ((part->flags & MIME_PART_MULTIPART) != 0)
			part = nth_child(part, nums[i]);
		else if ((part->flags & MIME_PART_MESSAGE) != 0 && part->children != NULL)
			part = message_part(part->children, nums[i]);
		else
			part = NULL;
	}
	if (part == NULL) {
		*error_r = "No such part";
		return -1;
	}
	switch (kind) {
	case MIME_SECTION_BODY:
		range_body(range_r, part);
		return 0;
	case MIME_SECTION_MIME:
		range_header(range_r, part);
		return 0;
	case MIME_SECTION_HEADER:
	case MIME_SECTION_TEXT:
		break;
	}
	if ((part->flags & MIME_PART_MESSAGE) == 0 || part->children == NULL) {
		*error_r = "Not a message/rfc822 part";
		return -1;
	}
	if (kind == MIME_SECTION_HEADER)
		range_header(range_r, part->children);
	else
		range_body(range_r, part->children);
	return 0;
}

/* ---- encoding ---- */

static int put_u64(struct buf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			b[n] |= 0x80;
		n++;
	} while (v != 0);
	return buf_append(out, b, n);
}

static int encode_part(struct buf *out, const struct mime_part *p)
{
	uint64_t hdr_size = p->body_start - p->hdr_start, body_size = p->body_end - p->body_start;

	if (put_u64(out, p->flags & PARTS_FLAGS_KNOWN) < 0 || put_u64(out, p->child_count) < 0 ||
	    put_u64(out, p->hdr_start) < 0 || put_u64(out, hdr_size) < 0 ||
	    put_u64(out, body_size) < 0 || put_u64(out, p->hdr_vsize - hdr_size) < 0 ||
	    put_u64(out, p->body_vsize - body_size) < 0 || put_u64(out, p->hdr_lines) < 0 ||
	    put_u64(out, p->body_lines) < 0 ||
	    put_u64(out, p->binary_size == UINT64_MAX ? 0 : p->binary_size + 1) < 0)
		return -1;
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		if (encode_part(out, c) < 0)
			return -1;
	}
	return 0;
}

int mime_parts_encode(const struct mime_part *root, struct buf *out)
{
	if (buf_append(out, PARTS_MAGIC, 2) < 0)
		return -1;
	return encode_part(out, root);
}

/* ---- decoding ---- */

struct decoder {
	const unsigned char *p, *end;
	struct arena *a;
	const char *error;
	unsigned int parts;
};

static int get_u64(struct decoder *d, uint64_t *v_r)
{
	uint64_t v = 0;

	for (unsigned int shift = 0; d->p < d->end; shift += 7) {
		unsigned char b = *d->p++;

		if (shift == 63 && (b & 0x7e) != 0)
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v_r = v;
			return 0;
		}
		if (shift == 63)
			break;
	}
	d->error = "Truncated or invalid number";
	return -1;
}

static bool add_ok(uint64_t a, uint64_t b, uint64_t *sum_r)
{
	*sum_r = a + b;
	return *sum_r >= a;
}

static struct mime_part *decode_part(struct decoder *d, struct mime_part *parent,
				     uint64_t min_start, unsigned int depth)
{
	uint64_t v[10];
	struct mime_part *p, *last = NULL;

	if (depth > PARTS_MAX_DEPTH) {
		d->error = "Parts nested too deep";
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		if (get_u64(d, &v[i]) < 0)
			return NULL;
	}
	p = arena_alloc(d->a, sizeof(*p));
	p->parent = parent;
	p->flags = (unsigned int)(v[0] & PARTS_FLAGS_KNOWN);
	p->hdr_start = v[2];
	if (v[0] != p->flags || v[1] > (uint64_t)(d->end - d->p) || v[2] < min_start ||
	    !add_ok(v[2], v[3], &p->body_start) || !add_ok(p->body_start, v[4], &p->body_end) ||
	    !add_ok(v[3], v[5], &p->hdr_vsize) || !add_ok(v[4], v[6], &p->body_vsize) ||
	    (parent != NULL && p->body_end > parent->body_end)) {
		d->error = "Invalid part";
		return NULL;
	}
	p->hdr_lines = v[7];
	p->body_lines = v[8];
	p->binary_size = v[9] == 0 ? UINT64_MAX : v[9] - 1;
	d->parts++;
	min_start = p->body_start;
	for (uint64_t i = 0; i < v[1]; i++) {
		struct mime_part *c = decode_part(d, p, min_start, depth + 1);

		if (c == NULL)
			return NULL;
		if (last == NULL)
			p->children = c;
		else
			last->next = c;
		last = c;
		p->child_count++;
		min_start = c->body_end;
	}
	return p;
}

int mime_parts_decode(const void *data, size_t len, struct arena *a, struct mime_part **root_r,
		      const char **error_r)
{
	struct decoder d = { .p = data, .end = (const unsigned char *)data + len, .a = a };
	struct mime_part *root;

	if (len < 2 || memcmp(data, PARTS_MAGIC, 2) != 0) {
		*error_r = "Not an encoded part tree";
		return -1;
	}
	d.p += 2;
	root = decode_part(&d, NULL, 0, 0);
	if (root != NULL && d.p != d.end)
		d.error = "Trailing bytes";
	if (root == NULL || d.p != d.end) {
		*error_r = d.error;
		return -1;
	}
	*root_r = root;
	return 0;
}
