/* The "s3" blob driver: libcurl with its built-in SigV4 signing
   (CURLOPT_AWS_SIGV4), path-style URLs http(s)://endpoint/bucket/key.

   What curl 7.88 leaves to us (spec/dependencies.md §2):
   - it signs the x-amz-content-sha256 header we give but does not add
     one: we always send the payload's hex SHA-256 (a file body is read
     once for it before the upload);
   - it copies path and query into the canonical request verbatim: keys
     are RFC 3986-encoded by blob_key_url_encode(), query parameters are
     given sorted by name with encoded values, and the bucket URL has no
     trailing '/'.

   Connections: a pool of at most pool_size curl easy handles, each keeping
   its own connection alive between requests (curl_easy_reset() keeps
   live connections). A call takes a handle (waiting if all are busy),
   runs one request on it and puts it back: handles are never shared by
   two threads at once, which is all libcurl asks. LIFO, so the warmest
   connection is reused first.

   Failures: network errors, timeouts, 5xx, 408 and 429 are BLOB_TEMPORARY
   and retried up to max_attempts with jittered exponential backoff (the
   worker thread sleeps: this runs on workers only). Other 4xx are
   BLOB_PERMANENT (a wrong secret: SignatureDoesNotMatch), 404 is
   BLOB_NOT_FOUND. Messages carry the HTTP status and S3's error <Code>,
   never the credentials, the signature nor the key. The secret is wiped
   at close. */

#include "blob-private.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_LIST_BODY_MAX (16 * 1024 * 1024)
#define S3_ERROR_BODY_MAX (64 * 1024)
#define S3_HASH_CHUNK (256 * 1024)
#define S3_BACKOFF_MAX_MS 5000
#define S3_URL_MAX (16 * 1024)

struct blob_s3 {
	struct blob b;
	char *base_url; /* scheme://endpoint/bucket */
	char *bucket;
	char *access_key, *secret_key;
	char *sigv4;
	char *ca_file;
	uint64_t timeout_ms, retry_base_ms;
	uint32_t max_attempts, page_size;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	CURL **idle;
	size_t idle_count, total, pool_size;
};

enum s3_method { S3_GET, S3_PUT, S3_HEAD, S3_DELETE };

struct s3_req {
	enum blob_op op;
	enum s3_method method;
	const char *url;
	const char *payload_hash;
	const char *copy_source;      /* x-amz-copy-source, or NULL */
	struct blob_istream *upload;  /* PUT body, NULL: empty */
	struct blob_sink *sink;       /* 2xx GET body, NULL: into body */
	const char *range;            /* GET: "first-last" (HTTP Range), or NULL */
	uint64_t range_offset, range_len; /* a 200 answer to it: skip / keep */
	uint64_t range_pos;
	size_t body_max;
	struct buf body;              /* list result or error document */

	long status;
	curl_off_t content_length;
	CURL *h;
	bool sink_failed, upload_failed, body_overflow;
	struct blob_error cb_err;
};

static pthread_once_t s3_global_once = PTHREAD_ONCE_INIT;
static CURLcode s3_global_rc;

static void s3_global_init(void)
{
	s3_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- handle pool --------------------------------------------------------- */

static CURL *s3_handle_take(struct blob_s3 *s3)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s3->lock);
	while (s3->idle_count == 0 && s3->total >= s3->pool_size)
		pthread_cond_wait(&s3->cond, &s3->lock);
	if (s3->idle_count > 0)
		h = s3->idle[--s3->idle_count];
	else
		s3->total++;
	pthread_mutex_unlock(&s3->lock);
	if (h == NULL) {
		h = curl_easy_init();
		REQUIRE(h != NULL);
	}
	return h;
}

static void s3_handle_give(struct blob_s3 *s3, CURL *h)
{
	pthread_mutex_lock(&s3->lock);
	s3->idle[s3->idle_count++] = h;
	pthread_cond_signal(&s3->cond);
	pthread_mutex_unlock(&s3->lock);
}

/* ---- one request --------------------------------------------------------- */

