/* libFuzzer target for the POP3 command reader (src/pop3): every line of
   the input through the command splitter and the XCLIENT parser, and the
   whole input as a message body through the RETR/TOP dot-stuffer, whose
   output must end with the terminator and never hold a lone "." line
   before it (a message must not be able to end the response early).
   Under gcc it replays fuzz/corpus/pop3/ as an ordinary test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/pop3-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_line(struct slice line)
{
	struct pop3_xclient_params xp = { 0 };
	struct pop3_cmd cmd;

	pop3_parse_line(line, &cmd);
	if (cmd.arg_count > POP3_MAX_ARGS || cmd.verb.ptr != line.ptr || cmd.verb.len > line.len)
		abort();
	for (size_t i = 0; i < cmd.arg_count; i++) {
		if (cmd.args[i].len == 0 || cmd.args[i].ptr < line.ptr ||
		    cmd.args[i].ptr + cmd.args[i].len > line.ptr + line.len)
			abort();
	}
	(void)pop3_xclient_parse(&cmd, &xp);
}

static void check_stuffed(const struct buf *out)
{
	size_t start = 0;

	if (out->len < 3 || memcmp(out->data + out->len - 3, ".\r\n", 3) != 0)
		abort();
	if (out->len > 3 && (out->len < 5 || memcmp(out->data + out->len - 5, "\r\n", 2) != 0))
		abort();
	for (size_t i = 0; i < out->len; i++) {
		if (out->data[i] != '\n')
			continue;
		/* a line "." anywhere but at the very end would end the reply */
		if (i + 1 != out->len && out->data[start] == '.' &&
		    (i - start == 1 || (i - start == 2 && out->data[start + 1] == '\r')))
			abort();
		start = i + 1;
	}
}

static void fuzz_body(const uint8_t *data, size_t size, bool top, uint32_t lines)
{
	struct pop3_stream s = { .kind = POP3_STREAM_BODY, .bol = true, .top = top,
				 .lines_left = lines };
	struct buf out;

	buf_init(&s.body, 0);
	buf_init(&out, 0);
	(void)buf_append(&s.body, data, size);
	while (!pop3_body_fill(&s, &out)) {
		if (out.len > 4 * size + 1024 * 1024)
			abort();
	}
	check_stuffed(&out);
	buf_free(&out);
	buf_free(&s.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t len = lf != NULL ? (size_t)(lf - p) : (size_t)(end - p);
		struct slice line = slice_from(p, len);

		if (line.len > 0 && line.ptr[line.len - 1] == '\r')
			line.len--;
		fuzz_line(line);
		p += len + (lf != NULL ? 1 : 0);
	}
	fuzz_body(data, size, false, 0);
	fuzz_body(data, size, true, size > 0 ? data[0] % 8 : 0);
	return 0;
}
