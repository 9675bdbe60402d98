/* libFuzzer target for the LMTP command reader (src/lmtp/lmtp-parse.h):
   every line of the input goes through the command splitter, the MAIL/RCPT
   path parser, the BDAT and XCLIENT parsers; the whole input also goes
   through the DATA reader (dot-stuffing, final dot) in small pieces, which
   must always make progress and never emit more than it consumed. Under
   gcc it replays fuzz/corpus/lmtp/ as an ordinary test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp/lmtp-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_line(struct slice line)
{
	struct slice verb, params, addr, rest;
	struct lmtp_xclient x;
	const char *error;
	uint64_t n;
	bool last;

	lmtp_split_command(line, &verb, &params);
	if (verb.len > line.len || params.ptr < line.ptr ||
	    params.ptr + params.len > line.ptr + line.len)
		abort();
	if (lmtp_parse_path(params, "FROM:", &addr, &rest) == 0 && addr.len >= 255)
		abort();
	(void)lmtp_parse_path(params, "TO:", &addr, &rest);
	(void)lmtp_parse_bdat(params, &n, &last);
	if (lmtp_parse_xclient(params, &x, &error) == 0) {
		/* decoded values must be safe for a header: printable, no CR/LF */
		const char *fields[] = { x.addr, x.proto, x.helo, x.name, x.login };

		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			for (const char *p = fields[i]; *p != '\0'; p++) {
				if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
					abort();
			}
		}
	}
}

static void fuzz_data(const char *data, size_t size)
{
	struct lmtp_data_reader r = { 0 };
	size_t pos = 0, max_piece = 1 + (size > 0 ? (unsigned char)data[0] % 64 : 0);

	while (pos < size) {
		struct slice piece;
		size_t used;
		enum lmtp_data_step st = lmtp_data_step(&r, slice_from(data + pos, size - pos),
							max_piece, &used, &piece);

		if (st == LMTP_DATA_NEED_MORE)
			break;
		if (used == 0 || used > size - pos || piece.len > used)
			abort();
		pos += used;
		if (st == LMTP_DATA_END)
			r = (struct lmtp_data_reader){ 0 };
	}
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
	fuzz_data((const char *)data, size);
	return 0;
}