static size_t s3_write_cb(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct s3_req *r = ctx;
	size_t len = size * nmemb;
	long status = 0;

	(void)curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && r->sink != NULL) {
		if (r->range != NULL && status != 206) {
			/* a store that ignores Range sends it all: keep the range */
			uint64_t from = r->range_pos, to = from + len;
			uint64_t end = r->range_offset + r->range_len;

			r->range_pos = to;
			if (to <= r->range_offset || from >= end)
				return len;
			data += MAX(from, r->range_offset) - from;
			len = (size_t)(MIN(to, end) - MAX(from, r->range_offset));
			if (blob_sink_write(r->sink, data, len, &r->cb_err) < 0) {
				r->sink_failed = true;
				return 0;
			}
			return size * nmemb;
		}
		if (blob_sink_write(r->sink, data, len, &r->cb_err) < 0) {
			r->sink_failed = true;
			return 0;
		}
		return len;
	}
	if (r->body.len + len > r->body_max) {
		if (status >= 200 && status < 300) {
			r->body_overflow = true;
			return 0;
		}
		return len; /* an error document: its start is enough */
	}
	(void)buf_append(&r->body, data, len);
	return len;
}

static size_t s3_read_cb(char *buf, size_t size, size_t nitems, void *ctx)
{
	struct s3_req *r = ctx;
	size_t n = 0;

	if (r->upload == NULL)
		return 0;
	if (r->upload->read(r->upload, buf, size * nitems, &n, &r->cb_err) < 0) {
		r->upload_failed = true;
		return CURL_READFUNC_ABORT;
	}
	return n;
}

static int s3_seek_cb(void *ctx, curl_off_t offset, int origin)
{
	struct s3_req *r = ctx;

	if (r->upload == NULL || offset != 0 || origin != SEEK_SET)
		return CURL_SEEKFUNC_CANTSEEK;
	if (r->upload->rewind(r->upload, &r->cb_err) < 0) {
		r->upload_failed = true;
		return CURL_SEEKFUNC_FAIL;
	}
	return CURL_SEEKFUNC_OK;
}

static enum blob_err s3_curl_class(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_AGAIN:
		return BLOB_TEMPORARY;
	default:
		return BLOB_PERMANENT;
	}
}

static enum blob_err s3_http_class(const struct s3_req *r, const char *code)
{
	if (strcmp(code, "SlowDown") == 0 || strcmp(code, "RequestTimeout") == 0 ||
	    strcmp(code, "InternalError") == 0 || strcmp(code, "ServiceUnavailable") == 0)
		return BLOB_TEMPORARY;
	if (r->status == 404 && strcmp(code, "NoSuchBucket") != 0)
		return BLOB_NOT_FOUND;
	if (r->status >= 500 || r->status == 408 || r->status == 429)
		return BLOB_TEMPORARY;
	return BLOB_PERMANENT;
}

/* Fills *err from a non-2xx (or a 200 carrying an <Error>) response. */
static void s3_http_error(const struct s3_req *r, struct blob_error *err)
{
	char code[64] = "";

	if (r->body.len > 0)
		(void)blob_s3_xml_find(r->body.data, r->body.len, "Code", code, sizeof(code));
	blob_error_set(err, s3_http_class(r, code), "S3 %s: HTTP %ld%s%s", blob_op_name(r->op),
		       r->status, code[0] != '\0' ? " " : "", code);
}

static struct curl_slist *s3_headers(const struct s3_req *r)
{
	struct curl_slist *hdrs = NULL, *next;
	char line[128 + S3_URL_MAX];

	(void)snprintf(line, sizeof(line), "x-amz-content-sha256: %s", r->payload_hash);
	hdrs = curl_slist_append(hdrs, line);
	REQUIRE(hdrs != NULL);
	if (r->copy_source != NULL) {
		REQUIRE(snprintf(line, sizeof(line), "x-amz-copy-source: %s", r->copy_source) <
			(int)sizeof(line));
		next = curl_slist_append(hdrs, line);
		REQUIRE(next != NULL);
		hdrs = next;
	}
	return hdrs;
}

