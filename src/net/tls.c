#include "tls.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../lib/util.h"

/* TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are
   all forward-secret and keep OpenSSL's defaults. */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!DSS"

struct tls_server {
	pthread_mutex_t lock;
	SSL_CTX *ctx;
	struct tls_server_settings settings; /* strings copied */
};

static const char *tls_error(const char *what, const char *file)
{
	static _Thread_local char msg[512];
	char ossl[256] = "";
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	ERR_clear_error();
	snprintf(msg, sizeof(msg), "%s%s%s%s%s", what, file != NULL ? " " : "",
		 file != NULL ? file : "", ossl[0] != '\0' ? ": " : "", ossl);
	return msg;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	const char *want = arg;
	size_t wlen = strlen(want);

	(void)ssl;
	for (unsigned i = 0; i < inlen;) {
		unsigned len = in[i];

		if (i + 1 + len > inlen)
			break;
		if (len == wlen && memcmp(in + i + 1, want, len) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)len;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + len;
	}
	/* a client offering only other protocols still gets a session */
	return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *ctx_build(const struct tls_server_settings *s, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const char *sid = s->session_id_context != NULL ? s->session_id_context : "sora";

	if (ctx == NULL) {
		*error_r = tls_error("SSL_CTX_new failed", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* most mail clients just close the socket: without IGNORE_UNEXPECTED_EOF
	   OpenSSL 3 reports that as a protocol error. Our protocols frame their
	   own commands, so a truncation cannot pass for a complete one. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		*error_r = tls_error("cipher list rejected", NULL);
		goto fail;
	}
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid,
				       (unsigned)MIN(strlen(sid), SSL_MAX_SID_CTX_LENGTH));
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1) {
		*error_r = tls_error("cannot load certificate chain", s->cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, s->key_file, SSL_FILETYPE_PEM) != 1) {
		*error_r = tls_error("cannot load private key", s->key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_error("private key does not match certificate", s->key_file);
		goto fail;
	}
	if (s->verify_client) {
		if (s->client_ca_file != NULL) {
			STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->client_ca_file);

			if (names == NULL ||
			    SSL_CTX_load_verify_locations(ctx, s->client_ca_file, NULL) != 1) {
				if (names != NULL)
					sk_X509_NAME_pop_free(names, X509_NAME_free);
				*error_r = tls_error("cannot load client CA file",
						     s->client_ca_file);
				goto fail;
			}
			SSL_CTX_set_client_CA_list(ctx, names);
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			*error_r = tls_error("cannot load system CA roots", NULL);
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (s->alpn != NULL)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)s->alpn);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

struct tls_server *tls_server_new(const struct tls_server_settings *settings,
				  const char **error_r)
{
	struct tls_server *ts = xcalloc(1, sizeof(*ts));

	ts->settings = (struct tls_server_settings){
		.cert_file = dup_or_null(settings->cert_file),
		.key_file = dup_or_null(settings->key_file),
		.client_ca_file = dup_or_null(settings->client_ca_file),
		.verify_client = settings->verify_client,
		.alpn = dup_or_null(settings->alpn),
		.session_id_context = dup_or_null(settings->session_id_context),
	};
	pthread_mutex_init(&ts->lock, NULL);
	ts->ctx = ctx_build(&ts->settings, error_r);
	if (ts->ctx == NULL) {
		tls_server_free(&ts);
		return NULL;
	}
	return ts;
}

int tls_server_reload(struct tls_server *ts, const char **error_r)
{
	SSL_CTX *fresh = ctx_build(&ts->settings, error_r), *old;

	if (fresh == NULL)
		return -1;
	pthread_mutex_lock(&ts->lock);
	old = ts->ctx;
	ts->ctx = fresh;
	pthread_mutex_unlock(&ts->lock);
	SSL_CTX_free(old); /* SSLs made from it hold their own reference */
	return 0;
}

void tls_server_free(struct tls_server **tsp)
{
	struct tls_server *ts = *tsp;

	if (ts == NULL)
		return;
	SSL_CTX_free(ts->ctx);
	free((char *)ts->settings.cert_file);
	free((char *)ts->settings.key_file);
	free((char *)ts->settings.client_ca_file);
	free((char *)ts->settings.alpn);
	free((char *)ts->settings.session_id_context);
	pthread_mutex_destroy(&ts->lock);
	free(ts);
	*tsp = NULL;
}

SSL *tls_server_new_ssl(struct tls_server *ts)
{
	SSL *ssl;

	pthread_mutex_lock(&ts->lock);
	ssl = SSL_new(ts->ctx);
	pthread_mutex_unlock(&ts->lock);
	if (ssl == NULL)
		return NULL;
	SSL_set_accept_state(ssl);
	return ssl;
}

const char *tls_describe(SSL *ssl, char *buf, size_t size)
{
	snprintf(buf, size, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return buf;
}
