#ifndef SORA_NET_XPRT_DEFLATE_H
#define SORA_NET_XPRT_DEFLATE_H

/* A raw DEFLATE (RFC 1951, no zlib or gzip header) layer over another
   transport, for IMAP COMPRESS=DEFLATE (RFC 4978). Knows no protocol and
   no socket: the lower transport is a pair of callbacks with the
   read()/write() convention of conn.c's transports (>0 bytes, 0 on EOF,
   -1 with errno, EAGAIN when not ready).

   Output: each write() call compresses at most XPRT_DEFLATE_CHUNK bytes
   and returns how many it took; the last piece of the caller's buffer is
   ended with Z_SYNC_FLUSH, so every burst of responses reaches the peer
   whole. Compressed bytes the lower transport did not take wait inside
   (xprt_deflate_out_pending) and go first on the next call; write() with
   len 0 only flushes them.

   Input: read() inflates into the caller's buffer, reading the lower
   transport only when no compressed input is left (so the buffered input
   stays under one lower read). A corrupt stream fails with EPROTO.

   Memory: about 300 KB of zlib state per connection (window 32 KB both
   ways, memLevel 8) plus the buffers. Not thread-safe; one per
   connection. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define XPRT_DEFLATE_CHUNK (64 * 1024)

struct xprt_deflate;

typedef ssize_t xprt_read_fn(void *ctx, void *buf, size_t len);
typedef ssize_t xprt_write_fn(void *ctx, const void *buf, size_t len);

/* passthrough: the next that many output bytes go out uncompressed (the
   protocol's "OK, compressing from now on" reply already queued). */
struct xprt_deflate *xprt_deflate_new(size_t passthrough);
void xprt_deflate_free(struct xprt_deflate **z);

/* Compressed bytes that arrived before the layer was set up (pipelined
   after the command): read() inflates them first. */
void xprt_deflate_push_input(struct xprt_deflate *z, const void *data, size_t len);

ssize_t xprt_deflate_read(struct xprt_deflate *z, xprt_read_fn *lower, void *ctx, void *buf,
			  size_t len);
ssize_t xprt_deflate_write(struct xprt_deflate *z, xprt_write_fn *lower, void *ctx, const void *buf,
			   size_t len);

/* Compressed output not yet taken by the lower transport. */
bool xprt_deflate_out_pending(const struct xprt_deflate *z);
/* Compressed input not yet inflated (no socket event will announce it). */
bool xprt_deflate_in_pending(const struct xprt_deflate *z);

#endif
