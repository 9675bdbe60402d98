#ifndef SORA_MANAGESIEVE_PARSER_H
#define SORA_MANAGESIEVE_PARSER_H

/* The ManageSieve command reader (RFC 5804 §4): one command is a verb atom
   followed by arguments — atoms (numbers, NOOP's tag), quoted strings and
   literals — and CRLF.

   Literals. RFC 5804 has clients send only non-synchronising literals,
   "{n+}" CRLF and n octets. ManageSieve has no continuation request, so a
   "{n}" literal cannot wait for one; as Pigeonhole does, "{n}" is accepted
   and read the same way (the octets follow at once).

   Pure: no I/O, no logging; strings are copied (NUL-terminated, binary
   safe) into the arena the caller gives. The reader works on the bytes
   received so far; it is incremental in that it says how many bytes it
   needs before trying again, so a client that drips a large literal does
   not make the server re-scan it for every byte.

   Bounds: the command line (every byte but literal data) is at most
   max_line bytes, a literal at most max_literal bytes, a quoted string at
   most MSIEVE_QUOTED_MAX bytes, at most MSIEVE_MAX_ARGS arguments. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/arena.h"
#include "../lib/str.h"

#define MSIEVE_MAX_ARGS 4
#define MSIEVE_QUOTED_MAX 1024 /* RFC 5804 §4: *1024QUOTED-CHAR */
#define MSIEVE_ATOM_MAX 1024

enum msieve_arg_type {
	MSIEVE_ARG_ATOM,
	MSIEVE_ARG_STRING, /* quoted or literal */
};

struct msieve_arg {
	enum msieve_arg_type type;
	char *str;     /* NUL-terminated copy in the arena; may hold NULs (literal) */
	size_t len;
	bool literal;
};

struct msieve_cmd {
	struct slice verb; /* points into the arena copy; len 0 for an empty line */
	struct msieve_arg args[MSIEVE_MAX_ARGS];
	size_t count;
};

enum msieve_parse_error {
	MSIEVE_PERR_SYNTAX,        /* answer NO, drop r.used bytes (and the rest
				      of the line when r.skip_line) */
	MSIEVE_PERR_LITERAL_SIZE,  /* a literal over max_literal: r.used covers its
				      header; skip r.literal_size bytes, then the
				      rest of the line */
	MSIEVE_PERR_LINE_TOO_LONG, /* no resynchronising: close */
};

struct msieve_parse_limits {
	size_t max_line;
	size_t max_literal;
};

struct msieve_parse_result {
	size_t used;            /* 1, -1: bytes of input to drop */
	size_t need;            /* 0: try again once this many bytes are there */
	enum msieve_parse_error error;
	const char *msg;        /* static */
	bool skip_line;         /* SYNTAX: the line's end was not there yet */
	uint64_t literal_size;  /* LITERAL_SIZE */
	struct slice verb;      /* the verb when known (also on errors) */
};

/* bare_string: parse a SASL continuation line (RFC 5804 §2.1): one string
   or atom and CRLF, no verb; the value is args[0].
   Returns 1 (complete: *cmd set, r->used), 0 (incomplete: r->need) or -1
   (r->error, r->msg, r->used). */
int msieve_parse(struct slice in, bool bare_string, const struct msieve_parse_limits *lim,
		 struct arena *a, struct msieve_cmd *cmd, struct msieve_parse_result *r);

#endif
