/* libFuzzer target for mime/mime.h.

   Input: a message. It is parsed twice, in one piece and fed in reads of
   1..61 bytes (size chosen from the input): everything the parser says
   (BODYSTRUCTURE, BODY, ENVELOPE, the stored part tree, text, preview) must
   be the same, since how the bytes arrive must not matter (STYLE §11).
   Odd-sized inputs use tiny limits so that every limit gets hit. Then the
   invariants: ranges nest inside the message, IMAP sizes are not smaller
   than raw ones, the text is valid UTF-8, the stored tree decodes to the
   same ranges. Violations abort, so libFuzzer reports them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x) \
	((x) ? (void)0 : (fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x), abort()))

static void render(const struct mime_message *msg, struct buf *out)
{
	FUZZ_ASSERT(buf_printf(out, "%llu %u ", (unsigned long long)msg->vsize,
			       msg->part_count) == 0);
	FUZZ_ASSERT(mime_bodystructure(msg->root, true, out) == 0);
	FUZZ_ASSERT(mime_bodystructure(msg->root, false, out) == 0);
	FUZZ_ASSERT(mime_envelope(msg->root->envelope, out) == 0);
	FUZZ_ASSERT(mime_parts_encode(msg->root, out) == 0);
	FUZZ_ASSERT(buf_append(out, msg->text, msg->text_len) == 0);
	FUZZ_ASSERT(buf_printf(out, "|%s|%s|%lld", msg->preview, msg->base_subject,
			       (long long)msg->date) == 0);
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t need = s[i] < 0x80 ? 1 : s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;

		if ((s[i] >= 0x80 && s[i] < 0xc2) || s[i] > 0xf4 || i + need > n)
			return false;
		for (size_t j = 1; j < need; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		}
		i += need;
	}
	return true;
}

static void check_part(const struct mime_part *p, uint64_t lo, uint64_t hi)
{
	uint64_t min_start = p->body_start;

	FUZZ_ASSERT(lo <= p->hdr_start && p->hdr_start <= p->body_start);
	FUZZ_ASSERT(p->body_start <= p->body_end && p->body_end <= hi);
	FUZZ_ASSERT(p->hdr_vsize >= p->body_start - p->hdr_start);
	FUZZ_ASSERT(p->body_vsize >= p->body_end - p->body_start);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		FUZZ_ASSERT(c->parent == p);
		check_part(c, min_start, p->body_end);
		min_start = c->body_end;
	}
}

/* every section the tree has resolves the same in the decoded copy */
static void check_sections(const struct mime_part *root, const struct mime_part *copy,
			   uint64_t size)
{
	static const enum mime_section kinds[] = { MIME_SECTION_BODY, MIME_SECTION_HEADER,
						   MIME_SECTION_TEXT, MIME_SECTION_MIME };
	uint32_t nums[3];

	for (uint32_t a = 0; a <= 4; a++) {
		for (uint32_t b = 0; b <= 3; b++) {
			size_t count = a == 0 ? 0 : b == 0 ? 1 : 2;

			nums[0] = a;
			nums[1] = b;
			for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
				struct mime_range r1, r2;
				const char *error;
				int ret1 = mime_section_find(root, nums, count, kinds[k], &r1, &error);
				int ret2 = mime_section_find(copy, nums, count, kinds[k], &r2, &error);

				FUZZ_ASSERT(ret1 == ret2);
				if (ret1 < 0)
					continue;
				FUZZ_ASSERT(r1.start == r2.start && r1.end == r2.end &&
					    r1.vsize == r2.vsize);
				FUZZ_ASSERT(r1.start <= r1.end && r1.end <= size);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	struct arena *a = arena_new(16 * 1024);
	struct mime_message *m1, *m2;
	struct mime_parser *p;
	struct mime_part *copy;
	struct buf r1, r2, blob;
	size_t step = 1 + size % 61;
	const char *error, *subject;
	int64_t t;
	int tz;

	if ((size & 1) != 0) {
		lim = (struct mime_limits){ .max_depth = 6, .max_parts = 40, .max_field = 200,
					    .max_header_total = 2000, .max_text = 64 };
	}
	FUZZ_ASSERT(mime_parse_limits((const char *)data, size, &lim, a, &m1, &error) == 0);
	p = mime_parser_new(a, &lim);
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;

		FUZZ_ASSERT(mime_parser_feed(p, data + off, n, &error) == 0);
	}
	m2 = mime_parser_finish(&p);

	buf_init(&r1, 0);
	buf_init(&r2, 0);
	buf_init(&blob, 0);
	render(m1, &r1);
	render(m2, &r2);
	FUZZ_ASSERT(r1.len == r2.len && memcmp(r1.data, r2.data, r1.len) == 0);

	FUZZ_ASSERT(m1->size == size && m1->vsize >= size);
	FUZZ_ASSERT(m1->part_count >= 1 && m1->part_count <= lim.max_parts + lim.max_depth);
	FUZZ_ASSERT(m1->text_len <= lim.max_text && valid_utf8((const void *)m1->text, m1->text_len));
	FUZZ_ASSERT(valid_utf8((const void *)m1->preview, strlen(m1->preview)));
	FUZZ_ASSERT(valid_utf8((const void *)m1->base_subject, strlen(m1->base_subject)));
	check_part(m1->root, 0, size);

	FUZZ_ASSERT(mime_parts_encode(m1->root, &blob) == 0);
	FUZZ_ASSERT(mime_parts_decode(blob.data, blob.len, a, &copy, &error) == 0);
	check_sections(m1->root, copy, size);
	/* the bytes as a stored blob: must fail or decode to a sane tree */
	if (mime_parts_decode(data, size, a, &copy, &error) == 0)
		check_part(copy, 0, UINT64_MAX);

	/* the same bytes as header values */
	(void)mime_date_parse((struct slice){ .ptr = (const char *)data, .len = size }, &t, &tz);
	(void)mime_address_parse((struct slice){ .ptr = (const char *)data, .len = size }, a);
	subject = mime_base_subject((struct slice){ .ptr = (const char *)data, .len = size }, a);
	FUZZ_ASSERT(valid_utf8((const void *)subject, strlen(subject)));

	buf_free(&r1);
	buf_free(&r2);
	buf_free(&blob);
	arena_free(&a);
	return 0;
}