static bool s3_setup(struct blob_s3 *s3, struct s3_req *r, struct curl_slist *hdrs,
		     char *errbuf)
{
	CURL *h = r->h;
	bool ok = true;
	long stall_s = (long)MAX(1, s3->timeout_ms / 1000);

#define S3_OPT(opt, val) (ok = ok && curl_easy_setopt(h, opt, val) == CURLE_OK)
	S3_OPT(CURLOPT_URL, r->url);
	S3_OPT(CURLOPT_PROTOCOLS_STR, "http,https");
	S3_OPT(CURLOPT_NOSIGNAL, 1L);
	S3_OPT(CURLOPT_ERRORBUFFER, errbuf);
	S3_OPT(CURLOPT_AWS_SIGV4, s3->sigv4);
	S3_OPT(CURLOPT_USERNAME, s3->access_key);
	S3_OPT(CURLOPT_PASSWORD, s3->secret_key);
	S3_OPT(CURLOPT_HTTPHEADER, hdrs);
	S3_OPT(CURLOPT_CONNECTTIMEOUT_MS, (long)s3->timeout_ms);
	S3_OPT(CURLOPT_WRITEFUNCTION, s3_write_cb);
	S3_OPT(CURLOPT_WRITEDATA, r);
	S3_OPT(CURLOPT_TCP_KEEPALIVE, 1L);
	if (s3->ca_file != NULL)
		S3_OPT(CURLOPT_CAINFO, s3->ca_file);
	if (r->method == S3_GET || (r->method == S3_PUT && r->upload != NULL)) {
		/* bodies may be big: give up on a stall, not on the total time */
		S3_OPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
		S3_OPT(CURLOPT_LOW_SPEED_TIME, stall_s);
	} else {
		S3_OPT(CURLOPT_TIMEOUT_MS, (long)s3->timeout_ms);
	}
	switch (r->method) {
	case S3_GET:
		if (r->range != NULL)
			S3_OPT(CURLOPT_RANGE, r->range);
		break;
	case S3_HEAD:
		S3_OPT(CURLOPT_NOBODY, 1L);
		break;
	case S3_DELETE:
		S3_OPT(CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	case S3_PUT:
		S3_OPT(CURLOPT_UPLOAD, 1L);
		S3_OPT(CURLOPT_READFUNCTION, s3_read_cb);
		S3_OPT(CURLOPT_READDATA, r);
		S3_OPT(CURLOPT_SEEKFUNCTION, s3_seek_cb);
		S3_OPT(CURLOPT_SEEKDATA, r);
		S3_OPT(CURLOPT_INFILESIZE_LARGE,
		       (curl_off_t)(r->upload != NULL ? r->upload->size : 0));
		/* no "Expect: 100-continue" round trip; S3 answers errors early anyway */
		S3_OPT(CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
		break;
	}
#undef S3_OPT
	return ok;
}

/* One attempt. 0, or -1 with *err and *retry_r (whether to try again). */
static int s3_perform(struct blob_s3 *s3, struct s3_req *r, bool *retry_r,
		      struct blob_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = s3_headers(r);
	CURLcode rc;

	*retry_r = false;
	buf_clear(&r->body);
	r->status = 0;
	r->content_length = -1;
	r->sink_failed = r->upload_failed = r->body_overflow = false;
	r->range_pos = 0;
	r->cb_err = (struct blob_error){ 0 };
	r->h = s3_handle_take(s3);
	curl_easy_reset(r->h);
	if (!s3_setup(s3, r, hdrs, errbuf))
		rc = CURLE_FAILED_INIT;
	else
		rc = curl_easy_perform(r->h);
	(void)curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
	(void)curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->content_length);
	/* drop the request's references (headers, our buffers) before reuse */
	curl_easy_reset(r->h);
	s3_handle_give(s3, r->h);
	r->h = NULL;
	curl_slist_free_all(hdrs);

	if (r->sink_failed || r->upload_failed) {
		*err = r->cb_err;
		if (err->code == BLOB_OK)
			blob_error_set(err, BLOB_IO, "S3 %s: transfer stopped",
				       blob_op_name(r->op));
		return -1;
	}
	if (r->body_overflow) {
		blob_error_set(err, BLOB_PERMANENT, "S3 %s: response too large",
			       blob_op_name(r->op));
		return -1;
	}
	if (rc != CURLE_OK) {
		enum blob_err code = s3_curl_class(rc);

		blob_error_set(err, code, "S3 %s: %s", blob_op_name(r->op),
			       errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		*retry_r = code == BLOB_TEMPORARY;
		return -1;
	}
	/* CopyObject may fail after a 200 header: the body then says <Error> */
	if (r->status >= 200 && r->status < 300 &&
	    !(r->op == BLOB_OP_COPY && r->body.len > 0 && strstr(r->body.data, "<Error>") != NULL))
		return 0;
	s3_http_error(r, err);
	*retry_r = err->code == BLOB_TEMPORARY;
	return -1;
}

static void s3_backoff(struct blob_s3 *s3, uint32_t attempt)
{
	uint64_t delay = s3->retry_base_ms << MIN(attempt - 1, 16U);
	uint32_t rnd = 0;
	struct timespec ts;

	delay = MIN(delay, (uint64_t)S3_BACKOFF_MAX_MS);
	/* jitter: between half and all of the delay, so clients spread out */
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)util_now_ms();
	delay = delay / 2 + (delay / 2 > 0 ? rnd % (delay / 2 + 1) : 0);
	ts.tv_sec = (time_t)(delay / 1000);
	ts.tv_nsec = (long)(delay % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* Runs r with retries of temporary failures. r->body (all-zero is empty)
   holds the last response document; the caller frees it. */
static int s3_request(struct blob_s3 *s3, struct s3_req *r, struct blob_error *err)
{
	uint32_t attempt;
	bool retry = false;
	int ret = -1;

	for (attempt = 1;; attempt++) {
		if (attempt > 1) {
			if (r->sink != NULL && r->sink->written > 0) {
				/* bytes were handed out: only a reset sink may take them back */
				if (r->sink->reset == NULL || r->sink->reset(r->sink, err) < 0)
					break;
				r->sink->written = 0;
			}
			if (r->upload != NULL && r->upload->rewind(r->upload, err) < 0)
				break;
		}
		if (s3_perform(s3, r, &retry, err) == 0) {
			ret = 0;
			break;
		}
		if (!retry || attempt >= s3->max_attempts)
			break;
		s3_backoff(s3, attempt);
	}
	if (ret < 0 && err->code == BLOB_TEMPORARY && attempt > 1) {
		size_t len = strlen(err->msg);

		(void)snprintf(err->msg + len, sizeof(err->msg) - len, " (after %u attempts)",
			       attempt);
	}
	return ret;
}

/* ---- helpers ------------------------------------------------------------- */

static void s3_hex(const unsigned char *md, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * len] = '\0';
}

/* The body's hex SHA-256; a stream is read through once and rewound. */
static int s3_payload_hash(struct blob_istream *in, char hash_r[65], struct blob_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t total = 0;
	char *chunk = NULL;
	size_t n;
	int ret = -1;

	REQUIRE(ctx != NULL);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	if (in->mem != NULL) {
		if (EVP_DigestUpdate(ctx, in->mem, in->size) != 1)
			goto out;
		total = in->size;
	} else {
		chunk = xmalloc(S3_HASH_CHUNK);
		for (;;) {
			if (in->read(in, chunk, S3_HASH_CHUNK, &n, err) < 0)
				goto out_err;
			if (n == 0)
				break;
			if (EVP_DigestUpdate(ctx, chunk, n) != 1)
				goto out;
			total += n;
		}
		if (in->rewind(in, err) < 0)
			goto out_err;
	}
	if (total != in->size) {
		blob_error_set(err, BLOB_IO, "the body to store changed size while being read");
		goto out_err;
	}
	if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
		goto out;
	s3_hex(md, md_len, hash_r);
	ret = 0;
out:
	if (ret < 0)
		blob_error_set(err, BLOB_IO, "SHA-256 of the body failed");
out_err:
	free(chunk);
	EVP_MD_CTX_free(ctx);
	return ret;
}

static char *s3_object_url(struct blob_s3 *s3, const char *key)
{
	struct buf url;

	buf_init(&url, S3_URL_MAX);
	REQUIRE(buf_append_str(&url, s3->base_url) == 0 && buf_append(&url, "/", 1) == 0 &&
		blob_key_url_encode(key, &url) == 0);
	return url.data;
}

/* ---- operations ---------------------------------------------------------- */

static int blob_s3_put(struct blob *b, const char *key, struct blob_istream *in,
		       struct blob_error *err)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;
	char hash[65];
	struct s3_req r = { .op = BLOB_OP_PUT, .method = S3_PUT, .payload_hash = hash,
			    .upload = in, .body_max = S3_ERROR_BODY_MAX };
	char *url;
	int ret;

	if (s3_payload_hash(in, hash, err) < 0)
		return -1;
	url = s3_object_url(s3, key);
	r.url = url;
	ret = s3_request(s3, &r, err);
	buf_free(&r.body);
	free(url);
	return ret;
}

static int blob_s3_get(struct blob *b, const char *key, struct blob_sink *sink,
		       struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;
	char *url = s3_object_url(s3, key);
	struct s3_req r = { .op = BLOB_OP_GET, .method = S3_GET, .url = url,
			    .payload_hash = S3_EMPTY_SHA256, .sink = sink,
			    .body_max = S3_ERROR_BODY_MAX };
	int ret;

	(void)info_r;
	ret = s3_request(s3, &r, err);
	buf_free(&r.body);
	free(url);
	return ret;
}

static int blob_s3_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			     struct blob_sink *sink, struct blob_read_info *info_r,
			     struct blob_error *err)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;
	char *url = s3_object_url(s3, key);
	char range[64];
	uint64_t last = len > UINT64_MAX - offset ? UINT64_MAX - 1 : offset + len - 1;
	struct s3_req r = { .op = BLOB_OP_GET, .method = S3_GET, .url = url,
			    .payload_hash = S3_EMPTY_SHA256, .sink = sink,
			    .body_max = S3_ERROR_BODY_MAX, .range = range,
			    .range_offset = offset, .range_len = last - offset + 1 };
	int ret;

	(void)info_r;
	(void)snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)offset,
		       (unsigned long long)last);
	ret = s3_request(s3, &r, err);
	if (ret < 0 && r.status == 416) {
		/* the range starts past the end: no bytes, not an error */
		*err = (struct blob_error){ 0 };
		ret = 0;
	}
	buf_free(&r.body);
	free(url);
	return ret;
}

