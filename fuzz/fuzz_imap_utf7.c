/* libFuzzer target for imap/imap-utf7.h: mailbox names from IMAP4rev1
   clients. Any input: decoding either fails or gives valid UTF-8 that
   encodes back to exactly the input (the decoder takes canonical forms
   only). Encoding any valid UTF-8 and decoding it gives it back.
   Contract violations abort, so libFuzzer reports them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-utf7.h"
#include "lib/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x) \
	((x) ? (void)0 : (fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x), abort()))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct buf dec, enc;

	if (size > 4096) {
		free(s);
		return 0;
	}
	memcpy(s, data, size);
	s[size] = '\0';
	buf_init(&dec, 0);
	buf_init(&enc, 0);
	if (imap_utf7_to_utf8(s, &dec) == 0) {
		const char *d = dec.data != NULL ? dec.data : "";

		FUZZ_ASSERT(utf8_is_valid(d, dec.len));
		imap_utf8_to_utf7(d, &enc);
		FUZZ_ASSERT(enc.len == strlen(s) && memcmp(enc.data != NULL ? enc.data : "", s,
							    enc.len) == 0);
	}
	if (strlen(s) == size && utf8_is_valid(s, size)) {
		buf_clear(&enc);
		buf_clear(&dec);
		imap_utf8_to_utf7(s, &enc);
		FUZZ_ASSERT(imap_utf7_to_utf8(enc.data != NULL ? enc.data : "", &dec) == 0);
		FUZZ_ASSERT(dec.len == size &&
			    memcmp(dec.data != NULL ? dec.data : "", s, size) == 0);
	}
	buf_free(&dec);
	buf_free(&enc);
	free(s);
	return 0;
}
