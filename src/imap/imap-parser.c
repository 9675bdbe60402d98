/* Incremental IMAP command reader.

   Design: a byte-at-a-time state machine (literal octets are copied in
   bulk), so every input byte is looked at exactly once however the input
   is split: a 50 MB literal fed in 4 KB reads costs the same as one read.

   While a command is incomplete, only the argument values are kept, not the
   raw line: p->data holds the command name and each value (quoted strings
   already unescaped), each followed by a NUL, and p->toks describes them by
   offset (offsets survive the buffer growing). Lists are tokens too; each
   one counts its direct children and links to its enclosing list, so no
   separate stack is needed. On the final CRLF, p->data is copied in one
   piece into cmd_arena and the struct imap_arg tree is built from p->toks.

   After an error nothing more of the command is stored: the rest of the
   line is skipped by a small scanner that only looks for a literal
   announcement {n}, {n+} or {n-} right before a line end. A non-synchronising
   one means the client sends n octets without waiting, so they are skipped
   too and the line goes on after them; a synchronising one ends the command
   (the client waits for a "+" that never comes). Quoted strings cannot hold
   CR or LF, so a "{n+}" before a line end is always a real announcement. */

#include "imap-parser.h"

#include <stdlib.h>
#include <string.h>

#include "../lib/util.h"

/* imap_parser_tag() keeps a copy; a longer tag is refused ("Tag too long") */
#define IMAP_PARSER_TAG_MAX 64
/* RFC 7888 §4: under LITERAL- a non-synchronising literal is at most 4096 octets */
#define IMAP_LITERAL_MINUS_MAX 4096
/* after a command, buffers bigger than this are freed instead of kept */
#define IMAP_PARSER_KEEP_DATA (64 * 1024)
#define IMAP_PARSER_KEEP_TOKS 256
#define NO_LIST SIZE_MAX

enum parser_state {
	ST_IDLE,        /* between commands; empty lines are skipped here */
	ST_EMPTY_CR,    /* CR of an empty line */
	ST_TAG,
	ST_NAME,
	ST_ARG_START,   /* after SP or '(' */
	ST_ATOM,
	ST_SECTION,     /* inside [...] of an atom: spaces and parens allowed */
	ST_TILDE,       /* '~': literal8 or an atom starting with '~' */
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_ARG_END,     /* after a quoted string, a literal or ')' */
	ST_LIT_SIZE,    /* after '{' */
	ST_LIT_CLOSE,   /* after '+' or '-' */
	ST_LIT_CR,      /* after '}' */
	ST_LIT_LF,      /* after '}' CR */
	ST_LIT_DATA,
	ST_EOL_CR,      /* CR ending the command */
	ST_SKIP,        /* discarding the rest of a failed command's line */
	ST_SKIP_LIT,    /* discarding a non-synchronising literal of it */
};

/* where the skip scanner is in a possible literal announcement */
enum skip_state {
	SKIP_NONE,
	SKIP_BRACE,     /* '{' */
	SKIP_DIGITS,    /* '{' 1*DIGIT */
	SKIP_SIGN,      /* ... '+' or '-' */
	SKIP_CLOSED,    /* ... '}' */
	SKIP_CLOSED_CR, /* ... '}' CR */
};

struct imap_tok {
	enum imap_arg_type type;
	bool literal8;
	size_t off, len; /* value in p->data, NUL not counted */
	size_t count;    /* LIST: direct children */
	size_t parent;   /* LIST: token of the enclosing list, or NO_LIST */
};

struct imap_parser {
	struct imap_parser_limits limits;
	enum parser_state state;

	struct buf data;         /* name and values, each NUL-terminated */
	struct imap_tok *toks;
	size_t tok_count, tok_cap;
	size_t name_len;
	size_t top_count;        /* arguments outside any list */
	size_t arg_count;        /* all arguments, for max_args */
	size_t cur_list;         /* innermost open list, or NO_LIST */
	unsigned depth, max_seen_depth;
	bool after_open;         /* ST_ARG_START was entered by '(' */

