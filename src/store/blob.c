/* The blob interface: argument checks, key helpers, sources and sinks, and
   dispatch to the driver chain. No state of its own: thread safety is the
   drivers'. */

#include "blob-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const blob_err_names[] = {
	"OK", "NOT_FOUND", "TEMPORARY", "PERMANENT", "CORRUPT", "IO",
};
static_assert(ARRAY_SIZE(blob_err_names) == BLOB_ERR_COUNT, "blob_err_names out of sync");

static const char *const blob_op_names[] = {
	"put", "get", "head", "delete", "copy", "list",
};
static_assert(ARRAY_SIZE(blob_op_names) == BLOB_OP_COUNT, "blob_op_names out of sync");

#define BLOB_TMP_PREFIX ".blobtmp-"

const char *blob_err_name(enum blob_err code)
{
	return (unsigned)code < BLOB_ERR_COUNT ? blob_err_names[code] : "UNKNOWN";
}

const char *blob_op_name(enum blob_op op)
{
	return (unsigned)op < BLOB_OP_COUNT ? blob_op_names[op] : "any";
}

static void blob_error_vset(struct blob_error *err, enum blob_err code, const char *fmt,
			    va_list ap) PRINTF_FMT(3, 0);

static void blob_error_vset(struct blob_error *err, enum blob_err code, const char *fmt,
			    va_list ap)
{
	err->code = code;
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		err->msg[0] = '\0';
}

void blob_error_set(struct blob_error *err, enum blob_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	blob_error_vset(err, code, fmt, ap);
	va_end(ap);
}

void blob_error_errno(struct blob_error *err, enum blob_err code, int errnum, const char *fmt,
		      ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	blob_error_vset(err, code, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	if (snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum)) < 0)
		err->msg[len] = '\0';
}

/* ---- keys ---------------------------------------------------------------- */

static bool blob_segment_valid(const char *seg, size_t len)
{
	if (len == 0)
		return false;
	if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
		return false;
	if (len >= sizeof(BLOB_TMP_PREFIX) - 1 &&
	    memcmp(seg, BLOB_TMP_PREFIX, sizeof(BLOB_TMP_PREFIX) - 1) == 0)
		return false;
	return true;
}

bool blob_key_valid(const char *key)
{
	size_t len, start = 0;

	if (key == NULL)
		return false;
	len = strnlen(key, BLOB_KEY_MAX + 1);
	if (len == 0 || len > BLOB_KEY_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (i == len || c == '/') {
			if (!blob_segment_valid(key + start, i - start))
				return false;
			start = i + 1;
		} else if (c < 0x20 || c == 0x7f) {
			return false;
		}
	}
	return true;
}

