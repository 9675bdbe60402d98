#ifndef SORA_LIB_UTF8_H
#define SORA_LIB_UTF8_H

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
   U+10FFFF. NUL is valid UTF-8; callers that forbid it check separately. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1-4) of the sequence at s, with *cp_r set; 0 when invalid or
   cut short by avail (avail ≥ 1). */
size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp_r);
bool utf8_is_valid(const void *data, size_t len);

#endif