	size_t line_bytes;       /* bytes of the command outside literals */
	size_t cmd_bytes;        /* all bytes of the command */

	/* the literal being announced, received or skipped */
	uint64_t lit_size, lit_left;
	bool lit_has_digits, lit_nonsync;
	enum skip_state skip;

	bool wants_cont;
	const char *error;

	char tag[IMAP_PARSER_TAG_MAX + 1];
	size_t tag_len;
	bool has_tag;
};

void imap_parser_limits_default(struct imap_parser_limits *limits_r)
{
	*limits_r = (struct imap_parser_limits){
		.max_line = 65536,
		.max_literal = 64 * 1024 * 1024,
		.max_command = 64 * 1024 * 1024,
		.max_depth = 16,
		.max_args = 10000,
		.literal_minus_only = false,
	};
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));
	struct imap_parser_limits def;

	if (limits == NULL) {
		imap_parser_limits_default(&def);
		limits = &def;
	}
	buf_init(&p->data, limits->max_command);
	imap_parser_set_limits(p, limits);
	p->state = ST_IDLE;
	p->cur_list = NO_LIST;
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = pp == NULL ? NULL : *pp;

	if (p == NULL)
		return;
	/* may hold a LOGIN password or an AUTHENTICATE response */
	buf_wipe(&p->data);
	free(p->toks);
	p->toks = NULL;
	free(p);
	*pp = NULL;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	p->limits = *limits;
	p->data.max = limits->max_command;
}

bool imap_parser_wants_continuation(struct imap_parser *p)
{
	bool ret = p->wants_cont;

	p->wants_cont = false;
	return ret;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->has_tag ? p->tag : NULL;
}

bool imap_parser_is_idle(const struct imap_parser *p)
{
	return p->state == ST_IDLE;
}

/* Forgets the command's values (not its tag) and waits for the next line. */
static void parser_reset_cmd(struct imap_parser *p)
{
	if (p->data.data != NULL)
		util_wipe(p->data.data, p->data.len);
	if (p->data.cap > IMAP_PARSER_KEEP_DATA)
		buf_free(&p->data);
	else
		buf_clear(&p->data);
	if (p->tok_cap > IMAP_PARSER_KEEP_TOKS) {
		free(p->toks);
		p->toks = NULL;
		p->tok_cap = 0;
	}
	p->tok_count = 0;
	p->name_len = 0;
	p->top_count = 0;
	p->arg_count = 0;
	p->cur_list = NO_LIST;
	p->depth = 0;
	p->max_seen_depth = 0;
	p->after_open = false;
	p->line_bytes = 0;
	p->cmd_bytes = 0;
	p->state = ST_IDLE;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 9051 ATOM-CHAR: CHAR except atom-specials */
static bool is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/* RFC 9051 tag: 1*<any ASTRING-CHAR except "+"> */
static bool is_tag_char(unsigned char c)
{
	return (is_atom_char(c) && c != '+') || c == ']';
}

/* Atoms as real commands send them: flags (\Seen), sequence sets (1:*),
   LIST patterns (%), resp-specials (astring). '[' is handled separately. */
static bool is_arg_atom_char(unsigned char c)
{
	return is_atom_char(c) || c == '\\' || c == '*' || c == '%' || c == ']';
}

/* inside BODY[...]: printable ASCII, spaces and lists included, no nesting */
static bool is_section_char(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '[';
}

static int digit_append(uint64_t *n, unsigned char c)
{
	unsigned d = (unsigned)(c - '0');

	if (*n > (UINT64_MAX - d) / 10)
		return -1;
	*n = *n * 10 + d;
	return 0;
}

/* One byte of a line being discarded after an error. */
static void skip_byte(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case '{':
		p->skip = SKIP_BRACE;
		p->lit_size = 0;
		p->lit_nonsync = false;
		return;
	case '+':
	case '-':
		if (p->skip == SKIP_DIGITS) {
			p->skip = SKIP_SIGN;
			p->lit_nonsync = true;
		} else {
			p->skip = SKIP_NONE;
		}
		return;
	case '}':
		p->skip = p->skip == SKIP_DIGITS || p->skip == SKIP_SIGN ? SKIP_CLOSED : SKIP_NONE;
		return;
	case '\r':
		p->skip = p->skip == SKIP_CLOSED ? SKIP_CLOSED_CR : SKIP_NONE;
		return;
	case '\n':
		if ((p->skip == SKIP_CLOSED || p->skip == SKIP_CLOSED_CR) && p->lit_nonsync) {
			/* RFC 7888: the client sends these octets without waiting */
			p->skip = SKIP_NONE;
			p->lit_left = p->lit_size;
			p->state = p->lit_left > 0 ? ST_SKIP_LIT : ST_SKIP;
		} else {
			/* end of the line, or a synchronising literal the client
			   will not send since it gets no "+" */
			p->skip = SKIP_NONE;
			p->state = ST_IDLE;
		}
		return;
	default:
		if (is_digit(c) && (p->skip == SKIP_BRACE || p->skip == SKIP_DIGITS) &&
		    digit_append(&p->lit_size, c) == 0)
			p->skip = SKIP_DIGITS;
		else
			p->skip = SKIP_NONE;
		return;
	}
}