static bool blob_part_safe(const char *s)
{
	if (s[0] == '\0' || strcmp(s, ".") == 0 || strstr(s, "..") != NULL)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

int blob_key_build(const char *domain, const char *localpart, const char *hash, struct buf *out,
		   struct blob_error *err)
{
	size_t start;

	buf_clear(out);
	if (domain == NULL || !blob_part_safe(domain)) {
		blob_error_set(err, BLOB_PERMANENT, "invalid domain for a blob key");
		return -1;
	}
	if (localpart == NULL || !blob_part_safe(localpart) ||
	    strncmp(localpart, BLOB_TMP_PREFIX, sizeof(BLOB_TMP_PREFIX) - 1) == 0) {
		blob_error_set(err, BLOB_PERMANENT, "invalid localpart for a blob key");
		return -1;
	}
	if (hash == NULL || strlen(hash) != BLOB_HASH_HEX_LEN ||
	    strspn(hash, "0123456789abcdefABCDEF") != BLOB_HASH_HEX_LEN) {
		blob_error_set(err, BLOB_PERMANENT, "content hash must be 64 hex digits");
		return -1;
	}
	start = out->len;
	if (buf_append_str(out, domain) < 0)
		goto too_long;
	for (size_t i = start; i < out->len; i++) {
		if (out->data[i] >= 'A' && out->data[i] <= 'Z')
			out->data[i] = (char)(out->data[i] - 'A' + 'a');
	}
	if (buf_append(out, "/", 1) < 0 || buf_append_str(out, localpart) < 0 ||
	    buf_append(out, "/", 1) < 0)
		goto too_long;
	start = out->len;
	if (buf_append_str(out, hash) < 0)
		goto too_long;
	for (size_t i = start; i < out->len; i++) {
		if (out->data[i] >= 'A' && out->data[i] <= 'F')
			out->data[i] = (char)(out->data[i] - 'A' + 'a');
	}
	if (out->len > BLOB_KEY_MAX)
		goto too_long;
	return 0;
too_long:
	buf_clear(out);
	blob_error_set(err, BLOB_PERMANENT, "blob key too long");
	return -1;
}

int blob_key_from_address(const char *address, const char *hash, struct buf *out,
			  struct blob_error *err)
{
	const char *at = address == NULL ? NULL : strrchr(address, '@');
	char *localpart;
	int ret;

	if (at == NULL || at == address || at[1] == '\0') {
		buf_clear(out);
		blob_error_set(err, BLOB_PERMANENT,
			       "address for a blob key is not localpart@domain");
		return -1;
	}
	localpart = xstrndup(address, (size_t)(at - address));
	ret = blob_key_build(at + 1, localpart, hash, out, err);
	free(localpart);
	return ret;
}

int blob_key_url_encode(const char *key, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
		unsigned char c = *p;
		char enc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			if (buf_append(out, p, 1) < 0)
				return -1;
		} else if (buf_append(out, enc, sizeof(enc)) < 0) {
			return -1;
		}
	}
	return 0;
}

/* ---- sources and sinks --------------------------------------------------- */

static int blob_mem_read(struct blob_istream *in, void *buf, size_t cap, size_t *len_r,
			 struct blob_error *err)
{
	size_t n = (size_t)MIN((uint64_t)cap, in->size - in->pos);

	(void)err;
	if (n > 0)
		memcpy(buf, (const char *)in->mem + in->pos, n);
	in->pos += n;
	*len_r = n;
	return 0;
}

static int blob_pos_rewind(struct blob_istream *in, struct blob_error *err)
{
	(void)err;
	in->pos = 0;
	return 0;
}

void blob_istream_init_mem(struct blob_istream *in, const void *data, size_t len)
{
	*in = (struct blob_istream){
		.size = len, .read = blob_mem_read, .rewind = blob_pos_rewind,
		.mem = len > 0 ? data : "", .fd = -1,
	};
}

static int blob_fd_read(struct blob_istream *in, void *buf, size_t cap, size_t *len_r,
			struct blob_error *err)
{
	size_t want = (size_t)MIN((uint64_t)cap, in->size - in->pos);
	ssize_t n;

	*len_r = 0;
	if (want == 0)
		return 0;
	do {
		n = pread(in->fd, buf, want, (off_t)in->pos);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		blob_error_errno(err, BLOB_IO, errno, "reading the body to store");
		return -1;
	}
	if (n == 0) {
		blob_error_set(err, BLOB_IO, "the body to store shrank while being read");
		return -1;
	}
	in->pos += (uint64_t)n;
	*len_r = (size_t)n;
	return 0;
}

int blob_istream_init_fd(struct blob_istream *in, int fd, struct blob_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "fstat of the body to store");
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		blob_error_set(err, BLOB_PERMANENT, "the body to store is not a regular file");
		return -1;
	}
	*in = (struct blob_istream){
		.size = (uint64_t)st.st_size, .read = blob_fd_read, .rewind = blob_pos_rewind,
		.fd = fd,
	};
	return 0;
}

int blob_istream_read_full(struct blob_istream *in, void *buf, size_t len, size_t *len_r,
			   struct blob_error *err)
{
	size_t got = 0, n;

	while (got < len) {
		if (in->read(in, (char *)buf + got, len - got, &n, err) < 0)
			return -1;
		if (n == 0)
			break;
		got += n;
	}
	*len_r = got;
	return 0;
}

