/* libFuzzer target for imap/imap-parser.h.

   Input: 4 control bytes, then the client's byte stream. Bytes 0-2 choose
   the sizes of the reads the stream arrives in; byte 3 chooses the limits
   (small ones, so that every limit gets hit). The stream is parsed twice,
   in those reads and in one piece: both must give the same commands and
   errors, since how the bytes were split must not matter (STYLE §11).
   Contract violations abort, so libFuzzer reports them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x) \
	((x) ? (void)0 : (fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x), abort()))

struct fuzz_run {
	struct imap_parser *p;
	struct arena *arena;
	struct imap_parser_limits limits[2];
	unsigned limits_idx;
	bool switch_limits;
	struct buf pending;
	struct buf out; /* what was parsed, to compare the two runs */
};

static void out_put(struct buf *out, const void *ptr, size_t len)
{
	FUZZ_ASSERT(buf_append(out, ptr, len) == 0);
}

static void out_str(struct buf *out, struct slice s)
{
	FUZZ_ASSERT(s.ptr != NULL && s.ptr[s.len] == '\0');
	FUZZ_ASSERT(buf_printf(out, "%zu:", s.len) == 0);
	out_put(out, s.ptr, s.len);
}

static void out_args(struct buf *out, const struct imap_arg *args, size_t count, unsigned depth,
		     const struct imap_parser_limits *limits)
{
	FUZZ_ASSERT(count == 0 || args != NULL);
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];

		FUZZ_ASSERT(!a->literal8 || a->type == IMAP_ARG_LITERAL);
		switch (a->type) {
		case IMAP_ARG_ATOM:
			FUZZ_ASSERT(a->str.len > 0);
			out_put(out, "A", 1);
			out_str(out, a->str);
			break;
		case IMAP_ARG_NIL:
			FUZZ_ASSERT(slice_eq_ci(a->str, "NIL"));
			out_put(out, "N", 1);
			break;
		case IMAP_ARG_QUOTED:
			out_put(out, "Q", 1);
			out_str(out, a->str);
			break;
		case IMAP_ARG_LITERAL:
			FUZZ_ASSERT(a->str.len <= limits->max_literal);
			out_put(out, a->literal8 ? "8" : "L", 1);
			out_str(out, a->str);
			break;
		case IMAP_ARG_LIST:
			FUZZ_ASSERT(depth < limits->max_depth);
			out_put(out, "(", 1);
			out_args(out, a->list, a->list_count, depth + 1, limits);
			out_put(out, ")", 1);
			break;
		default:
			FUZZ_ASSERT(!"unknown argument type");
		}
	}
}

static void run_result(struct fuzz_run *r, int ret, struct imap_cmd_args *cmd, const char *error)
{
	const struct imap_parser_limits *limits = &r->limits[r->limits_idx];

	if (ret == 1) {
		FUZZ_ASSERT(imap_parser_is_idle(r->p));
		FUZZ_ASSERT(cmd != NULL && cmd->tag.len > 0 && cmd->name.len > 0);
		out_put(&r->out, "C", 1);
		out_str(&r->out, cmd->tag);
		out_str(&r->out, cmd->name);
		out_args(&r->out, cmd->args, cmd->count, 0, limits);
		out_put(&r->out, "\n", 1);
		arena_reset(r->arena);
	} else {
		const char *tag = imap_parser_tag(r->p);

		FUZZ_ASSERT(ret == -1 && error != NULL);
		FUZZ_ASSERT(buf_printf(&r->out, "E%s %s\n", tag == NULL ? "-" : tag, error) == 0);
	}
	/* e.g. tighter limits before LOGIN, looser after */
	if (r->switch_limits) {
		r->limits_idx ^= 1;
		imap_parser_set_limits(r->p, &r->limits[r->limits_idx]);
	}
}

static void run_read(struct fuzz_run *r, const uint8_t *data, size_t len)
{
	out_put(&r->pending, data, len);
	while (r->pending.len > 0) {
		struct imap_cmd_args *cmd = NULL;
		const char *error = NULL;
		size_t used = SIZE_MAX;
		int ret = imap_parser_feed(r->p, buf_slice(&r->pending), &used, r->arena, &cmd,
					   &error);

		FUZZ_ASSERT(used <= r->pending.len);
		if (ret == 0) {
			FUZZ_ASSERT(used == r->pending.len);
			(void)imap_parser_wants_continuation(r->p);
			buf_clear(&r->pending);
			return;
		}
		FUZZ_ASSERT(used > 0);
		run_result(r, ret, cmd, error);
		buf_consume(&r->pending, used);
	}
}

static void run_init(struct fuzz_run *r, uint8_t ctl)
{
	*r = (struct fuzz_run){
		.limits = {
			{ .max_line = 96, .max_literal = 48, .max_command = 192, .max_depth = 3,
			  .max_args = 12 },
			/* big enough to reach the LITERAL- limit of 4096 */
			{ .max_line = 256, .max_literal = 8192, .max_command = 12000,
			  .max_depth = 6, .max_args = 40 },
		},
		.limits_idx = ctl & 1,
		.switch_limits = (ctl & 2) != 0,
	};
	r->limits[0].literal_minus_only = (ctl & 4) != 0;
	r->limits[1].literal_minus_only = (ctl & 8) == 0;
	r->p = imap_parser_new(&r->limits[r->limits_idx]);
	r->arena = arena_new(512);
	buf_init(&r->pending, 0);
	buf_init(&r->out, 0);
}

static void run_deinit(struct fuzz_run *r)
{
	imap_parser_free(&r->p);
	arena_free(&r->arena);
	buf_free(&r->pending);
	buf_free(&r->out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run split, whole;
	const uint8_t *ctl = data;
	size_t pos = 0, k = 0;

	if (size < 4)
		return 0;
	data += 4;
	size -= 4;

	run_init(&split, ctl[3]);
	while (pos < size) {
		/* 1..64 bytes a read, or 0xff: all the rest at once */
		size_t n = ctl[k++ % 3] == 0xff ? size - pos : (size_t)(ctl[(k - 1) % 3] % 64) + 1;

		n = MIN(n, size - pos);
		run_read(&split, data + pos, n);
		pos += n;
	}

	run_init(&whole, ctl[3]);
	if (size > 0)
		run_read(&whole, data, size);
	FUZZ_ASSERT(split.out.len == whole.out.len);
	FUZZ_ASSERT(split.out.len == 0 || memcmp(split.out.data, whole.out.data, split.out.len) == 0);
	FUZZ_ASSERT(imap_parser_is_idle(split.p) == imap_parser_is_idle(whole.p));

	run_deinit(&split);
	run_deinit(&whole);
	return 0;
}