/* Fails the command at byte c: c and the rest of the line are skipped.
   A literal announcement in progress is carried over to the scanner so that
   the octets of a non-synchronising literal are skipped as well. */
static int parser_fail(struct imap_parser *p, unsigned char c, const char *error)
{
	switch (p->state) {
	case ST_LIT_SIZE:
		p->skip = p->lit_has_digits ? SKIP_DIGITS : SKIP_BRACE;
		break;
	case ST_LIT_CLOSE:
		p->skip = SKIP_SIGN;
		break;
	case ST_LIT_CR:
		p->skip = SKIP_CLOSED;
		break;
	case ST_LIT_LF:
		p->skip = SKIP_CLOSED_CR;
		break;
	default:
		p->skip = SKIP_NONE;
		break;
	}
	p->error = error;
	p->wants_cont = false;
	parser_reset_cmd(p);
	p->state = ST_SKIP;
	skip_byte(p, c);
	return -1;
}

/* Stores a byte of the current value. -1: the command failed (as parser_fail). */
static int store_byte(struct imap_parser *p, unsigned char c)
{
	if (buf_append(&p->data, &c, 1) < 0)
		return parser_fail(p, c, "Command too long");
	return 0;
}

/* Starts an argument of the given type in the current list. */
static int arg_begin(struct imap_parser *p, enum imap_arg_type type, bool literal8)
{
	struct imap_tok *t;

	if (p->arg_count >= p->limits.max_args)
		return -1;
	p->arg_count++;
	if (p->cur_list == NO_LIST)
		p->top_count++;
	else
		p->toks[p->cur_list].count++;
	if (p->tok_count == p->tok_cap) {
		p->tok_cap = p->tok_cap == 0 ? 16 : p->tok_cap * 2;
		p->toks = xrealloc(p->toks, p->tok_cap * sizeof(*p->toks));
	}
	t = &p->toks[p->tok_count++];
	*t = (struct imap_tok){
		.type = type,
		.literal8 = literal8,
		.off = p->data.len,
		.parent = p->cur_list,
	};
	return 0;
}

/* Ends the atom, quoted string or literal being stored. */
static int arg_end(struct imap_parser *p)
{
	struct imap_tok *t = &p->toks[p->tok_count - 1];

	t->len = p->data.len - t->off;
	if (t->type == IMAP_ARG_ATOM && t->len == 3 &&
	    slice_eq_ci(slice_from(p->data.data + t->off, 3), "NIL"))
		t->type = IMAP_ARG_NIL;
	return buf_append(&p->data, "", 1);
}

