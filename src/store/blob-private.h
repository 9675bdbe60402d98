#ifndef SORA_STORE_BLOB_PRIVATE_H
#define SORA_STORE_BLOB_PRIVATE_H

/* The driver contract behind blob.h. Each driver embeds struct blob first
   and fills a struct blob_vfuncs; wrappers keep the instance they wrap in
   blob.inner and call it through the blob_inner_*() helpers.

   blob.c has already validated keys and cleared *err before a vfunc runs;
   a vfunc returning -1 must have set err->code (blob_error_set). */

#include <stdarg.h>
#include <sys/types.h>

#include "blob.h"

/* A body to write, readable more than once: the S3 driver reads it once
   for the payload hash and again for each upload attempt. */
struct blob_istream {
	uint64_t size;
	/* Up to cap bytes into buf; *len_r = 0 only at the end. */
	int (*read)(struct blob_istream *in, void *buf, size_t cap, size_t *len_r,
		    struct blob_error *err);
	/* Back to the first byte. */
	int (*rewind)(struct blob_istream *in, struct blob_error *err);
	/* When the whole body is in memory (else NULL): lets drivers skip copies. */
	const void *mem;
	/* State of blob.c's memory and fd sources. */
	uint64_t pos;
	int fd;
};

/* Where read bytes go. reset (may be NULL) discards everything written so
   far, so that a driver may retry a broken transfer from the start. */
struct blob_sink {
	int (*write)(struct blob_sink *sink, const void *data, size_t len, struct blob_error *err);
	int (*reset)(struct blob_sink *sink, struct blob_error *err);
	/* Bytes accepted so far (maintained by the drivers' callers, see blob.c). */
	uint64_t written;
	/* Set for a sink appending to a buffer: drivers may fill it directly. */
	struct buf *buf;
};

struct blob_vfuncs {
	const char *name;
	int (*put)(struct blob *b, const char *key, struct blob_istream *in,
		   struct blob_error *err);
	/* Reads into sink. info_r is never NULL (blob.c passes a scratch one). */
	int (*get)(struct blob *b, const char *key, struct blob_sink *sink,
		   struct blob_read_info *info_r, struct blob_error *err);
	int (*head)(struct blob *b, const char *key, struct blob_stat *st_r,
		    struct blob_error *err);
	/* Bytes [offset, offset + len) into sink (len > 0). NULL: blob.c
	   streams get() through a sink that keeps only the range. */
	int (*get_range)(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			 struct blob_sink *sink, struct blob_read_info *info_r,
			 struct blob_error *err);
	int (*del)(struct blob *b, const char *key, struct blob_error *err);
	int (*copy)(struct blob *b, const char *src_key, const char *dst_key,
		    struct blob_error *err);
	int (*list)(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
		    struct blob_error *err);
	/* Frees the driver's own state only; blob_close() closes inner after. */
	void (*close)(struct blob *b);
};

struct blob {
	const struct blob_vfuncs *v;
	struct blob *inner; /* wrappers only */
};

extern const struct blob_vfuncs blob_fs_vfuncs;
extern const struct blob_vfuncs blob_s3_vfuncs;
extern const struct blob_vfuncs blob_crypt_vfuncs;
extern const struct blob_vfuncs blob_failing_vfuncs;
extern const struct blob_vfuncs blob_staged_vfuncs;
extern const struct blob_vfuncs blob_cache_vfuncs;

void blob_error_set(struct blob_error *err, enum blob_err code, const char *fmt, ...)
	PRINTF_FMT(3, 4);
/* blob_error_set with ": strerror(errnum)" appended. */
void blob_error_errno(struct blob_error *err, enum blob_err code, int errnum, const char *fmt,
		      ...) PRINTF_FMT(4, 5);

/* Calls on the wrapped instance (same contracts as the vfuncs). */
int blob_inner_put(struct blob *b, const char *key, struct blob_istream *in,
		   struct blob_error *err);
int blob_inner_get(struct blob *b, const char *key, struct blob_sink *sink,
		   struct blob_read_info *info_r, struct blob_error *err);
int blob_inner_head(struct blob *b, const char *key, struct blob_stat *st_r,
		    struct blob_error *err);
/* The range read of the wrapped instance (its get_range, or the generic
   one over its get). */
int blob_inner_get_range(struct blob *b, const char *key, uint64_t offset, uint64_t len,
			 struct blob_sink *sink, struct blob_read_info *info_r,
			 struct blob_error *err);
int blob_inner_del(struct blob *b, const char *key, struct blob_error *err);
int blob_inner_copy(struct blob *b, const char *src, const char *dst, struct blob_error *err);
int blob_inner_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn, void *ctx,
		    struct blob_error *err);

/* Sinks and sources used by several drivers. */
void blob_sink_init_buf(struct blob_sink *sink, struct buf *out);
int blob_sink_write(struct blob_sink *sink, const void *data, size_t len,
		    struct blob_error *err);
void blob_istream_init_mem(struct blob_istream *in, const void *data, size_t len);
/* A regular file from offset 0 to its current size. */
int blob_istream_init_fd(struct blob_istream *in, int fd, struct blob_error *err);
/* Reads exactly len bytes (fewer only at the end: *len_r). */
int blob_istream_read_full(struct blob_istream *in, void *buf, size_t len, size_t *len_r,
			   struct blob_error *err);
/* The generic range read: b's own get() through a sink that keeps the
   range and stops the transfer past it. */
int blob_range_via_get(struct blob *b, const char *key, uint64_t offset, uint64_t len,
		       struct blob_sink *sink, struct blob_read_info *info_r,
		       struct blob_error *err);
/* Bytes [offset, offset + len) of an open regular file into sink, by
   pread() in chunks (fewer at the end of the file). */
int blob_fd_range(int fd, uint64_t offset, uint64_t len, struct blob_sink *sink,
		  struct blob_error *err);
/* Finds the layer of b (b itself or one it wraps) with vfuncs v, or NULL. */
struct blob *blob_find_layer(struct blob *b, const struct blob_vfuncs *v);

/* ---- S3 helpers (blob-s3-xml.c), pure, exposed for tests and fuzzing ---- */

#define BLOB_S3_TOKEN_MAX 4096

struct blob_s3_list_page {
	bool is_truncated;
	char *next_token; /* malloc'd, NULL when none */
};
/* Parses a ListObjectsV2 response: calls fn(ctx, key, size, err) for each
   <Contents> (keys entity-decoded; keys blob_key_valid() rejects, written
   by other tools, are skipped) and fills *page_r. 0 when parsed, 1 when fn
   returned 1 (stop), -1 with *err set (BLOB_PERMANENT for a malformed
   document, or what fn set). Bounded:
   no recursion, element depth <= 8, key <= BLOB_KEY_MAX, token <=
   BLOB_S3_TOKEN_MAX. The caller frees page_r->next_token. */
int blob_s3_list_parse(const char *xml, size_t len, blob_list_fn *fn, void *ctx,
		       struct blob_s3_list_page *page_r, struct blob_error *err);
/* The same with <LastModified> (ISO 8601, UTC) as each entry's mtime (0
   when absent or unparsable). */
int blob_s3_list_parse_entries(const char *xml, size_t len, blob_list_entry_fn *fn, void *ctx,
			       struct blob_s3_list_page *page_r, struct blob_error *err);
/* The text of the first <name> element in an S3 error document, decoded,
   into out (size out_size, NUL-terminated, non-printable bytes replaced by
   '?'). false when there is none. */
bool blob_s3_xml_find(const char *xml, size_t len, const char *name, char *out,
		      size_t out_size);

#endif