static int blob_buf_sink_write(struct blob_sink *sink, const void *data, size_t len,
			       struct blob_error *err)
{
	if (buf_append(sink->buf, data, len) < 0) {
		blob_error_set(err, BLOB_PERMANENT, "object larger than the read limit");
		return -1;
	}
	return 0;
}

static int blob_buf_sink_reset(struct blob_sink *sink, struct blob_error *err)
{
	(void)err;
	buf_clear(sink->buf);
	return 0;
}

void blob_sink_init_buf(struct blob_sink *sink, struct buf *out)
{
	*sink = (struct blob_sink){
		.write = blob_buf_sink_write, .reset = blob_buf_sink_reset, .buf = out,
	};
}

int blob_sink_write(struct blob_sink *sink, const void *data, size_t len, struct blob_error *err)
{
	if (len == 0)
		return 0;
	if (sink->write(sink, data, len, err) < 0) {
		if (err->code == BLOB_OK)
			blob_error_set(err, BLOB_IO, "reader stopped the transfer");
		return -1;
	}
	sink->written += len;
	return 0;
}

struct blob_fn_sink {
	struct blob_sink sink;
	blob_chunk_fn *fn;
	void *ctx;
};

static int blob_fn_sink_write(struct blob_sink *sink, const void *data, size_t len,
			      struct blob_error *err)
{
	struct blob_fn_sink *s = (struct blob_fn_sink *)sink;

	if (s->fn(s->ctx, data, len, err) < 0) {
		if (err->code == BLOB_OK)
			err->code = BLOB_IO;
		if (err->msg[0] == '\0')
			blob_error_set(err, err->code, "reader stopped the transfer");
		return -1;
	}
	return 0;
}

struct blob_fd_sink {
	struct blob_sink sink;
	int fd;
	off_t start;
};