static void list_close(struct imap_parser *p)
{
	p->cur_list = p->toks[p->cur_list].parent;
	p->depth--;
}

static int line_end(struct imap_parser *p, unsigned char c)
{
	if (p->depth > 0)
		return parser_fail(p, c, "Missing ')'");
	if (c == '\r') {
		p->state = ST_EOL_CR;
		return 0;
	}
	return 1;
}

static int step_idle(struct imap_parser *p, unsigned char c);
static int parser_byte(struct imap_parser *p, unsigned char c);

static int step_tag(struct imap_parser *p, unsigned char c)
{
	if (is_tag_char(c)) {
		if (p->tag_len == IMAP_PARSER_TAG_MAX)
			return parser_fail(p, c, "Tag too long");
		p->tag[p->tag_len++] = (char)c;
		p->tag[p->tag_len] = '\0';
		return 0;
	}
	if (p->tag_len == 0 || (c != ' ' && c != '\r' && c != '\n'))
		return parser_fail(p, c, "Invalid tag");
	p->has_tag = true;
	if (c != ' ')
		return parser_fail(p, c, "Missing command name");
	p->state = ST_NAME;
	return 0;
}

static int step_name(struct imap_parser *p, unsigned char c)
{
	if (is_atom_char(c))
		return store_byte(p, c);
	if (p->data.len == 0)
		return parser_fail(p, c, c == ' ' || c == '\r' || c == '\n' ?
						 "Missing command name" : "Invalid command name");
	if (c != ' ' && c != '\r' && c != '\n')
		return parser_fail(p, c, "Invalid command name");
	p->name_len = p->data.len;
	if (buf_append(&p->data, "", 1) < 0)
		return parser_fail(p, c, "Command too long");
	if (c == ' ') {
		p->state = ST_ARG_START;
		return 0;
	}
	return line_end(p, c);
}

static int literal_begin(struct imap_parser *p, unsigned char c, bool literal8)
{
	if (arg_begin(p, IMAP_ARG_LITERAL, literal8) < 0)
		return parser_fail(p, c, "Too many arguments");
	p->lit_size = 0;
	p->lit_has_digits = false;
	p->lit_nonsync = false;
	p->state = ST_LIT_SIZE;
	return 0;
}

static int step_atom(struct imap_parser *p, unsigned char c)
{
	if (is_arg_atom_char(c) || c == '[') {
		if (store_byte(p, c) < 0)
			return -1;
		if (c == '[')
			p->state = ST_SECTION;
		return 0;
	}
	if (c != ' ' && c != ')' && c != '\r' && c != '\n')
		return parser_fail(p, c, "Invalid character in atom");
	if (c == ')' && p->depth == 0)
		return parser_fail(p, c, "Unexpected ')'");
	if (arg_end(p) < 0)
		return parser_fail(p, c, "Command too long");
	switch (c) {
	case ' ':
		p->state = ST_ARG_START;
		return 0;
	case ')':
		list_close(p);
		p->state = ST_ARG_END;
		return 0;
	default:
		return line_end(p, c);
	}
}

static int list_open(struct imap_parser *p, unsigned char c)
{
	if (p->depth >= p->limits.max_depth)
		return parser_fail(p, c, "Too deeply nested");
	if (arg_begin(p, IMAP_ARG_LIST, false) < 0)
		return parser_fail(p, c, "Too many arguments");
	p->cur_list = p->tok_count - 1;
	p->depth++;
	if (p->depth > p->max_seen_depth)
		p->max_seen_depth = p->depth;
	p->after_open = true;
	p->state = ST_ARG_START;
	return 0;
}

