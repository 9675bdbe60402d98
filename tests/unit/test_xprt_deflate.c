/* net/xprt-deflate.h: the RFC 4978 DEFLATE layer against plain zlib on the
   other side, with a lower transport that takes only a few bytes at a
   time (or none: EAGAIN), the passthrough of the OK reply, pipelined
   compressed input, and corrupt or ended streams. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "net/xprt-deflate.h"

struct pipe {
	unsigned char buf[1 << 20];
	size_t len, off;
	size_t max_io; /* bytes per call; 0 = EAGAIN */
};

static ssize_t pipe_write(void *ctx, const void *data, size_t len)
{
	struct pipe *p = ctx;
	size_t n = len < p->max_io ? len : p->max_io;

	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	return (ssize_t)n;
}

static ssize_t pipe_read(void *ctx, void *data, size_t len)
{
	struct pipe *p = ctx;
	size_t n = p->len - p->off;

	if (n > p->max_io)
		n = p->max_io;
	if (n > len)
		n = len;
	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	memcpy(data, p->buf + p->off, n);
	p->off += n;
	return (ssize_t)n;
}

static size_t raw_deflate(const void *in, size_t len, unsigned char *out, size_t cap, int flush)
{
	z_stream z = {0};
	size_t n;

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_true(deflate(&z, flush) != Z_STREAM_ERROR);
	n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

static void test_write_passthrough_then_sync_flushed(void **state)
{
	static struct pipe p;
	struct xprt_deflate *z = xprt_deflate_new(9);
	const char *ok = "c OK go\r\n", *resp = "* 1 EXISTS\r\nd OK NOOP completed\r\n";
	unsigned char out[256];
	z_stream inf = {0};
	size_t off = 0;

	(void)state;
	p = (struct pipe){.max_io = 3};
	/* the OK goes out as it is, in 3-byte writes */
	while (off < strlen(ok)) {
		ssize_t n = xprt_deflate_write(z, pipe_write, &p, ok + off, strlen(ok) - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_int_equal(p.len, strlen(ok));
	assert_memory_equal(p.buf, ok, strlen(ok));
	/* then compressed; the socket takes 3 bytes a call, the rest waits */
	assert_int_equal(xprt_deflate_write(z, pipe_write, &p, resp, strlen(resp)),
			 (ssize_t)strlen(resp));
	while (xprt_deflate_out_pending(z))
		assert_true(xprt_deflate_write(z, pipe_write, &p, NULL, 0) >= 0);
	/* the burst is complete: it inflates now, without more input */
	assert_int_equal(inflateInit2(&inf, -15), Z_OK);
	inf.next_in = p.buf + strlen(ok);
	inf.avail_in = (uInt)(p.len - strlen(ok));
	inf.next_out = out;
	inf.avail_out = sizeof(out);
	assert_int_equal(inflate(&inf, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(sizeof(out) - inf.avail_out, strlen(resp));
	assert_memory_equal(out, resp, strlen(resp));
	inflateEnd(&inf);
	xprt_deflate_free(&z);
	assert_null(z);
}

static void test_write_eagain_keeps_output(void **state)
{
	static struct pipe p;
	struct xprt_deflate *z = xprt_deflate_new(0);

	(void)state;
	p = (struct pipe){.max_io = 0};
	/* the input is taken even when the socket takes nothing */
	assert_int_equal(xprt_deflate_write(z, pipe_write, &p, "hello\r\n", 7), 7);
	assert_true(xprt_deflate_out_pending(z));
	assert_int_equal(xprt_deflate_write(z, pipe_write, &p, NULL, 0), -1);
	assert_int_equal(errno, EAGAIN);
	p.max_io = 1000;
	assert_int_equal(xprt_deflate_write(z, pipe_write, &p, NULL, 0), 0);
	assert_false(xprt_deflate_out_pending(z));
	assert_true(p.len > 0);
	xprt_deflate_free(&z);
}

static void test_big_write_in_chunks(void **state)
{
	static struct pipe p;
	static unsigned char big[300000], back[300001];
	struct xprt_deflate *z = xprt_deflate_new(0);
	z_stream inf = {0};
	size_t off = 0;

	(void)state;
	p = (struct pipe){.max_io = 100000};
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)((i * 7919) >> 5);
	while (off < sizeof(big) || xprt_deflate_out_pending(z)) {
		ssize_t n = xprt_deflate_write(z, pipe_write, &p, big + off, sizeof(big) - off);

		assert_true(n >= 0);
		assert_true((size_t)n <= XPRT_DEFLATE_CHUNK);
		off += (size_t)n;
	}
	assert_int_equal(inflateInit2(&inf, -15), Z_OK);
	inf.next_in = p.buf;
	inf.avail_in = (uInt)p.len;
	inf.next_out = back;
	inf.avail_out = sizeof(back);
	assert_int_equal(inflate(&inf, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(sizeof(back) - inf.avail_out, sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	inflateEnd(&inf);
	xprt_deflate_free(&z);
}

static void test_read_pipelined_and_split(void **state)
{
	static struct pipe p;
	unsigned char comp[512];
	const char *cmds = "a NOOP\r\nb CAPABILITY\r\n";
	size_t n = raw_deflate(cmds, strlen(cmds), comp, sizeof(comp), Z_SYNC_FLUSH);
	char out[64];
	size_t got = 0;

	(void)state;
	for (size_t cut = 0; cut <= n; cut++) {
		struct xprt_deflate *z = xprt_deflate_new(0);

		/* the first cut bytes arrived with the COMPRESS command */
		xprt_deflate_push_input(z, comp, cut);
		p = (struct pipe){.max_io = 2};
		memcpy(p.buf, comp + cut, n - cut);
		p.len = n - cut;
		got = 0;
		for (;;) {
			ssize_t r = xprt_deflate_read(z, pipe_read, &p, out + got, 5);

			if (r < 0) {
				assert_int_equal(errno, EAGAIN);
				break;
			}
			assert_true(r > 0 && r <= 5);
			got += (size_t)r;
		}
		assert_int_equal(got, strlen(cmds));
		assert_memory_equal(out, cmds, got);
		assert_false(xprt_deflate_in_pending(z));
		xprt_deflate_free(&z);
	}
}

static void test_read_corrupt_and_ended(void **state)
{
	static struct pipe p;
	struct xprt_deflate *z = xprt_deflate_new(0);
	unsigned char comp[256];
	char out[64];
	size_t n;

	(void)state;
	p = (struct pipe){.max_io = 100};
	memcpy(p.buf, "\xff\xfe\xfd garbage", 11);
	p.len = 11;
	assert_int_equal(xprt_deflate_read(z, pipe_read, &p, out, sizeof(out)), -1);
	assert_int_equal(errno, EPROTO);
	xprt_deflate_free(&z);

	/* the peer ends its stream: EOF; anything after it is an error */
	z = xprt_deflate_new(0);
	n = raw_deflate("x\r\n", 3, comp, sizeof(comp), Z_FINISH);
	p = (struct pipe){.max_io = 100};
	memcpy(p.buf, comp, n);
	memcpy(p.buf + n, "more", 4);
	p.len = n + 4;
	assert_int_equal(xprt_deflate_read(z, pipe_read, &p, out, sizeof(out)), 3);
	assert_int_equal(xprt_deflate_read(z, pipe_read, &p, out, sizeof(out)), -1);
	assert_int_equal(errno, EPROTO);
	xprt_deflate_free(&z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_passthrough_then_sync_flushed),
	    cmocka_unit_test(test_write_eagain_keeps_output),
	    cmocka_unit_test(test_big_write_in_chunks),
	    cmocka_unit_test(test_read_pipelined_and_split),
	    cmocka_unit_test(test_read_corrupt_and_ended),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
