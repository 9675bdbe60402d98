#ifndef SORA_MIME_MIME_H
#define SORA_MIME_MIME_H

/* Message parsing, once, at APPEND or delivery.

   The parser walks the raw message in one pass (fed whole or in chunks of
   any size, so a 50 MB message never needs a second copy) and produces
   everything FETCH, SEARCH, SORT and THREAD need later:

   - the MIME part tree with byte offsets of every header and body, sizes
     and line counts (BODY[section]<partial>, BODYSTRUCTURE);
   - the Content-* fields of every part and the envelope of the message and
     of every encapsulated message/rfc822 (BODYSTRUCTURE, ENVELOPE);
   - sort/thread columns (base subject, first From/To/Cc, Date as UTC,
     Message-ID, In-Reply-To, References) and a bounded UTF-8 text extract
     plus an RFC 8970 preview for full-text search.

   Structure, offsets and line counts are computed here over the raw bytes;
   GMime is used only for decoding (RFC 2047 words, charsets through its
   iconv wrappers, base64/quoted-printable). The rules for broken input
   (boundaries, header cuts, defaults, limits) follow Dovecot 2.3, so that
   BODYSTRUCTURE and ENVELOPE strings match what Dovecot says for the same
   bytes.

   Line endings: the message is stored as received. Sizes that IMAP reports
   (RFC822.SIZE, BODYSTRUCTURE octets, *_vsize) count every bare LF as CRLF,
   as Dovecot does; FETCH must then send CRLF-normalised bytes for ranges
   with has_bare_lf (struct mime_range). Offsets (*_start, *_end) are always
   raw positions. Dovecot also sends NUL bytes as 0x80 outside BINARY: parts
   with MIME_PART_HAS_NUL tell FETCH where that is needed.

   Thread safety: all functions may run concurrently on different messages
   (worker jobs). Nothing here logs; results live in the caller's arena. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"

struct arena;

struct mime_limits {
	unsigned int max_depth;  /* nested multipart + message/rfc822 levels */
	unsigned int max_parts;  /* MIME parts; later boundaries are body text */
	size_t max_field;        /* bytes kept of one header field */
	size_t max_header_total; /* bytes of used header fields per message */
	size_t max_text;         /* bytes of UTF-8 text extracted for search */
	uint64_t max_size;       /* message size; 0 = no limit */
};

/* Dovecot's defaults for depth and parts, so results agree with it. */
#define MIME_LIMITS_DEFAULT                                                    \
	((struct mime_limits){ .max_depth = 100,                               \
			       .max_parts = 10000,                             \
			       .max_field = 64 * 1024,                         \
			       .max_header_total = 8 * 1024 * 1024,            \
			       .max_text = 1024 * 1024,                        \
			       .max_size = 0 })

/* A Content-Type or Content-Disposition parameter exactly as BODYSTRUCTURE
   shows it: RFC 2231 sections are merged ("name*0*", "name*1*" become
   "name*" = "utf-8''%E2%82%AC..."), values are not decoded. */
struct mime_param {
	const char *name, *value;
};

/* RFC 9051 address: addr-name, addr-adl, addr-mailbox, addr-host, raw (no
   RFC 2047 decoding). A group is opened by { NULL, NULL, "group name",
   NULL } and closed by { NULL, NULL, NULL, NULL }. */
struct mime_address {
	struct mime_address *next;
	const char *name, *route, *mailbox, *domain;
};

/* Envelope fields of a message: header values after the colon and its
   blanks, NULL when absent. Folded values keep an LF where the lines broke
   (the writers drop it as Dovecot does); NUL is replaced by U+FFFD in
   these strings and in quoted strings, and ends atoms elsewhere. Address lists of repeated headers
   are concatenated; for the other fields the last header wins. */
struct mime_envelope {
	const char *date, *subject, *in_reply_to, *message_id;
	struct mime_address *from, *sender, *reply_to, *to, *cc, *bcc;
};