static int step_arg_start(struct imap_parser *p, unsigned char c)
{
	bool after_open = p->after_open;

	p->after_open = false;
	switch (c) {
	case '"':
		if (arg_begin(p, IMAP_ARG_QUOTED, false) < 0)
			return parser_fail(p, c, "Too many arguments");
		p->state = ST_QUOTED;
		return 0;
	case '{':
		return literal_begin(p, c, false);
	case '~':
		p->state = ST_TILDE;
		return 0;
	case '(':
		return list_open(p, c);
	case ')':
		if (!after_open)
			return parser_fail(p, c, "Unexpected ')'");
		list_close(p);
		p->state = ST_ARG_END;
		return 0;
	case ' ':
		return parser_fail(p, c, "Unexpected space");
	case '\r':
	case '\n':
		return parser_fail(p, c, after_open ? "Missing ')'" : "Trailing space");
	default:
		break;
	}
	if (!is_arg_atom_char(c) && c != '[')
		return parser_fail(p, c, "Invalid character");
	if (arg_begin(p, IMAP_ARG_ATOM, false) < 0)
		return parser_fail(p, c, "Too many arguments");
	p->state = ST_ATOM;
	return step_atom(p, c);
}

static int step_tilde(struct imap_parser *p, unsigned char c)
{
	/* RFC 3516 literal8: "~{" n "}" */
	if (c == '{')
		return literal_begin(p, c, true);
	if (arg_begin(p, IMAP_ARG_ATOM, false) < 0)
		return parser_fail(p, c, "Too many arguments");
	if (buf_append(&p->data, "~", 1) < 0)
		return parser_fail(p, c, "Command too long");
	p->state = ST_ATOM;
	return step_atom(p, c);
}

static int step_section(struct imap_parser *p, unsigned char c)
{
	if (c == '\r' || c == '\n')
		return parser_fail(p, c, "Missing ']'");
	if (!is_section_char(c))
		return parser_fail(p, c, "Invalid character in section");
	if (store_byte(p, c) < 0)
		return -1;
	if (c == ']')
		p->state = ST_ATOM;
	return 0;
}

static int step_quoted(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case '"':
		if (arg_end(p) < 0)
			return parser_fail(p, c, "Command too long");
		p->state = ST_ARG_END;
		return 0;
	case '\\':
		p->state = ST_QUOTED_ESC;
		return 0;
	case '\r':
	case '\n':
		return parser_fail(p, c, "Missing '\"'");
	default:
		/* 8-bit is fine: RFC 6855 UTF8=ACCEPT */
		return store_byte(p, c);
	}
}

static int step_quoted_esc(struct imap_parser *p, unsigned char c)
{
	/* RFC 9051 quoted-specials are the only escapes */
	if (c != '"' && c != '\\')
		return parser_fail(p, c, "Invalid escape in quoted string");
	if (store_byte(p, c) < 0)
		return -1;
	p->state = ST_QUOTED;
	return 0;
}

static int step_arg_end(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ' ':
		p->state = ST_ARG_START;
		return 0;
	case ')':
		if (p->depth == 0)
			return parser_fail(p, c, "Unexpected ')'");
		list_close(p);
		return 0;
	case '\r':
	case '\n':
		return line_end(p, c);
	default:
		return parser_fail(p, c, "Missing space after argument");
	}
}

/* '}' read: the announcement is complete, check it against the limits. */
static int literal_announced(struct imap_parser *p, unsigned char c)
{
	if (p->lit_size > p->limits.max_literal)
		return parser_fail(p, c, "Literal too big");
	if (p->lit_nonsync && p->limits.literal_minus_only &&
	    p->lit_size > IMAP_LITERAL_MINUS_MAX)
		return parser_fail(p, c, "Non-synchronizing literal too big");
	/* the octets and the CRLF before them must fit; cmd_bytes <=
	   max_command was checked for this byte */
	if (p->limits.max_command - p->cmd_bytes < 2 ||
	    p->lit_size > p->limits.max_command - p->cmd_bytes - 2)
		return parser_fail(p, c, "Command too long");
	p->state = ST_LIT_CR;
	return 0;
}

