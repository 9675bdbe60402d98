#ifndef SORA_LIB_STR_H
#define SORA_LIB_STR_H

/* A read-only byte view (struct slice) and one growable byte buffer with a
   ceiling (struct buf). Parsers hand out slices into their input; copy only
   what must survive. buf.data is always NUL-terminated but binary-safe. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

struct slice {
	const char *ptr;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){ .ptr = (s), .len = sizeof(s) - 1 })

static inline struct slice slice_from(const char *s, size_t len)
{
	return (struct slice){ .ptr = s, .len = len };
}

struct slice slice_cstr(const char *s);
bool slice_eq(struct slice a, struct slice b);
/* ASCII case-insensitive equality with a C string. */
bool slice_eq_ci(struct slice a, const char *s);
bool slice_starts_with_ci(struct slice a, const char *prefix);
/* Index of the first byte c, or -1. */
ssize_t slice_find(struct slice a, char c);
struct slice slice_trim(struct slice a);

/* Decimal numbers, whole slice, no sign, no spaces, overflow checked.
   0 on success (*num_r set), -1 otherwise. */
int str_to_u32(struct slice s, uint32_t *num_r);
int str_to_u64(struct slice s, uint64_t *num_r);

struct buf {
	char *data;
	size_t len, cap, max; /* max 0 = no ceiling */
};

void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);
/* Like buf_free, but zeroes the bytes first (secrets). */
void buf_wipe(struct buf *b);
/* -1 when the result would exceed b->max: nothing is appended then. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) PRINTF_FMT(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) PRINTF_FMT(2, 0);
/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);

static inline struct slice buf_slice(const struct buf *b)
{
	return (struct slice){ .ptr = b->data == NULL ? "" : b->data, .len = b->len };
}

#endif
