#ifndef SORA_LIB_UTIL_H
#define SORA_LIB_UTIL_H

/* Small helpers every module uses: array sizes, checked allocation and the
   two kinds of invariant checks (see STYLE §6). Allocation never returns
   NULL: it aborts, because limits, not NULL checks, keep memory bounded. */

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED __attribute__((unused))
#define PRINTF_FMT(f, a) __attribute__((format(printf, f, a)))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* "We are wrong": log file:line and let the caller close the one
   connection involved. Evaluates to true when the check failed. */
#define CHECK_FAILED(x) (!(x) ? (util_check_failed(__FILE__, __LINE__, #x), true) : false)
/* Abort only where going on would corrupt stored data. */
#define REQUIRE(x) ((x) ? (void)0 : util_require_failed(__FILE__, __LINE__, #x))

void util_check_failed(const char *file, int line, const char *expr);
_Noreturn void util_require_failed(const char *file, int line, const char *expr);

/* Constant-time comparison of two byte strings; the time depends only on
   the lengths, never on where they differ. */
bool util_mem_equal_ct(const void *a, size_t alen, const void *b, size_t blen);

/* Wipe memory that held a secret; the compiler may not drop it. */
void util_wipe(void *p, size_t len);

/* mkdir -p of the directory part of path ("data/sora.db" → "data"),
   mode 0700 for what it creates. 0, or -1 with errno. */
int util_mkdir_parents(const char *path);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t util_now_ms(void);

#endif