static int blob_fd_sink_write(struct blob_sink *sink, const void *data, size_t len,
			      struct blob_error *err)
{
	struct blob_fd_sink *s = (struct blob_fd_sink *)sink;
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(s->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			blob_error_errno(err, BLOB_IO, errno, "writing the object to a file");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int blob_fd_sink_reset(struct blob_sink *sink, struct blob_error *err)
{
	struct blob_fd_sink *s = (struct blob_fd_sink *)sink;

	if (ftruncate(s->fd, s->start) < 0 || lseek(s->fd, s->start, SEEK_SET) < 0) {
		blob_error_errno(err, BLOB_IO, errno, "rewinding the output file");
		return -1;
	}
	return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

static void blob_error_clear(struct blob_error *err)
{
	err->code = BLOB_OK;
	err->msg[0] = '\0';
}

static int blob_check_key(const char *key, struct blob_error *err)
{
	if (blob_key_valid(key))
		return 0;
	blob_error_set(err, BLOB_PERMANENT, "invalid blob key");
	return -1;
}

/* A driver that fails must say why: never hand the caller an empty error. */
static int blob_result(int ret, struct blob_error *err)
{
	if (ret < 0 && err->code == BLOB_OK)
		blob_error_set(err, BLOB_IO, "storage driver failed without a reason");
	return ret < 0 ? -1 : 0;
}

static int blob_do_put(struct blob *b, const char *key, struct blob_istream *in,
		       struct blob_error *err)
{
	blob_error_clear(err);
	if (blob_check_key(key, err) < 0)
		return -1;
	return blob_result(b->v->put(b, key, in, err), err);
}

int blob_put(struct blob *b, const char *key, const void *data, size_t len,
	     struct blob_error *err)
{
	struct blob_istream in;

	blob_istream_init_mem(&in, data, len);
	return blob_do_put(b, key, &in, err);
}

int blob_put_fd(struct blob *b, const char *key, int fd, struct blob_error *err)
{
	struct blob_istream in;

	blob_error_clear(err);
	if (blob_istream_init_fd(&in, fd, err) < 0)
		return -1;
	return blob_do_put(b, key, &in, err);
}

static int blob_do_get(struct blob *b, const char *key, struct blob_sink *sink,
		       struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_read_info scratch;
	int ret;

	if (info_r == NULL)
		info_r = &scratch;
	*info_r = (struct blob_read_info){ 0 };
	blob_error_clear(err);
	if (blob_check_key(key, err) < 0)
		return -1;
	ret = blob_result(b->v->get(b, key, sink, info_r, err), err);
	if (ret == 0)
		info_r->size = sink->written;
	return ret;
}

int blob_get(struct blob *b, const char *key, struct buf *out, struct blob_read_info *info_r,
	     struct blob_error *err)
{
	struct blob_sink sink;

	buf_clear(out);
	blob_sink_init_buf(&sink, out);
	if (blob_do_get(b, key, &sink, info_r, err) < 0) {
		buf_clear(out);
		return -1;
	}
	/* drivers filling out->data directly account for it themselves */
	if (info_r != NULL)
		info_r->size = out->len;
	return 0;
}

int blob_get_stream(struct blob *b, const char *key, blob_chunk_fn *fn, void *ctx,
		    struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_fn_sink s = {
		.sink = { .write = blob_fn_sink_write }, .fn = fn, .ctx = ctx,
	};

	return blob_do_get(b, key, &s.sink, info_r, err);
}

int blob_get_fd(struct blob *b, const char *key, int fd, struct blob_read_info *info_r,
		struct blob_error *err)
{
	struct blob_fd_sink s = { .sink = { .write = blob_fd_sink_write }, .fd = fd };
	struct stat st;

	s.start = lseek(fd, 0, SEEK_CUR);
	if (s.start >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		s.sink.reset = blob_fd_sink_reset;
	return blob_do_get(b, key, &s.sink, info_r, err);
}

/* ---- range reads ------------------------------------------------------------ */

#define BLOB_RANGE_CHUNK (128 * 1024)

int blob_fd_range(int fd, uint64_t offset, uint64_t len, struct blob_sink *sink,
		  struct blob_error *err)
{
	char *chunk = xmalloc(BLOB_RANGE_CHUNK);
	int ret = 0;

	while (len > 0) {
		ssize_t n = pread(fd, chunk, (size_t)MIN(len, (uint64_t)BLOB_RANGE_CHUNK),
				  (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			blob_error_errno(err, BLOB_IO, errno, "reading a blob");
			ret = -1;
			break;
		}
		if (n == 0)
			break;
		if (blob_sink_write(sink, chunk, (size_t)n, err) < 0) {
			ret = -1;
			break;
		}
		offset += (uint64_t)n;
		len -= (uint64_t)n;
	}
	free(chunk);
	return ret;
}

/* Passes on the bytes of [offset, offset + len) of what get() produces and
   stops the transfer once past them. */
struct blob_range_sink {
	struct blob_sink sink;
	struct blob_sink *out;
	uint64_t pos, offset, end;
	bool done;
};

static int blob_range_sink_write(struct blob_sink *sink, const void *data, size_t len,
				 struct blob_error *err)
{
	struct blob_range_sink *s = (struct blob_range_sink *)sink;
	uint64_t from = s->pos, to = s->pos + len;

	s->pos = to;
	if (to > s->offset && from < s->end) {
		uint64_t a = MAX(from, s->offset), z = MIN(to, s->end);

		if (blob_sink_write(s->out, (const char *)data + (a - from), (size_t)(z - a),
				    err) < 0)
			return -1;
	}
	if (to > s->end) {
		/* all of the range is out: stop reading (not an error, see below).
		   A range up to the object's end lets the read complete, so a
		   whole read through a cache still fills it. */
		s->done = true;
		blob_error_set(err, BLOB_IO, "range complete");
		return -1;
	}
	return 0;
}

static int blob_range_sink_reset(struct blob_sink *sink, struct blob_error *err)
{
	struct blob_range_sink *s = (struct blob_range_sink *)sink;

	if (s->out->written > 0 && (s->out->reset == NULL || s->out->reset(s->out, err) < 0))
		return -1;
	s->out->written = 0;
	s->pos = 0;
	return 0;
}

int blob_range_via_get(struct blob *b, const char *key, uint64_t offset, uint64_t len,
		       struct blob_sink *sink, struct blob_read_info *info_r,
		       struct blob_error *err)
{
	struct blob_range_sink s = {
		.sink = { .write = blob_range_sink_write, .reset = blob_range_sink_reset },
		.out = sink,
		.offset = offset,
		.end = len > UINT64_MAX - offset ? UINT64_MAX : offset + len,
	};

	if (b->v->get(b, key, &s.sink, info_r, err) == 0)
		return 0;
	if (s.done && s.out->written == MIN(len, s.end - offset)) {
		*err = (struct blob_error){ 0 };
		return 0;
	}
	return -1;
}

static int blob_range_call(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			   struct blob_sink *sink, struct blob_read_info *info_r,
			   struct blob_error *err)
{
	if (b->v->get_range != NULL)
		return b->v->get_range(b, key, offset, len, sink, info_r, err);
	return blob_range_via_get(b, key, offset, len, sink, info_r, err);
}

static int blob_do_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			 struct blob_sink *sink, struct blob_read_info *info_r,
			 struct blob_error *err)
{
	struct blob_read_info scratch;
	int ret;

	if (info_r == NULL)
		info_r = &scratch;
	*info_r = (struct blob_read_info){ 0 };
	blob_error_clear(err);
	if (blob_check_key(key, err) < 0)
		return -1;
	if (len == 0)
		return 0;
	ret = blob_result(blob_range_call(b, key, offset, len, sink, info_r, err), err);
	if (ret == 0)
		info_r->size = sink->written;
	return ret;
}

int blob_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
		   struct buf *out, struct blob_read_info *info_r, struct blob_error *err)
{
	struct blob_sink sink;

	buf_clear(out);
	blob_sink_init_buf(&sink, out);
	if (blob_do_range(b, key, offset, len, &sink, info_r, err) < 0) {
		buf_clear(out);
		return -1;
	}
	if (info_r != NULL)
		info_r->size = out->len;
	return 0;
}

int blob_get_range_stream(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			  blob_chunk_fn *fn, void *ctx, struct blob_read_info *info_r,
			  struct blob_error *err)
{
	struct blob_fn_sink s = {
		.sink = { .write = blob_fn_sink_write }, .fn = fn, .ctx = ctx,
	};

	return blob_do_range(b, key, offset, len, &s.sink, info_r, err);
}

int blob_inner_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			 struct blob_sink *sink, struct blob_read_info *info_r,
			 struct blob_error *err)
{
	return blob_result(blob_range_call(b->inner, key, offset, len, sink, info_r, err), err);
}

int blob_head(struct blob *b, const char *key, struct blob_stat *st_r, struct blob_error *err)
{
	*st_r = (struct blob_stat){ 0 };
	blob_error_clear(err);
	if (blob_check_key(key, err) < 0)
		return -1;
	return blob_result(b->v->head(b, key, st_r, err), err);
}

int blob_exists(struct blob *b, const char *key, bool *exists_r, struct blob_error *err)
{
	struct blob_stat st;

	if (blob_head(b, key, &st, err) == 0) {
		*exists_r = true;
		return 0;
	}
	if (err->code != BLOB_NOT_FOUND)
		return -1;
	blob_error_clear(err);
	*exists_r = false;
	return 0;
}

int blob_delete(struct blob *b, const char *key, struct blob_error *err)
{
	blob_error_clear(err);
	if (blob_check_key(key, err) < 0)
		return -1;
	return blob_result(b->v->del(b, key, err), err);
}

int blob_copy(struct blob *b, const char *src_key, const char *dst_key, struct blob_error *err)
{
	blob_error_clear(err);
	if (blob_check_key(src_key, err) < 0 || blob_check_key(dst_key, err) < 0)
		return -1;
	if (strcmp(src_key, dst_key) == 0) {
		struct blob_stat st;

		return blob_result(b->v->head(b, src_key, &st, err), err);
	}
	return blob_result(b->v->copy(b, src_key, dst_key, err), err);
}

struct blob_list_adapter {
	blob_list_fn *fn;
	void *ctx;
};

static int blob_list_adapt(void *ctx, const struct blob_list_entry *e, struct blob_error *err)
{
	struct blob_list_adapter *a = ctx;

	return a->fn(a->ctx, e->key, e->size, err);
}

int blob_list(struct blob *b, const char *prefix, blob_list_fn *fn, void *ctx,
	      struct blob_error *err)
{
	struct blob_list_adapter a = { fn, ctx };

	return blob_list_entries(b, prefix, blob_list_adapt, &a, err);
}

int blob_list_entries(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
		      struct blob_error *err)
{
	blob_error_clear(err);
	if (prefix == NULL)
		prefix = "";
	if (strlen(prefix) > BLOB_KEY_MAX) {
		blob_error_set(err, BLOB_PERMANENT, "list prefix too long");
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)prefix; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			blob_error_set(err, BLOB_PERMANENT, "invalid list prefix");
			return -1;
		}
	}
	return blob_result(b->v->list(b, prefix, fn, ctx, err), err);
}

