/* libFuzzer target for the COMPRESS=DEFLATE input side (net/xprt-deflate.c).

   The input is what a client sends after COMPRESS DEFLATE: raw DEFLATE or
   garbage. It reaches xprt_deflate_read() in pieces of varying size
   (the first byte picks the piece and output sizes), as socket reads
   would deliver it. Checks: no read past a piece, output within the
   buffer given, and once the stream failed (EPROTO) or ended it stays so;
   a decompression bomb yields bounded output per call. Then the output
   side: the input is compressed and inflated back with plain zlib, which
   must give it back unchanged. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "net/xprt-deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fuzz_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	abort();
}

#define FUZZ_CHECK(x) ((x) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #x))

struct feed {
	const uint8_t *data;
	size_t size, off, piece;
	uint8_t *out;
	size_t out_len, out_cap;
};

static ssize_t feed_read(void *ctx, void *buf, size_t len)
{
	struct feed *f = ctx;
	size_t n = f->size - f->off;

	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (n > f->piece)
		n = f->piece;
	if (n > len)
		n = len;
	/* an exact-size heap copy: ASan sees any overread */
	{
		uint8_t *p = malloc(n);

		memcpy(p, f->data + f->off, n);
		memcpy(buf, p, n);
		free(p);
	}
	f->off += n;
	return (ssize_t)n;
}

static ssize_t sink_write(void *ctx, const void *buf, size_t len)
{
	struct feed *f = ctx;

	if (f->out_len + len > f->out_cap) {
		f->out_cap = (f->out_len + len) * 2;
		f->out = realloc(f->out, f->out_cap);
		FUZZ_CHECK(f->out != NULL);
	}
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
	return (ssize_t)len;
}

static void check_inflate(const uint8_t *data, size_t size, size_t piece, size_t outsz)
{
	struct xprt_deflate *z = xprt_deflate_new(0);
	struct feed f = {.data = data, .size = size, .piece = piece};
	uint8_t *out = malloc(outsz);
	size_t total = 0;

	for (int guard = 0; guard < 100000; guard++) {
		ssize_t n = xprt_deflate_read(z, feed_read, &f, out, outsz);

		if (n > 0) {
			FUZZ_CHECK((size_t)n <= outsz);
			total += (size_t)n;
			continue;
		}
		if (n == 0 || errno != EAGAIN) {
			/* the end, or a broken stream: it stays broken */
			ssize_t again = xprt_deflate_read(z, feed_read, &f, out, outsz);

			FUZZ_CHECK(again <= 0);
			break;
		}
		if (f.off == f.size)
			break; /* all consumed, waiting for more */
	}
	(void)total;
	free(out);
	xprt_deflate_free(&z);
	FUZZ_CHECK(z == NULL);
}

static void check_roundtrip(const uint8_t *data, size_t size)
{
	struct xprt_deflate *z = xprt_deflate_new(0);
	struct feed f = {0};
	size_t off = 0;
	z_stream inf = {0};
	uint8_t *back = malloc(size + 1);

	while (off < size) {
		ssize_t n = xprt_deflate_write(z, sink_write, &f, data + off, size - off);

		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	FUZZ_CHECK(!xprt_deflate_out_pending(z));
	FUZZ_CHECK(inflateInit2(&inf, -15) == Z_OK);
	inf.next_in = f.out;
	inf.avail_in = (uInt)f.out_len;
	inf.next_out = back;
	inf.avail_out = (uInt)size + 1;
	/* sync-flushed: everything comes out without more input */
	(void)inflate(&inf, Z_SYNC_FLUSH);
	FUZZ_CHECK(inf.avail_out == 1);
	FUZZ_CHECK(size == 0 || memcmp(back, data, size) == 0);
	inflateEnd(&inf);
	free(back);
	free(f.out);
	xprt_deflate_free(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t piece, outsz;

	if (size < 1)
		return 0;
	piece = (size_t)(data[0] & 0x0f) * 97 + 1;
	outsz = (size_t)(data[0] >> 4) * 301 + 1;
	check_inflate(data + 1, size - 1, piece, outsz);
	check_roundtrip(data + 1, size - 1);
	return 0;
}