static int blob_s3_head(struct blob *b, const char *key, struct blob_stat *st_r,
			struct blob_error *err)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;
	char *url = s3_object_url(s3, key);
	struct s3_req r = { .op = BLOB_OP_HEAD, .method = S3_HEAD, .url = url,
			    .payload_hash = S3_EMPTY_SHA256, .body_max = S3_ERROR_BODY_MAX };
	int ret;

	ret = s3_request(s3, &r, err);
	buf_free(&r.body);
	free(url);
	if (ret == 0 && r.content_length < 0) {
		blob_error_set(err, BLOB_PERMANENT, "S3 head: no Content-Length");
		return -1;
	}
	if (ret == 0)
		st_r->size = st_r->stored_size = (uint64_t)r.content_length;
	return ret;
}

static int blob_s3_del(struct blob *b, const char *key, struct blob_error *err)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;
	char *url = s3_object_url(s3, key);
	struct s3_req r = { .op = BLOB_OP_DELETE, .method = S3_DELETE, .url = url,
			    .payload_hash = S3_EMPTY_SHA256, .body_max = S3_ERROR_BODY_MAX };
	int ret;

	ret = s3_request(s3, &r, err);
	buf_free(&r.body);
	free(url);
	/* S3 answers 204 for a missing key; some servers say 404 */
	if (ret < 0 && err->code == BLOB_NOT_FOUND) {
		*err = (struct blob_error){ 0 };
		ret = 0;
	}
	return ret;
}