enum mime_part_flags {
	MIME_PART_MULTIPART = 1 << 0, /* children are its body parts */
	MIME_PART_MESSAGE = 1 << 1,   /* message/rfc822: one child, the message */
	MIME_PART_TEXT = 1 << 2,      /* text/\* or default: lines are reported */
	MIME_PART_IS_MIME = 1 << 3,   /* Content-* fields apply */
	MIME_PART_BARE_LF = 1 << 4,   /* a line in this part ends in a bare LF */
	MIME_PART_HAS_NUL = 1 << 5,   /* NUL bytes in the body */
};

struct mime_part {
	struct mime_part *parent, *next, *children;
	unsigned int child_count, flags;

	/* Raw offsets: header [hdr_start, body_start) includes the blank
	   line; body [body_start, body_end). For a message/rfc822 part the
	   body is the encapsulated message (its child's header and body). */
	uint64_t hdr_start, body_start, body_end;
	/* Octets as IMAP reports them (bare LF counted as CRLF), LF counts. */
	uint64_t hdr_vsize, body_vsize, hdr_lines, body_lines;
	/* Decoded size for BINARY.SIZE (GMime's base64 and quoted-printable
	   decoders; identity encodings: body_vsize). UINT64_MAX when the
	   transfer encoding is unknown or the part has children. */
	uint64_t binary_size;

	/* Content-* fields as BODYSTRUCTURE writes them, NULL when absent
	   (also when the part is not MIME). type is "" and subtype "" for an
	   unparseable Content-Type; subtype "" when it has no "/". */
	const char *type, *subtype;
	const struct mime_param *params;
	unsigned int param_count;
	const char *id, *description, *encoding, *md5, *location;
	const char *disposition;
	const struct mime_param *disp_params;
	unsigned int disp_param_count;
	const char *const *languages;
	unsigned int language_count;

	/* Decoded conveniences, UTF-8: the charset parameter, and the file
	   name (disposition filename, else Content-Type name; RFC 2231 and
	   RFC 2047 decoded). NULL when absent. */
	const char *charset, *filename;

	/* Set on the root part and on the child of every message/rfc822. */
	const struct mime_envelope *envelope;
};

/* First address of From/To/Cc for SORT (RFC 5256) and SORT=DISPLAY (RFC
   5957). mailbox/domain are raw; display is the RFC 2047-decoded
   display-name, or "mailbox@domain" without one. All NULL: no address. */
struct mime_sort_addr {
	const char *mailbox, *domain, *display;
};

struct mime_message {
	struct mime_part *root;
	uint64_t size;  /* octets as received */
	uint64_t vsize; /* RFC822.SIZE: bare LFs counted as CRLF */
	unsigned int part_count;
	bool limit_hit; /* depth, part or header limits cut the structure */

	/* Columns for SORT, THREAD and SEARCH. Strings are UTF-8. */
	const char *subject;      /* decoded Subject, NULL when absent */
	const char *base_subject; /* RFC 5256 base subject, "" when none */
	struct mime_sort_addr from, to, cc;
	int64_t date;             /* Date: in UTC seconds; 0 when unusable */
	int date_tz;              /* its zone, minutes east of UTC */
	const char *message_id;   /* msg-id without <>, NULL when none */
	const char *in_reply_to;  /* first msg-id of In-Reply-To, or NULL */
	const char *const *references; /* msg-ids of References, in order */
	unsigned int reference_count;

	/* Body text for full-text search: text/plain and tag-stripped
	   text/html parts, transfer-decoded, converted to UTF-8, one part
	   after another separated by "\n", at most limits.max_text bytes. */
	const char *text;
	size_t text_len;
	bool text_truncated;
	/* RFC 8970 PREVIEW: the first text part with text, whitespace
	   collapsed, at most 200 characters; "" when there is none. */
	const char *preview;
};

/* ---- parsing ---- */

struct mime_parser;

/* limits NULL = MIME_LIMITS_DEFAULT. Results are allocated from a. */
struct mime_parser *mime_parser_new(struct arena *a, const struct mime_limits *limits);
/* Feeds the next bytes of the message. Broken MIME never fails: it has a
   defined result. Returns 0, or -1 when the message exceeds
   limits.max_size (*error_r set; the parser must then be freed). */
