#include "xprt-deflate.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../lib/util.h"

#define ZIN_CHUNK 16384

struct xprt_deflate {
	z_stream def, inf;
	size_t passthrough;
	/* compressed output waiting for the lower transport */
	unsigned char *out;
	size_t out_len, out_off, out_cap;
	/* compressed input not yet inflated */
	unsigned char *in;
	size_t in_len, in_off, in_cap;
	bool inf_ended; /* the peer ended its stream (Z_STREAM_END) */
};

struct xprt_deflate *xprt_deflate_new(size_t passthrough)
{
	struct xprt_deflate *z = xcalloc(1, sizeof(*z));

	/* negative window bits: raw DEFLATE, as RFC 4978 §4 requires */
	if (deflateInit2(&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
		Z_OK ||
	    inflateInit2(&z->inf, -15) != Z_OK) {
		/* only out of memory gets here, and allocation failures abort */
		abort();
	}
	z->passthrough = passthrough;
	return z;
}

void xprt_deflate_free(struct xprt_deflate **zp)
{
	struct xprt_deflate *z = *zp;

	if (z == NULL)
		return;
	(void)deflateEnd(&z->def);
	(void)inflateEnd(&z->inf);
	free(z->out);
	free(z->in);
	free(z);
	*zp = NULL;
}

void xprt_deflate_push_input(struct xprt_deflate *z, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (z->in_off > 0) {
		memmove(z->in, z->in + z->in_off, z->in_len - z->in_off);
		z->in_len -= z->in_off;
		z->in_off = 0;
	}
	if (z->in_len + len > z->in_cap) {
		z->in_cap = z->in_len + len;
		z->in = xrealloc(z->in, z->in_cap);
	}
	memcpy(z->in + z->in_len, data, len);
	z->in_len += len;
}

bool xprt_deflate_out_pending(const struct xprt_deflate *z) { return z->out_off < z->out_len; }

bool xprt_deflate_in_pending(const struct xprt_deflate *z) { return z->in_off < z->in_len; }

/* Writes what is waiting. 0 when all went, -1 (errno) otherwise. */
static int flush_out(struct xprt_deflate *z, xprt_write_fn *lower, void *ctx)
{
	while (z->out_off < z->out_len) {
		ssize_t n = lower(ctx, z->out + z->out_off, z->out_len - z->out_off);

		if (n < 0)
			return -1;
		z->out_off += (size_t)n;
	}
	z->out_off = z->out_len = 0;
	return 0;
}

ssize_t xprt_deflate_write(struct xprt_deflate *z, xprt_write_fn *lower, void *ctx, const void *buf,
			   size_t len)
{
	size_t take;
	bool last;

	if (flush_out(z, lower, ctx) < 0)
		return -1;
	if (len == 0)
		return 0;
	if (z->passthrough > 0) {
		ssize_t n = lower(ctx, buf, MIN(len, z->passthrough));

		if (n > 0)
			z->passthrough -= (size_t)n;
		return n;
	}
	take = MIN(len, (size_t)XPRT_DEFLATE_CHUNK);
	last = take == len;
	/* deflateBound plus the sync flush marker bounds one call's output */
	{
		size_t need = deflateBound(&z->def, (uLong)take) + 16;

		if (need > z->out_cap) {
			z->out_cap = need;
			z->out = xrealloc(z->out, z->out_cap);
		}
	}
	z->def.next_in = (unsigned char *)(uintptr_t)buf;
	z->def.avail_in = (uInt)take;
	do {
		int ret;

		if (z->out_len == z->out_cap) {
			z->out_cap *= 2;
			z->out = xrealloc(z->out, z->out_cap);
		}
		z->def.next_out = z->out + z->out_len;
		z->def.avail_out = (uInt)(z->out_cap - z->out_len);
		ret = deflate(&z->def, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		if (ret == Z_STREAM_ERROR) {
			errno = EPROTO;
			return -1;
		}
		z->out_len = z->out_cap - z->def.avail_out;
	} while (z->def.avail_in > 0 || z->def.avail_out == 0);
	/* the input is taken; what the socket does not take now goes first
	   next time (out_pending keeps the caller polling for POLLOUT) */
	if (flush_out(z, lower, ctx) < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	return (ssize_t)take;
}

ssize_t xprt_deflate_read(struct xprt_deflate *z, xprt_read_fn *lower, void *ctx, void *buf,
			  size_t len)
{
	for (;;) {
		size_t produced;
		int ret;

		if (z->in_off == z->in_len) {
			ssize_t n;

			if (z->in_cap < ZIN_CHUNK) {
				z->in_cap = ZIN_CHUNK;
				z->in = xrealloc(z->in, z->in_cap);
			}
			z->in_off = z->in_len = 0;
			n = lower(ctx, z->in, z->in_cap);
			if (n <= 0)
				return n;
			z->in_len = (size_t)n;
		}
		if (z->inf_ended) {
			/* nothing may follow the end of the peer's stream */
			errno = EPROTO;
			return -1;
		}
		z->inf.next_in = z->in + z->in_off;
		z->inf.avail_in = (uInt)(z->in_len - z->in_off);
		z->inf.next_out = buf;
		z->inf.avail_out = (uInt)MIN(len, (size_t)UINT32_MAX);
		ret = inflate(&z->inf, Z_SYNC_FLUSH);
		z->in_off = z->in_len - z->inf.avail_in;
		produced = MIN(len, (size_t)UINT32_MAX) - z->inf.avail_out;
		if (ret == Z_STREAM_END) {
			z->inf_ended = true;
		} else if (ret != Z_OK && ret != Z_BUF_ERROR) {
			errno = EPROTO;
			return -1;
		}
		if (produced > 0)
			return (ssize_t)produced;
		if (z->inf_ended)
			return 0; /* the peer closed its stream: EOF */
	}
}
