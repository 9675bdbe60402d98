#ifndef SORA_MIME_MIME_PRIVATE_H
#define SORA_MIME_MIME_PRIVATE_H

/* Shared between the files of src/mime: the RFC 822 lexer (Dovecot's
   tokenising rules, so broken input parses the same way), header field
   handling and the text extractor. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/str.h"
#include "mime.h"

/* RFC 2046 allows 70 characters; Dovecot keeps 80 and so do we. */
#define MIME_BOUNDARY_MAX 80
/* "--" boundary "--": enough bytes of a line to tell a boundary line */
#define MIME_BOUNDARY_LINE_MAX (MIME_BOUNDARY_MAX + 4)
#define MIME_PREVIEW_CHARS 200

/* GMime needs g_mime_init() once per process before any use. */
void mime_gmime_init(void);

/* ---- RFC 822 lexer (mime-rfc822.c) ----
   Return values follow one rule: 1 = more input follows, 0 = input ended,
   -1 = syntax error. Text goes to buf (which must have room: callers size
   it to the field). */
struct mime_lex {
	const unsigned char *p, *end;
	struct buf *comment; /* text of the last comment skipped, or NULL */
};

static inline void mime_lex_init(struct mime_lex *l, const char *s, size_t len, struct buf *comment)
{
	l->p = (const unsigned char *)s;
	l->end = l->p + len;
	l->comment = comment;
}

bool mime_is_atext(unsigned char c);
int mime_lex_skip_lwsp(struct mime_lex *l);
int mime_lex_atom(struct mime_lex *l, struct buf *out);
int mime_lex_dot_atom(struct mime_lex *l, struct buf *out);
int mime_lex_token(struct mime_lex *l, struct buf *out);
int mime_lex_quoted(struct mime_lex *l, struct buf *out);
int mime_lex_phrase(struct mime_lex *l, struct buf *out);
int mime_lex_domain(struct mime_lex *l, struct buf *out);
/* "type/subtype" into out; on -1 out holds what Dovecot keeps: "" or a
   lone type ("text"). */
int mime_lex_content_type(struct mime_lex *l, struct buf *out);

/* Parameters after a content type or disposition, RFC 2231 sections merged
   as Dovecot does. Parameters are copied into the arena. */
void mime_params_parse(struct mime_lex *l, struct arena *a, const struct mime_param **params_r,
		       unsigned int *count_r);
/* Decoded (UTF-8) value of a parameter: RFC 2231 "name*" first, then plain
   "name" with RFC 2047 words decoded. NULL when absent. */
const char *mime_param_decoded(const struct mime_param *params, unsigned int count,
			       const char *name, struct arena *a);

/* Address list (mime_address_parse() in mime.h) on an unfolded value; at
   most *budget addresses (plus group ends), *budget is decreased. */
struct mime_address *mime_address_list_parse(const char *s, size_t len, struct arena *a,
					     unsigned int *budget);

/* addresses kept per message: "To: ,,,,," makes one per comma */
#define MIME_ADDRESS_MAX 10000

/* ---- header fields of one part (mime-header.c) ---- */

enum mime_ct_kind {
	MIME_CT_NONE,
	MIME_CT_OTHER,
	MIME_CT_TEXT,
	MIME_CT_MULTIPART,
	MIME_CT_DIGEST, /* multipart/digest */
	MIME_CT_MESSAGE, /* message/rfc822 */
};

struct mime_hdr {
	struct mime_part *part;
	struct mime_envelope *env; /* NULL: the part has no envelope */
	struct mime_address **env_tail[6];
	bool is_root, is_mime, seen_ct, seen_id, seen_desc, seen_md5, seen_loc;
	enum mime_ct_kind ct_kind;
	const char *boundary; /* of a multipart, NULL when none */
	const char *references; /* root only: References value, or NULL */
	unsigned int addr_budget; /* for the whole message */
	struct buf tmp;
};

void mime_hdr_init(struct mime_hdr *h);
void mime_hdr_deinit(struct mime_hdr *h);
/* A part's header starts: with_envelope for the root and the child of a
   message/rfc822; is_mime for the children of a multipart. */
void mime_hdr_begin(struct mime_hdr *h, struct mime_part *part, bool with_envelope,
		    bool is_root, bool is_mime, struct arena *a);
/* Whether a field of this name is used (the others cost nothing). */
bool mime_hdr_wants(const struct mime_hdr *h, const char *name, size_t name_len);
/* One unfolded field: name without trailing blanks, value after the colon
   and its leading blanks. */
void mime_hdr_field(struct mime_hdr *h, struct arena *a, const char *name, size_t name_len,
		    const char *value, size_t value_len);
/* End of the header: a part that is not MIME forgets its Content-*. */
void mime_hdr_end(struct mime_hdr *h, struct arena *a);

/* ---- decoding (mime-text.c) ---- */

/* UTF-8 of RFC 2047 text; phrase = display-name rules. */
const char *mime_decode_words(const char *s, size_t len, bool phrase, struct arena *a);

struct mime_text;
struct mime_text *mime_text_new(size_t max_text);
void mime_text_free(struct mime_text **t);
/* A leaf part's body begins: decoders for its transfer encoding and, for
   text/plain and text/html, its charset. */
void mime_text_part_begin(struct mime_text *t, const struct mime_part *part);
void mime_text_part_data(struct mime_text *t, const void *data, size_t len);
/* Returns the decoded size (UINT64_MAX: unknown encoding). */
uint64_t mime_text_part_end(struct mime_text *t);
/* Copies text and preview into msg. */
void mime_text_finish(struct mime_text *t, struct mime_message *msg, struct arena *a);

/* ---- message columns (mime-subject.c) ---- */
void mime_message_columns(struct mime_message *msg, const char *references, struct arena *a);

#endif