/* ---- wrappers' access to the wrapped instance ---------------------------- */

int blob_inner_put(struct blob *b, const char *key, struct blob_istream *in,
		   struct blob_error *err)
{
	return blob_result(b->inner->v->put(b->inner, key, in, err), err);
}

int blob_inner_get(struct blob *b, const char *key, struct blob_sink *sink,
		   struct blob_read_info *info_r, struct blob_error *err)
{
	return blob_result(b->inner->v->get(b->inner, key, sink, info_r, err), err);
}

int blob_inner_head(struct blob *b, const char *key, struct blob_stat *st_r,
		    struct blob_error *err)
{
	return blob_result(b->inner->v->head(b->inner, key, st_r, err), err);
}

int blob_inner_del(struct blob *b, const char *key, struct blob_error *err)
{
	return blob_result(b->inner->v->del(b->inner, key, err), err);
}

int blob_inner_copy(struct blob *b, const char *src, const char *dst, struct blob_error *err)
{
	return blob_result(b->inner->v->copy(b->inner, src, dst, err), err);
}

int blob_inner_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
		    struct blob_error *err)
{
	return blob_result(b->inner->v->list(b->inner, prefix, fn, ctx, err), err);
}

struct blob *blob_find_layer(struct blob *b, const struct blob_vfuncs *v)
{
	for (; b != NULL; b = b->inner) {
		if (b->v == v)
			return b;
	}
	return NULL;
}

/* ---- opening ------------------------------------------------------------- */

int blob_open(const struct blob_settings *set, struct blob **blob_r, struct blob_error *err)
{
	struct blob *b = NULL;
	int ret;

	blob_error_clear(err);
	*blob_r = NULL;
	if (set->driver == NULL || strcmp(set->driver, "fs") == 0) {
		ret = blob_fs_open(set->fs_path, &b, err);
	} else if (strcmp(set->driver, "s3") == 0) {
		ret = blob_s3_open(&set->s3, &b, err);
	} else {
		blob_error_set(err, BLOB_PERMANENT, "storage driver: must be \"fs\" or \"s3\"");
		return -1;
	}
	if (ret < 0)
		return -1;
	if (set->crypt.encrypt && blob_crypt_wrap(b, &set->crypt, &b, err) < 0)
		return -1;
	*blob_r = b;
	return 0;
}

void blob_close(struct blob **blob)
{
	struct blob *b = blob == NULL ? NULL : *blob;

	if (b == NULL)
		return;
	*blob = NULL;
	while (b != NULL) {
		struct blob *inner = b->inner;

		b->v->close(b);
		b = inner;
	}
}