static int step_lit_size(struct imap_parser *p, unsigned char c)
{
	if (is_digit(c)) {
		if (digit_append(&p->lit_size, c) < 0)
			return parser_fail(p, c, "Invalid literal size");
		p->lit_has_digits = true;
		return 0;
	}
	if (!p->lit_has_digits)
		return parser_fail(p, c, "Invalid literal size");
	if (c == '+' || c == '-') {
		/* RFC 7888 LITERAL+ / LITERAL- */
		p->lit_nonsync = true;
		p->state = ST_LIT_CLOSE;
		return 0;
	}
	if (c == '}')
		return literal_announced(p, c);
	return parser_fail(p, c, "Invalid literal size");
}

static int literal_data_done(struct imap_parser *p)
{
	if (arg_end(p) < 0)
		return -1;
	p->state = ST_ARG_END;
	return 0;
}

/* CRLF (or bare LF) after the announcement: the octets follow. */
static int literal_start(struct imap_parser *p, unsigned char c)
{
	if (!p->lit_nonsync)
		p->wants_cont = true;
	p->lit_left = p->lit_size;
	if (p->lit_left > 0) {
		p->state = ST_LIT_DATA;
		return 0;
	}
	if (literal_data_done(p) < 0)
		return parser_fail(p, c, "Command too long");
	return 0;
}

static int step_literal(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case ST_LIT_CLOSE:
		if (c != '}')
			return parser_fail(p, c, "Invalid literal size");
		return literal_announced(p, c);
	case ST_LIT_CR:
		if (c == '\r') {
			p->state = ST_LIT_LF;
			return 0;
		}
		if (c == '\n')
			return literal_start(p, c);
		return parser_fail(p, c, "Missing CRLF after literal size");
	case ST_LIT_LF:
		if (c == '\n')
			return literal_start(p, c);
		return parser_fail(p, c, "Missing CRLF after literal size");
	default:
		return step_lit_size(p, c);
	}
}

static int step_idle(struct imap_parser *p, unsigned char c)
{
	p->has_tag = false;
	if (c == '\n')
		return 0; /* an empty line, ignored as Dovecot does */
	if (c == '\r') {
		p->state = ST_EMPTY_CR;
		return 0;
	}
	p->tag_len = 0;
	p->tag[0] = '\0';
	p->state = ST_TAG;
	return parser_byte(p, c);
}

/* Any state but the literal octets ones. 1: command complete. */
static int parser_byte(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case ST_IDLE:
		return step_idle(p, c);
	case ST_EMPTY_CR:
		if (c != '\n')
			return parser_fail(p, c, "CR without LF");
		p->state = ST_IDLE;
		return 0;
	case ST_SKIP:
		skip_byte(p, c);
		return 0;
	default:
		break;
	}

	p->line_bytes++;
	p->cmd_bytes++;
	if (p->line_bytes > p->limits.max_line)
		return parser_fail(p, c, "Line too long");
	if (p->cmd_bytes > p->limits.max_command)
		return parser_fail(p, c, "Command too long");
	if (c == '\0')
		return parser_fail(p, c, "NUL byte in command");

	switch (p->state) {
	case ST_TAG:
		return step_tag(p, c);
	case ST_NAME:
		return step_name(p, c);
	case ST_ARG_START:
		return step_arg_start(p, c);
	case ST_ATOM:
		return step_atom(p, c);
	case ST_SECTION:
		return step_section(p, c);
	case ST_TILDE:
		return step_tilde(p, c);
	case ST_QUOTED:
		return step_quoted(p, c);
	case ST_QUOTED_ESC:
		return step_quoted_esc(p, c);
	case ST_ARG_END:
		return step_arg_end(p, c);
	case ST_LIT_SIZE:
	case ST_LIT_CLOSE:
	case ST_LIT_CR:
	case ST_LIT_LF:
		return step_literal(p, c);
	case ST_EOL_CR:
		if (c != '\n')
			return parser_fail(p, c, "CR without LF");
		return 1;
	default:
		/* ST_LIT_DATA and ST_SKIP_LIT are handled in bulk by the caller */
		(void)CHECK_FAILED(!"state handled in bulk");
		return parser_fail(p, c, "Internal parser error");
	}
}

