#ifndef SORA_LIB_ARENA_H
#define SORA_LIB_ARENA_H

/* A region allocator: many small allocations, one free. Used for objects
   that share a lifetime (a command, a job, a config). Allocations are
   zeroed and 16-byte aligned. Not thread-safe: one owner at a time. */

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

struct arena;

struct arena *arena_new(size_t block_size);
/* Frees everything, sets *a = NULL; accepts NULL and *a == NULL. */
void arena_free(struct arena **a);
/* Frees all but the first block and makes the arena empty again. */
void arena_reset(struct arena *a);

void *arena_alloc(struct arena *a, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) PRINTF_FMT(2, 3);
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap) PRINTF_FMT(2, 0);
/* Bytes handed out so far (for limits and tests). */
size_t arena_used(const struct arena *a);

#endif
