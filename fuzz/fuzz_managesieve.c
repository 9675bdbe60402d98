/* libFuzzer target for managesieve/managesieve-parser.h, driven the way
   the session drives it (managesieve-client.c): parse what has arrived,
   wait for r.need bytes, drop what errors say to drop (to the end of the
   line, or an oversized literal), alternate command and SASL-response
   mode as a session does after AUTHENTICATE.

   Input: 2 control bytes, then the client's byte stream. Byte 0 chooses
   the read sizes, byte 1 small or real limits. The stream is run twice,
   in those reads and in one piece: both must give the same commands and
   errors. Contract violations abort, so libFuzzer reports them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "managesieve/managesieve-parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x) \
	((x) ? (void)0 : (fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x), abort()))

struct run {
	struct buf in;     /* received, not consumed */
	struct buf out;    /* what was parsed */
	uint64_t skip_bytes;
	bool skip_line;
	bool sasl;         /* the next line is a SASL response */
	bool closed;
	size_t need;
};

static void record(struct run *r, const struct msieve_cmd *cmd)
{
	FUZZ_ASSERT(buf_printf(&r->out, "C%zu:", cmd->verb.len) == 0);
	FUZZ_ASSERT(buf_append(&r->out, cmd->verb.ptr, cmd->verb.len) == 0);
	FUZZ_ASSERT(cmd->count <= MSIEVE_MAX_ARGS);
	for (size_t i = 0; i < cmd->count; i++) {
		const struct msieve_arg *a = &cmd->args[i];

		FUZZ_ASSERT(a->str != NULL && a->str[a->len] == '\0');
		FUZZ_ASSERT(a->type == MSIEVE_ARG_STRING || a->len > 0);
		FUZZ_ASSERT(buf_printf(&r->out, " %d%zu:", (int)a->type, a->len) == 0);
		FUZZ_ASSERT(buf_append(&r->out, a->str, a->len) == 0);
	}
	FUZZ_ASSERT(buf_append(&r->out, "\n", 1) == 0);
}

static void consume(struct run *r, size_t n)
{
	FUZZ_ASSERT(n <= r->in.len);
	buf_consume(&r->in, n);
}

static void step(struct run *r, const struct msieve_parse_limits *lim, struct arena *a)
{
	while (!r->closed) {
		struct msieve_parse_result res;
		struct msieve_cmd cmd;
		int ret;

		if (r->skip_bytes > 0) {
			size_t n = (size_t)MIN((uint64_t)r->in.len, r->skip_bytes);

			consume(r, n);
			r->skip_bytes -= n;
			if (r->skip_bytes > 0)
				return;
		}
		if (r->skip_line) {
			const char *lf = memchr(r->in.data, '\n', r->in.len);

			if (lf == NULL) {
				consume(r, r->in.len);
				return;
			}
			consume(r, (size_t)(lf - r->in.data) + 1);
			r->skip_line = false;
		}
		if (r->in.len == 0 || r->in.len < r->need)
			return;
		arena_reset(a);
		ret = msieve_parse(buf_slice(&r->in), r->sasl, lim, a, &cmd, &res);
		if (ret == 0) {
			/* asking for what is already there would spin */
			FUZZ_ASSERT(res.need > r->in.len);
			r->need = res.need;
			return;
		}
		r->need = 0;
		if (ret > 0) {
			FUZZ_ASSERT(res.used > 0 && res.used <= r->in.len);
			FUZZ_ASSERT(!r->sasl || cmd.count == 1);
			record(r, &cmd);
			consume(r, res.used);
			/* a session enters SASL mode after AUTHENTICATE, leaves it
			   after one response */
			r->sasl = !r->sasl && slice_eq_ci(cmd.verb, "AUTHENTICATE") &&
				  cmd.count == 1;
			continue;
		}
		FUZZ_ASSERT(res.msg != NULL);
		FUZZ_ASSERT(buf_printf(&r->out, "E%d %s\n", (int)res.error, res.msg) == 0);
		switch (res.error) {
		case MSIEVE_PERR_LINE_TOO_LONG:
			r->closed = true;
			return;
		case MSIEVE_PERR_LITERAL_SIZE:
			FUZZ_ASSERT(res.literal_size > lim->max_literal);
			FUZZ_ASSERT(res.used > 0 && res.used <= r->in.len);
			consume(r, res.used);
			r->skip_bytes = res.literal_size;
			r->skip_line = true;
			break;
		case MSIEVE_PERR_SYNTAX:
			FUZZ_ASSERT(res.used <= r->in.len);
			FUZZ_ASSERT(res.used > 0 || res.skip_line);
			consume(r, res.used);
			r->skip_line = res.skip_line;
			break;
		}
		r->sasl = false;
	}
}

static void run(const uint8_t *data, size_t size, size_t chunk,
		const struct msieve_parse_limits *lim, struct buf *out)
{
	struct arena *a = arena_new(4096);
	struct run r = { 0 };

	buf_init(&r.in, 0);
	buf_init(&r.out, 0);
	for (size_t off = 0; off < size && !r.closed; off += chunk) {
		size_t n = MIN(chunk, size - off);

		FUZZ_ASSERT(buf_append(&r.in, data + off, n) == 0);
		step(&r, lim, a);
	}
	*out = r.out;
	buf_free(&r.in);
	arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msieve_parse_limits small = { .max_line = 64, .max_literal = 32 };
	struct msieve_parse_limits real = { .max_line = 8192, .max_literal = 16384 };
	const struct msieve_parse_limits *lim;
	struct buf a, b;
	size_t chunk;

	if (size < 2)
		return 0;
	chunk = 1 + data[0] % 17;
	lim = data[1] & 1 ? &small : &real;
	data += 2;
	size -= 2;
	run(data, size, chunk, lim, &a);
	run(data, size, size == 0 ? 1 : size, lim, &b);
	/* a line too long may be seen at a different place when split, but
	   what came before it must agree */
	if (memmem(a.data != NULL ? a.data : "", a.len, "E2 ", 3) == NULL &&
	    memmem(b.data != NULL ? b.data : "", b.len, "E2 ", 3) == NULL) {
		FUZZ_ASSERT(a.len == b.len);
		FUZZ_ASSERT(a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
