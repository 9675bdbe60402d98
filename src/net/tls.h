#ifndef SORA_NET_TLS_H
#define SORA_NET_TLS_H

/* Server-side TLS contexts (OpenSSL 3). One tls_server per configured
   server: TLS 1.2 minimum, forward-secret ciphers only, the whole chain
   from the certificate file, session resumption (cache and tickets), no
   renegotiation, buffers released on idle connections, and optionally a
   required client certificate. tls_server_reload() swaps in a freshly
   loaded context (SIGHUP): connections made before keep the old one, which
   OpenSSL frees with its last SSL. Thread-safe. */

#include <openssl/ssl.h>
#include <stdbool.h>

struct tls_server_settings {
	const char *cert_file, *key_file;
	const char *client_ca_file; /* NULL: system roots (with verify_client) */
	bool verify_client;         /* require and verify a client certificate */
	const char *alpn;           /* protocol name we accept in ALPN, or NULL */
	const char *session_id_context; /* distinguishes servers' session caches */
};

struct tls_server;

/* error_r points into a thread-local buffer valid until the next call. */
struct tls_server *tls_server_new(const struct tls_server_settings *settings,
				  const char **error_r);
int tls_server_reload(struct tls_server *ts, const char **error_r);
void tls_server_free(struct tls_server **ts);

/* A new server-side SSL for one connection (accept state). */
SSL *tls_server_new_ssl(struct tls_server *ts);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" into buf. */
const char *tls_describe(SSL *ssl, char *buf, size_t size);

#endif
