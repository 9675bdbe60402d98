#ifndef SORA_IMAP_UTF7_H
#define SORA_IMAP_UTF7_H

/* Modified UTF-7 (RFC 3501 §5.1.3), the mailbox name encoding of IMAP4rev1
   clients that did not ENABLE UTF8=ACCEPT (RFC 6855) or IMAP4rev2. The
   store keeps names in UTF-8. Pure, no allocation besides out. */

#include "../lib/str.h"

/* Appends the modified UTF-7 form of the UTF-8 string s (invalid UTF-8
   becomes U+FFFD; the store holds valid UTF-8 only). */
void imap_utf8_to_utf7(const char *s, struct buf *out);

/* Appends the UTF-8 form of a modified UTF-7 name. -1 when s is not the
   canonical encoding: 8-bit or control bytes, '&' not closed by '-',
   characters outside the modified base64 alphabet, printable ASCII
   encoded in base64, an empty shift other than "&-", two shifts back to
   back, non-zero padding bits, a lone or reversed surrogate, NUL. */
int imap_utf7_to_utf8(const char *s, struct buf *out);

#endif