static int blob_s3_copy(struct blob *b, const char *src, const char *dst,
			struct blob_error *err)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;
	char *url = s3_object_url(s3, dst);
	struct s3_req r = { .op = BLOB_OP_COPY, .method = S3_PUT, .url = url,
			    .payload_hash = S3_EMPTY_SHA256, .body_max = S3_ERROR_BODY_MAX };
	struct buf source;
	int ret;

	buf_init(&source, S3_URL_MAX);
	REQUIRE(buf_append(&source, "/", 1) == 0 && buf_append_str(&source, s3->bucket) == 0 &&
		buf_append(&source, "/", 1) == 0 && blob_key_url_encode(src, &source) == 0);
	r.copy_source = source.data;
	ret = s3_request(s3, &r, err);
	buf_free(&r.body);
	buf_free(&source);
	free(url);
	return ret;
}

/* A query value: RFC 3986 unreserved kept, everything else (also '/') %XX. */
static void s3_query_param(struct buf *q, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";

	REQUIRE(buf_append(q, q->len == 0 ? "?" : "&", 1) == 0 && buf_append_str(q, name) == 0 &&
		buf_append(q, "=", 1) == 0);
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
		char enc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			REQUIRE(buf_append(q, p, 1) == 0);
		else
			REQUIRE(buf_append(q, enc, sizeof(enc)) == 0);
	}
}

struct s3_list_ctx {
	const char *prefix;
	size_t prefix_len;
	blob_list_entry_fn *fn;
	void *ctx;
	unsigned count;
};

