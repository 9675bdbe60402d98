#ifndef SORA_LIB_BASE64_H
#define SORA_LIB_BASE64_H

/* Strict base64 (RFC 4648 section 4, the standard alphabet), as SASL
   exchanges use it (RFC 4422, RFC 9051 AUTHENTICATE, RFC 5034, RFC 4954).

   The decoder accepts only the canonical encoding: a length that is a
   multiple of 4, '=' padding exactly where needed and only at the end, no
   whitespace or line breaks, and unused bits of the last group zero (so
   every byte string has exactly one accepted encoding). The empty string
   decodes to zero bytes.

   Both directions may carry passwords: the alphabet mapping runs without
   table lookups or branches on the data, so the time depends only on the
   length (and, for a rejected input, on where it is rejected). Pure, no
   allocation, thread-safe. */

#include <stddef.h>

/* Characters base64_encode() writes for n bytes, without the NUL. */
#define BASE64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)
/* Most bytes base64_decode() writes for len characters. */
#define BASE64_DECODED_MAX(len) ((len) / 4 * 3)

/* Writes BASE64_ENCODED_LEN(len) characters plus a NUL to out and returns
   the number of characters. */
size_t base64_encode(const void *data, size_t len, char *out);

/* Decodes in/len into out (room for BASE64_DECODED_MAX(len) bytes).
   0 with *out_len_r set, or -1 when in is not canonical base64: out may
   then hold part of the decoded bytes, which the caller wipes if they may
   be secret. */
int base64_decode(const char *in, size_t len, void *out, size_t *out_len_r);

#endif
