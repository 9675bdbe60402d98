#ifndef SORA_NET_PROXY_H
#define SORA_NET_PROXY_H

/* PROXY protocol v1 (text) and v2 (binary) header parser, as sent by
   HAProxy's send-proxy / send-proxy-v2 (spec: haproxy doc/proxy-protocol.txt).
   Pure: no I/O, no allocation, no logging. The caller accumulates bytes from
   the socket and calls proxy_parse() with all of them each time. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Largest header we accept: v1 is at most 107 bytes by spec; for v2 we cap
   the TLV area, since a real proxy sends a few dozen bytes. */
#define PROXY_V1_MAX 107
#define PROXY_V2_MAX (16 + 1024)

struct proxy_info {
	int version;          /* 1 or 2 */
	bool is_local;        /* v2 LOCAL, v1 UNKNOWN, or v2 UNSPEC family: keep the socket peer */
	struct sockaddr_storage src, dst; /* valid when !is_local (ports set) */
	char session_id[65];  /* TLV 0xE1 if present (printable ASCII only), else "" */
	char ja4[65];         /* TLV 0xE0 if present (printable ASCII only), else "" */
	char authority[256];  /* PP2_TYPE_AUTHORITY (SNI) if present, else "" */
};

/* data/len: every byte received so far (the header must be the first bytes
   of the connection).
   1: header complete; *info_r filled, *used_r = header length (bytes after
      it belong to the next layer, e.g. a TLS ClientHello).
   0: not enough bytes yet to decide; nothing is filled.
  -1: malformed, not a PROXY header at all, or over the size limits;
      *error_r is a static string. */
int proxy_parse(const void *data, size_t len, struct proxy_info *info_r, size_t *used_r,
		const char **error_r);

#endif