static int s3_list_cb(void *ctx, const struct blob_list_entry *e, struct blob_error *err)
{
	struct s3_list_ctx *lc = ctx;

	lc->count++;
	if (strncmp(e->key, lc->prefix, lc->prefix_len) != 0)
		return 0; /* not asked for: a confused server */
	return lc->fn(lc->ctx, e, err);
}

/* One ListObjectsV2 page. 0 with *token (the next one, or NULL when done),
   1 stopped by fn, -1 error. */
static int s3_list_page(struct blob_s3 *s3, struct s3_list_ctx *lc, char **token,
			struct blob_error *err)
{
	struct s3_req r = { .op = BLOB_OP_LIST, .method = S3_GET,
			    .payload_hash = S3_EMPTY_SHA256, .body_max = S3_LIST_BODY_MAX };
	struct blob_s3_list_page page;
	struct buf url;
	char max_keys[16];
	int ret;

	(void)snprintf(max_keys, sizeof(max_keys), "%u", s3->page_size);
	buf_init(&url, 0);
	REQUIRE(buf_append_str(&url, s3->base_url) == 0);
	{
		/* SigV4 wants the query sorted by name; curl 7.88 signs it as given */
		struct buf q;

		buf_init(&q, 0);
		if (*token != NULL)
			s3_query_param(&q, "continuation-token", *token);
		s3_query_param(&q, "list-type", "2");
		s3_query_param(&q, "max-keys", max_keys);
		if (lc->prefix_len > 0)
			s3_query_param(&q, "prefix", lc->prefix);
		REQUIRE(buf_append(&url, q.data, q.len) == 0);
		buf_free(&q);
	}
	r.url = url.data;
	ret = s3_request(s3, &r, err);
	buf_free(&url);
	if (ret < 0) {
		buf_free(&r.body);
		return -1;
	}
	lc->count = 0;
	ret = blob_s3_list_parse_entries(r.body.data == NULL ? "" : r.body.data, r.body.len,
					 s3_list_cb, lc, &page, err);
	buf_free(&r.body);
	free(*token);
	*token = NULL;
	if (ret != 0)
		return ret;
	if (page.is_truncated) {
		if (page.next_token == NULL) {
			blob_error_set(err, BLOB_PERMANENT,
				       "S3 list: truncated page without a continuation token");
			return -1;
		}
		*token = page.next_token;
	} else {
		free(page.next_token);
	}
	return 0;
}

static int blob_s3_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
			struct blob_error *err)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;
	struct s3_list_ctx lc = { .prefix = prefix, .prefix_len = strlen(prefix), .fn = fn,
				  .ctx = ctx };
	char *token = NULL;
	int ret;

	do {
		ret = s3_list_page(s3, &lc, &token, err);
		if (ret == 0 && token != NULL && lc.count == 0) {
			/* a truncated page with nothing in it would loop forever */
			blob_error_set(err, BLOB_PERMANENT, "S3 list: empty truncated page");
			ret = -1;
		}
	} while (ret == 0 && token != NULL);
	free(token);
	return ret < 0 ? -1 : 0;
}

static void blob_s3_close(struct blob *b)
{
	struct blob_s3 *s3 = (struct blob_s3 *)b;

	REQUIRE(s3->idle_count == s3->total); /* no request may be running */
	for (size_t i = 0; i < s3->idle_count; i++)
		curl_easy_cleanup(s3->idle[i]);
	free(s3->idle);
	pthread_mutex_destroy(&s3->lock);
	pthread_cond_destroy(&s3->cond);
	if (s3->secret_key != NULL)
		util_wipe(s3->secret_key, strlen(s3->secret_key));
	free(s3->secret_key);
	free(s3->access_key);
	free(s3->base_url);
	free(s3->bucket);
	free(s3->sigv4);
	free(s3->ca_file);
	free(s3);
}

const struct blob_vfuncs blob_s3_vfuncs = {
	.name = "s3",
	.put = blob_s3_put,
	.get = blob_s3_get,
	.get_range = blob_s3_get_range,
	.head = blob_s3_head,
	.del = blob_s3_del,
	.copy = blob_s3_copy,
	.list = blob_s3_list,
	.close = blob_s3_close,
};

/* ---- opening ------------------------------------------------------------- */

static bool s3_chars_ok(const char *s, const char *extra)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(extra, *p) != NULL))
			return false;
	}
	return true;
}

