#ifndef SORA_LMTP_PARSE_H
#define SORA_LMTP_PARSE_H

/* The pure parts of the LMTP command reader: no I/O, no logging, no
   allocation. lmtp-client.c drives them from the connection's input;
   fuzz/fuzz_lmtp.c drives them from arbitrary bytes. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/str.h"

/* Splits "VERB params" at the first space; params trimmed. */
void lmtp_split_command(struct slice line, struct slice *verb_r, struct slice *params_r);

/* "FROM:<addr> params" (prefix "FROM:") / "TO:<addr>": *addr_r is the text
   inside the brackets (may be empty for <>), *rest_r the parameters.
   0, or -1 on a syntax error (also control characters, over 254 bytes). */
int lmtp_parse_path(struct slice params, const char *prefix, struct slice *addr_r,
		    struct slice *rest_r);

/* RFC 3030 "BDAT <chunk-size> [LAST]". 0, or -1 on a syntax error. */
int lmtp_parse_bdat(struct slice params, uint64_t *size_r, bool *last_r);

/* Postfix XCLIENT (www.postfix.org/XCLIENT_README.html): attribute=value
   pairs, values xtext-encoded; [UNAVAILABLE] / [TEMPUNAVAIL] mean "not
   known" and leave the attribute unset. */
struct lmtp_xclient {
	char addr[64];   /* IPv4 or IPv6 text, without IPV6: prefix */
	uint32_t port;   /* 0 = not given */
	char proto[8];   /* "SMTP" or "ESMTP" */
	char helo[256];
	char name[256];
	char login[256];
};

/* 0, or -1 with *error_r (a static reply text without the code). */
int lmtp_parse_xclient(struct slice params, struct lmtp_xclient *x, const char **error_r);

/* DATA (RFC 5321 §4.5.2): removes dot-stuffing and finds the final ".". */
struct lmtp_data_reader {
	bool mid_line; /* the last piece did not end with LF */
};

enum lmtp_data_step {
	LMTP_DATA_NEED_MORE, /* nothing consumed: wait for more bytes */
	LMTP_DATA_PIECE,     /* *used_r consumed, *piece_r is message content */
	LMTP_DATA_END,       /* *used_r consumed, the terminating "." line */
};

/* One step over in. A line longer than max_piece is passed on in pieces
   (it cannot be the final "."). */
enum lmtp_data_step lmtp_data_step(struct lmtp_data_reader *r, struct slice in,
				   size_t max_piece, size_t *used_r, struct slice *piece_r);

#endif
