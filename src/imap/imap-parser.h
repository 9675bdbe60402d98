#ifndef SORA_IMAP_PARSER_H
#define SORA_IMAP_PARSER_H

/* Incremental, bounded IMAP command reader (RFC 9051 §9 grammar for the
   command line: tag SP command *(SP argument) CRLF, where arguments are
   atoms, quoted strings, literals {n}, {n+}, {n-}, NIL and parenthesised
   lists, nested up to a limit). Pure: no I/O, no logging.

   Ownership: the parser keeps at most one partial command in its own buffer
   (so a half-received command survives across reads). A completed command
   is returned in memory from cmd_arena, which the caller frees when the
   tagged reply is sent. An idle parser (imap_parser_is_idle) can be freed
   and recreated without losing anything, which lets an idle connection
   hold no parser at all.

   Syntax accepted: lines end with CRLF or a bare LF; empty lines are
   skipped. Tags are at most 64 bytes. Arguments are separated by exactly
   one SP (no leading, double or trailing spaces). Atoms also take '\', '*',
   '%' and ']', and a "[...]" section is part of its atom with its spaces
   and parentheses: BODY.PEEK[HEADER.FIELDS (From To)]<0.100> is one atom.
   Quoted strings allow only \" and \\ as escapes, 8-bit bytes but no CR,
   LF or NUL. A NUL byte outside a literal fails the command. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/arena.h"
#include "../lib/str.h"

enum imap_arg_type {
	IMAP_ARG_ATOM,    /* also covers sequence sets, flags (\Seen), '*', and section specs */
	IMAP_ARG_QUOTED,  /* "..." with \" and \\ unescaped */
	IMAP_ARG_LITERAL, /* {n}, {n+}, {n-} followed by n octets */
	IMAP_ARG_NIL,     /* the atom NIL (case-insensitive) */
	IMAP_ARG_LIST,    /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	struct slice str;        /* ATOM/QUOTED/LITERAL: the value (NUL-terminated copy in cmd_arena) */
	struct imap_arg *list;   /* LIST: the elements (NULL when empty) */
	size_t list_count;
	bool literal8;           /* LITERAL: was ~{n} (RFC 3516 BINARY) */
};

struct imap_cmd_args {
	struct slice tag;
	struct slice name;       /* as sent; compare case-insensitively. One atom:
				    for "UID FETCH" it is "UID" and args[0] "FETCH" */
	struct imap_arg *args;   /* after the command name (NULL when count is 0) */
	size_t count;
};

struct imap_parser_limits {
	size_t max_line;        /* bytes of one command outside literals, all its
				   line ends included (default 65536) */
	size_t max_literal;     /* bytes of one literal (default 64 MiB) */
	size_t max_command;     /* total bytes of one command incl. literals (default 64 MiB);
				   also the ceiling of the parser's buffer */
	unsigned max_depth;     /* list nesting (default 16) */
	size_t max_args;        /* arguments incl. nested ones and lists (default 10000) */
	bool literal_minus_only;/* true: non-sync literals above 4096 bytes are an error (LITERAL-) */
};

struct imap_parser;

/* limits NULL: the defaults. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
void imap_parser_free(struct imap_parser **p);
/* E.g. looser limits after login; applies from the next byte on. */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits);
void imap_parser_limits_default(struct imap_parser_limits *limits_r);

/* Feeds bytes. *used_r says how many bytes of `in` were consumed (always
   set); the caller drops them and calls again with the rest and new data.
    1: *cmd_r complete (allocated from cmd_arena).
    0: all of `in` consumed, need more bytes. If a synchronising literal
       {n} was just announced, imap_parser_wants_continuation() is true:
       the caller sends "+ ..." once.
   -1: the command is malformed or over a limit; *error_r (static string)
       says why, imap_parser_tag() gives the tag if one was read. The parser
       then discards the rest of that command by itself (including the
       octets of any non-synchronising literal already announced) and the
       following feed calls resume with the next line. A synchronising
       literal that is refused ends the command at its {n}CRLF: the client
       waits for a "+" and gets the error instead.
   1 and -1 always consume at least one byte. How `in` is split across
   calls never changes the results. */
int imap_parser_feed(struct imap_parser *p, struct slice in, size_t *used_r,
		     struct arena *cmd_arena, struct imap_cmd_args **cmd_r, const char **error_r);

/* True once after a synchronising literal was announced and accepted;
   reading it clears it. */
bool imap_parser_wants_continuation(struct imap_parser *p);

/* Tag of the command being parsed or just failed, or NULL. Valid until the
   next feed. */
const char *imap_parser_tag(const struct imap_parser *p);

/* No partial command buffered. */
bool imap_parser_is_idle(const struct imap_parser *p);

#endif