static int s3_check_settings(const struct blob_s3_settings *set, struct blob_error *err)
{
	static const struct {
		size_t off;
		const char *name;
	} required[] = {
		{ offsetof(struct blob_s3_settings, endpoint), "s3.endpoint" },
		{ offsetof(struct blob_s3_settings, bucket), "s3.bucket" },
		{ offsetof(struct blob_s3_settings, access_key), "s3.access_key" },
		{ offsetof(struct blob_s3_settings, secret_key), "s3.secret_key" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
		const char *v = *(const char *const *)((const char *)set + required[i].off);

		if (v == NULL || v[0] == '\0') {
			blob_error_set(err, BLOB_PERMANENT, "%s: not set", required[i].name);
			return -1;
		}
	}
	if (strlen(set->bucket) > 63 || !s3_chars_ok(set->bucket, ".-_")) {
		blob_error_set(err, BLOB_PERMANENT, "s3.bucket: not a valid bucket name");
		return -1;
	}
	if (set->region != NULL && (set->region[0] == '\0' || !s3_chars_ok(set->region, "-_"))) {
		blob_error_set(err, BLOB_PERMANENT, "s3.region: not a valid region name");
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)set->access_key; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f) {
			blob_error_set(err, BLOB_PERMANENT, "s3.access_key: invalid characters");
			return -1;
		}
	}
	return 0;
}

/* endpoint "host[:port]", optionally with a scheme, into scheme://host[:port]/bucket */
static int s3_base_url(const struct blob_s3_settings *set, char **url_r, struct blob_error *err)
{
	const char *scheme = set->disable_tls ? "http" : "https";
	const char *host = set->endpoint;
	size_t len;
	struct buf url;

	if (strncmp(host, "http://", 7) == 0) {
		scheme = "http";
		host += 7;
	} else if (strncmp(host, "https://", 8) == 0) {
		scheme = "https";
		host += 8;
	}
	len = strlen(host);
	while (len > 0 && host[len - 1] == '/')
		len--;
	if (len == 0 || len > 255) {
		blob_error_set(err, BLOB_PERMANENT, "s3.endpoint: must be host[:port]");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_')) {
			blob_error_set(err, BLOB_PERMANENT,
				       "s3.endpoint: must be host[:port] (no path, user or query)");
			return -1;
		}
	}
	buf_init(&url, 0);
	(void)buf_printf(&url, "%s://%.*s/%s", scheme, (int)len, host, set->bucket);
	*url_r = url.data;
	return 0;
}

int blob_s3_open(const struct blob_s3_settings *set, struct blob **blob_r,
		 struct blob_error *err)
{
	struct blob_s3 *s3;
	char *base_url = NULL;
	char sigv4[128];

	*blob_r = NULL;
	if (s3_check_settings(set, err) < 0 || s3_base_url(set, &base_url, err) < 0)
		return -1;
	pthread_once(&s3_global_once, s3_global_init);
	if (s3_global_rc != CURLE_OK) {
		free(base_url);
		blob_error_set(err, BLOB_PERMANENT, "libcurl initialisation failed");
		return -1;
	}
	(void)snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3",
		       set->region != NULL ? set->region : "us-east-1");
	s3 = xcalloc(1, sizeof(*s3));
	s3->b.v = &blob_s3_vfuncs;
	s3->base_url = base_url;
	s3->bucket = xstrdup(set->bucket);
	s3->access_key = xstrdup(set->access_key);
	s3->secret_key = xstrdup(set->secret_key);
	s3->sigv4 = xstrdup(sigv4);
	s3->ca_file = set->ca_file != NULL ? xstrdup(set->ca_file) : NULL;
	s3->timeout_ms = set->timeout_ms != 0 ? set->timeout_ms : 30000;
	s3->max_attempts = set->max_attempts != 0 ? set->max_attempts : 4;
	s3->retry_base_ms = set->retry_base_ms != 0 ? set->retry_base_ms : 200;
	s3->page_size = set->list_page_size != 0 ? MIN(set->list_page_size, 1000U) : 1000;
	s3->pool_size = set->pool_size != 0 ? set->pool_size : 16;
	s3->idle = xcalloc(s3->pool_size, sizeof(*s3->idle));
	pthread_mutex_init(&s3->lock, NULL);
	pthread_cond_init(&s3->cond, NULL);
	*blob_r = &s3->b;
	return 0;
}