/* Literal octets, kept or skipped: as many as available at once. */
static int parser_octets(struct imap_parser *p, struct slice in, size_t *used_r)
{
	size_t n = in.len;

	if (n > p->lit_left)
		n = (size_t)p->lit_left;
	*used_r = n;
	p->lit_left -= n;
	if (p->state == ST_SKIP_LIT) {
		if (p->lit_left == 0)
			p->state = ST_SKIP;
		return 0;
	}
	p->cmd_bytes += n;
	if (buf_append(&p->data, in.ptr, n) < 0 || (p->lit_left == 0 && literal_data_done(p) < 0)) {
		/* only when the limits were lowered in the middle of the
		   literal: drop it, the client sends the rest anyway */
		p->error = "Command too long";
		parser_reset_cmd(p);
		p->state = p->lit_left > 0 ? ST_SKIP_LIT : ST_SKIP;
		p->skip = SKIP_NONE;
		return -1;
	}
	return 0;
}

struct build_frame {
	struct imap_arg *args;
	size_t count, next;
};

/* Builds the finished command in cmd_arena from p->data and p->toks. */
static struct imap_cmd_args *parser_build(struct imap_parser *p, struct arena *a)
{
	struct imap_cmd_args *cmd = arena_alloc(a, sizeof(*cmd));
	char *data = arena_alloc(a, p->data.len);
	struct build_frame *stack = arena_alloc(a, (p->max_seen_depth + 1) * sizeof(*stack));
	size_t sp = 0;

	memcpy(data, p->data.data, p->data.len);
	cmd->tag = slice_from(arena_strndup(a, p->tag, p->tag_len), p->tag_len);
	cmd->name = slice_from(data, p->name_len);
	cmd->count = p->top_count;
	if (cmd->count > 0)
		cmd->args = arena_alloc(a, cmd->count * sizeof(*cmd->args));
	stack[0] = (struct build_frame){ .args = cmd->args, .count = cmd->count };

	for (size_t i = 0; i < p->tok_count; i++) {
		const struct imap_tok *t = &p->toks[i];
		struct build_frame *f = &stack[sp];
		struct imap_arg *arg;

		if (CHECK_FAILED(f->next < f->count))
			return NULL;
		arg = &f->args[f->next++];
		arg->type = t->type;
		if (t->type == IMAP_ARG_LIST) {
			arg->list_count = t->count;
			if (t->count > 0) {
				arg->list = arena_alloc(a, t->count * sizeof(*arg->list));
				if (CHECK_FAILED(sp < p->max_seen_depth))
					return NULL;
				stack[++sp] = (struct build_frame){ .args = arg->list,
								    .count = t->count };
			}
		} else {
			arg->str = slice_from(data + t->off, t->len);
			arg->literal8 = t->literal8;
		}
		while (sp > 0 && stack[sp].next == stack[sp].count)
			sp--;
	}
	return cmd;
}

int imap_parser_feed(struct imap_parser *p, struct slice in, size_t *used_r,
		     struct arena *cmd_arena, struct imap_cmd_args **cmd_r, const char **error_r)
{
	size_t i = 0;
	int ret = 0;

	while (i < in.len && ret == 0) {
		/* true only while the feed ends right after the announcement */
		p->wants_cont = false;
		if (p->state == ST_LIT_DATA || p->state == ST_SKIP_LIT) {
			size_t n;

			ret = parser_octets(p, slice_from(in.ptr + i, in.len - i), &n);
			i += n;
		} else {
			ret = parser_byte(p, (unsigned char)in.ptr[i]);
			i++;
		}
	}
	*used_r = i;
	if (ret < 0) {
		*error_r = p->error;
		return -1;
	}
	if (ret == 0)
		return 0;

	*cmd_r = parser_build(p, cmd_arena);
	parser_reset_cmd(p);
	if (*cmd_r == NULL) {
		*error_r = "Internal parser error";
		return -1;
	}
	return 1;
}