int mime_parser_feed(struct mime_parser *p, const void *data, size_t len, const char **error_r);
/* Ends the input and frees the parser (*p = NULL). The message lives in
   the arena given to mime_parser_new. */
struct mime_message *mime_parser_finish(struct mime_parser **p);
/* Frees a parser without a result; accepts NULL. */
void mime_parser_free(struct mime_parser **p);

/* The whole message at once. 0, or -1 with *error_r (size limit only). */
int mime_parse(const char *data, size_t len, struct arena *a, struct mime_message **msg_r,
	       const char **error_r);
int mime_parse_limits(const char *data, size_t len, const struct mime_limits *limits,
		      struct arena *a, struct mime_message **msg_r, const char **error_r);

/* ---- IMAP strings (RFC 9051 §7.5.2), exactly as Dovecot writes them ---- */

/* Appends "(...)" for BODYSTRUCTURE (extended) or BODY. root is the
   message's root part (or the child of a message/rfc822 part). -1 when
   out reaches its ceiling. */
int mime_bodystructure(const struct mime_part *root, bool extended, struct buf *out);
/* Appends "(date subject from sender reply-to to cc bcc in-reply-to
   message-id)"; sender and reply-to default to from. env NULL: all NIL. */
int mime_envelope(const struct mime_envelope *env, struct buf *out);
/* nstring: NIL, "quoted" when safe, otherwise a literal {n}\r\n... */
int mime_imap_nstring(struct buf *out, const char *s);

/* ---- sections for FETCH BODY[...] without re-parsing ---- */

enum mime_section {
	MIME_SECTION_BODY,   /* BODY[1.2]: the part's body (whole message: all) */
	MIME_SECTION_HEADER, /* BODY[HEADER], BODY[1.2.HEADER] (message/rfc822) */
	MIME_SECTION_TEXT,   /* BODY[TEXT], BODY[1.2.TEXT] (message/rfc822) */
	MIME_SECTION_MIME,   /* BODY[1.2.MIME]: the part's own header */
};

struct mime_range {
	uint64_t start, end; /* raw offsets */
	uint64_t vsize;      /* size to announce (bare LF counted as CRLF) */
	bool has_bare_lf;    /* bytes must be CRLF-normalised when sent */
};

/* Resolves an IMAP section: nums are the part numbers ("1.2" = {1, 2}),
   count 0 for the message itself. -1 with *error_r when there is no such
   part or the kind does not apply (HEADER/TEXT of a non-message part, MIME
   of the message). */
int mime_section_find(const struct mime_part *root, const uint32_t *nums, size_t count,
		      enum mime_section kind, struct mime_range *range_r, const char **error_r);

/* Compact binary form of the part tree (flags, offsets, sizes, lines) for
   the metadata store; decoding gives parts with only those fields set,
   enough for mime_section_find(). Decoding rejects malformed input. */
int mime_parts_encode(const struct mime_part *root, struct buf *out);
int mime_parts_decode(const void *data, size_t len, struct arena *a, struct mime_part **root_r,
		      const char **error_r);

/* ---- helpers also used by SEARCH ---- */

/* RFC 5322 date (obsolete forms too) to UTC seconds and zone minutes.
   Missing zone: +0000. -1 when unparseable. */
int mime_date_parse(struct slice s, int64_t *time_r, int *tz_r);
/* RFC 2047-decoded UTF-8 text of a raw header value (unstructured). */
const char *mime_header_decode(struct slice raw, struct arena *a);
/* RFC 5256 §2.1 base subject of a raw Subject value (decoded first). */
const char *mime_base_subject(struct slice raw, struct arena *a);
/* Address list as ENVELOPE sees it (Dovecot rules for broken input:
   MISSING_MAILBOX, MISSING_DOMAIN, INVALID_ROUTE, SYNTAX_ERROR). */
struct mime_address *mime_address_parse(struct slice raw, struct arena *a);

#endif
