/* Lexer and parser for the RFC 5228 §8 grammar. The parser only builds
   the tree (commands, arguments, tests, blocks); what the commands mean
   is checked by the validator. Positions are 1-based line/column of the
   first byte of each token, so errors point where the user looks. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sieve-private.h"

struct lexer {
	const char *p, *end;
	unsigned int line, col;
	struct arena *a;
	struct sieve_error *err;
	unsigned int depth, max_depth;
};

enum tok_kind {
	T_EOF, T_IDENT, T_TAG, T_NUM, T_STR, T_LBRACKET, T_RBRACKET, T_LPAREN, T_RPAREN,
	T_LBRACE, T_RBRACE, T_COMMA, T_SEMI, T_ERR
};

struct token {
	enum tok_kind kind;
	unsigned int line, col;
	const char *text; /* IDENT/TAG name, STR value */
	size_t len;
	uint64_t num;
};

void sv_error(struct sieve_error *err, unsigned int line, unsigned int col, const char *fmt, ...)
{
	char msg[SIEVE_ERROR_MAX];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	err->line = line;
	err->column = col;
	if (line > 0) {
		if (snprintf(err->msg, sizeof(err->msg), "line %u, column %u: %s", line, col, msg) < 0)
			err->msg[0] = '\0';
	} else if (snprintf(err->msg, sizeof(err->msg), "%s", msg) < 0) {
		err->msg[0] = '\0';
	}
	/* the text goes back to ManageSieve clients and into logs: script
	   strings quoted in it must not carry line breaks or controls */
	for (char *p = err->msg; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

static void adv(struct lexer *l)
{
	if (*l->p == '\n') {
		l->line++;
		l->col = 1;
	} else if (((unsigned char)*l->p & 0xc0) != 0x80) {
		l->col++; /* columns count characters, not UTF-8 continuation bytes */
	}
	l->p++;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* whitespace and comments; -1 on an unterminated bracket comment */
static int skip_ws(struct lexer *l)
{
	while (l->p < l->end) {
		char c = *l->p;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			adv(l);
		} else if (c == '#') {
			while (l->p < l->end && *l->p != '\n')
				adv(l);
		} else if (c == '/' && l->p + 1 < l->end && l->p[1] == '*') {
			unsigned int line = l->line, col = l->col;

			adv(l);
			adv(l);
			for (;;) {
				if (l->p + 1 >= l->end) {
					sv_error(l->err, line, col, "unterminated comment");
					return -1;
				}
				if (l->p[0] == '*' && l->p[1] == '/') {
					adv(l);
					adv(l);
					break;
				}
				adv(l);
			}
		} else {
			break;
		}
	}
	return 0;
}

static int lex_quoted(struct lexer *l, struct token *t)
{
	struct buf b;

	buf_init(&b, 0);
	adv(l); /* opening quote */
	for (;;) {
		if (l->p >= l->end) {
			buf_free(&b);
			sv_error(l->err, t->line, t->col, "unterminated string");
			return -1;
		}
		if (*l->p == '"')
			break;
		if (*l->p == '\\') {
			adv(l);
			if (l->p >= l->end)
				continue;
		}
		/* RFC 5228 §2.4.2: an unknown escape stands for the character */
		(void)buf_append(&b, l->p, 1);
		adv(l);
	}
	adv(l);
	t->text = arena_strndup(l->a, b.data == NULL ? "" : b.data, b.len);
	t->len = b.len;
	buf_free(&b);
	return 0;
}

/* "text:" already consumed up to after the colon */
static int lex_multiline(struct lexer *l, struct token *t)
{
	struct buf b;

	/* *(SP / HTAB) (hash-comment / CRLF) */
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t'))
		adv(l);
	if (l->p < l->end && *l->p == '#') {
		while (l->p < l->end && *l->p != '\n')
			adv(l);
	}
	if (l->p < l->end && *l->p == '\r')
		adv(l);
	if (l->p >= l->end || *l->p != '\n') {
		sv_error(l->err, l->line, l->col, "expected end of line after \"text:\"");
		return -1;
	}
	adv(l);
	buf_init(&b, 0);
	for (;;) {
		const char *ls = l->p, *le;
		size_t n;

		if (l->p >= l->end) {
			buf_free(&b);
			sv_error(l->err, t->line, t->col,
				 "unterminated multi-line string (missing \".\" line)");
			return -1;
		}
		while (l->p < l->end && *l->p != '\n')
			adv(l);
		le = l->p;
		if (l->p < l->end)
			adv(l);
		n = (size_t)(le - ls);
		if (n > 0 && ls[n - 1] == '\r')
			n--;
		if (n == 1 && ls[0] == '.')
			break;
		if (n > 0 && ls[0] == '.') { /* dot-unstuffing */
			ls++;
			n--;
		}
		(void)buf_append(&b, ls, n);
		(void)buf_append(&b, "\r\n", 2);
	}
	t->text = arena_strndup(l->a, b.data == NULL ? "" : b.data, b.len);
	t->len = b.len;
	buf_free(&b);
	return 0;
}

static int next(struct lexer *l, struct token *t)
{
	memset(t, 0, sizeof(*t));
	if (skip_ws(l) < 0)
		return t->kind = T_ERR, -1;
	t->line = l->line;
	t->col = l->col;
	if (l->p >= l->end)
		return t->kind = T_EOF, 0;

	char c = *l->p;

	if (c == '\0') {
		sv_error(l->err, t->line, t->col, "NUL character in script");
		return t->kind = T_ERR, -1;
	}
	switch (c) {
	case '[': adv(l); return t->kind = T_LBRACKET, 0;
	case ']': adv(l); return t->kind = T_RBRACKET, 0;
	case '(': adv(l); return t->kind = T_LPAREN, 0;
	case ')': adv(l); return t->kind = T_RPAREN, 0;
	case '{': adv(l); return t->kind = T_LBRACE, 0;
	case '}': adv(l); return t->kind = T_RBRACE, 0;
	case ',': adv(l); return t->kind = T_COMMA, 0;
	case ';': adv(l); return t->kind = T_SEMI, 0;
	case '"':
		t->kind = T_STR;
		return lex_quoted(l, t) < 0 ? (t->kind = T_ERR, -1) : 0;
	default:
		break;
	}
	if (c == ':') {
		const char *s;

		adv(l);
		s = l->p;
		if (l->p >= l->end || !is_alpha(*l->p)) {
			sv_error(l->err, t->line, t->col, "expected a tag name after ':'");
			return t->kind = T_ERR, -1;
		}
		while (l->p < l->end && (is_alpha(*l->p) || is_digit(*l->p)))
			adv(l);
		t->kind = T_TAG;
		t->text = arena_strndup(l->a, s, (size_t)(l->p - s));
		t->len = (size_t)(l->p - s);
		return 0;
	}
	if (is_digit(c)) {
		uint64_t v = 0, mul = 1;

		while (l->p < l->end && is_digit(*l->p)) {
			unsigned int d = (unsigned int)(*l->p - '0');

			if (v > (UINT64_MAX - d) / 10) {
				sv_error(l->err, t->line, t->col, "number too large");
				return t->kind = T_ERR, -1;
			}
			v = v * 10 + d;
			adv(l);
		}
		if (l->p < l->end) {
			switch (*l->p) {
			case 'K': case 'k': mul = UINT64_C(1) << 10; adv(l); break;
			case 'M': case 'm': mul = UINT64_C(1) << 20; adv(l); break;
			case 'G': case 'g': mul = UINT64_C(1) << 30; adv(l); break;
			default: break;
			}
		}
		if (v > UINT64_MAX / mul) {
			sv_error(l->err, t->line, t->col, "number too large");
			return t->kind = T_ERR, -1;
		}
		if (l->p < l->end && (is_alpha(*l->p) || is_digit(*l->p))) {
			sv_error(l->err, l->line, l->col, "invalid character '%c' in number", *l->p);
			return t->kind = T_ERR, -1;
		}
		t->kind = T_NUM;
		t->num = v * mul;
		return 0;
	}
	if (is_alpha(c)) {
		const char *s = l->p;

		while (l->p < l->end && (is_alpha(*l->p) || is_digit(*l->p)))
			adv(l);
		if ((size_t)(l->p - s) == 4 && memcmp(s, "text", 4) == 0 && l->p < l->end &&
		    *l->p == ':') {
			adv(l);
			t->kind = T_STR;
			return lex_multiline(l, t) < 0 ? (t->kind = T_ERR, -1) : 0;
		}
		t->kind = T_IDENT;
		t->text = arena_strndup(l->a, s, (size_t)(l->p - s));
		t->len = (size_t)(l->p - s);
		return 0;
	}
	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
		sv_error(l->err, t->line, t->col, "unexpected character '%c'", c);
	else
		sv_error(l->err, t->line, t->col, "unexpected character 0x%02x",
			 (unsigned char)c);
	return t->kind = T_ERR, -1;
}

struct parser {
	struct lexer l;
	struct token tok; /* current (lookahead) token */
};

static int peek_next(struct parser *ps)
{
	return next(&ps->l, &ps->tok);
}

static const char *tok_desc(const struct token *t)
{
	switch (t->kind) {
	case T_EOF: return "end of script";
	case T_IDENT: return "identifier";
	case T_TAG: return "tag";
	case T_NUM: return "number";
	case T_STR: return "string";
	case T_LBRACKET: return "'['";
	case T_RBRACKET: return "']'";
	case T_LPAREN: return "'('";
	case T_RPAREN: return "')'";
	case T_LBRACE: return "'{'";
	case T_RBRACE: return "'}'";
	case T_COMMA: return "','";
	case T_SEMI: return "';'";
	default: return "error";
	}
}

static struct sv_str mkstr(const struct token *t)
{
	return (struct sv_str){ .s = t->text, .len = t->len,
				.has_var = memmem(t->text, t->len, "${", 2) != NULL };
}

static int parse_test(struct parser *ps, struct sv_node **node_r);

/* arguments = *argument [ test / test-list ] */
static int parse_arguments(struct parser *ps, struct sv_node *n)
{
	size_t cap = 0;

	for (;;) {
		struct sv_arg arg = { .line = ps->tok.line, .col = ps->tok.col };

		if (ps->tok.kind == T_NUM) {
			arg.kind = SV_ARG_NUM;
			arg.num = ps->tok.num;
		} else if (ps->tok.kind == T_TAG) {
			arg.kind = SV_ARG_TAG;
			arg.tag = ps->tok.text;
		} else if (ps->tok.kind == T_STR) {
			arg.kind = SV_ARG_STR;
			arg.strs = arena_alloc(ps->l.a, sizeof(*arg.strs));
			arg.strs[0] = mkstr(&ps->tok);
			arg.n = 1;
		} else if (ps->tok.kind == T_LBRACKET) {
			size_t scap = 4;

			arg.kind = SV_ARG_LIST;
			arg.strs = arena_alloc(ps->l.a, scap * sizeof(*arg.strs));
			for (;;) {
				if (peek_next(ps) < 0)
					return -1;
				if (ps->tok.kind != T_STR) {
					sv_error(ps->l.err, ps->tok.line, ps->tok.col,
						 "expected a string in string list, found %s",
						 tok_desc(&ps->tok));
					return -1;
				}
				if (arg.n == scap) {
					struct sv_str *ns = arena_alloc(ps->l.a, 2 * scap * sizeof(*ns));

					memcpy(ns, arg.strs, scap * sizeof(*ns));
					arg.strs = ns;
					scap *= 2;
				}
				arg.strs[arg.n++] = mkstr(&ps->tok);
				if (peek_next(ps) < 0)
					return -1;
				if (ps->tok.kind == T_RBRACKET)
					break;
				if (ps->tok.kind != T_COMMA) {
					sv_error(ps->l.err, ps->tok.line, ps->tok.col,
						 "expected ',' or ']' in string list, found %s",
						 tok_desc(&ps->tok));
					return -1;
				}
			}
		} else {
			break;
		}
		if (n->nargs == cap) {
			struct sv_arg *na;

			cap = cap == 0 ? 4 : cap * 2;
			na = arena_alloc(ps->l.a, cap * sizeof(*na));
			if (n->nargs > 0)
				memcpy(na, n->args, n->nargs * sizeof(*na));
			n->args = na;
		}
		n->args[n->nargs++] = arg;
		if (peek_next(ps) < 0)
			return -1;
	}
	if (ps->tok.kind == T_IDENT) {
		n->tests = arena_alloc(ps->l.a, sizeof(*n->tests));
		n->ntests = 1;
		return parse_test(ps, &n->tests[0]);
	}
	if (ps->tok.kind == T_LPAREN) {
		size_t tcap = 4;
		unsigned int line = ps->tok.line, col = ps->tok.col;

		if (++ps->l.depth > ps->l.max_depth) {
			sv_error(ps->l.err, line, col, "tests nested too deeply (limit %u)",
				 ps->l.max_depth);
			return -1;
		}
		n->test_list = true;
		n->tests = arena_alloc(ps->l.a, tcap * sizeof(*n->tests));
		for (;;) {
			if (peek_next(ps) < 0)
				return -1;
			if (ps->tok.kind != T_IDENT) {
				sv_error(ps->l.err, ps->tok.line, ps->tok.col,
					 "expected a test in test list, found %s",
					 tok_desc(&ps->tok));
				return -1;
			}
			if (n->ntests == tcap) {
				struct sv_node **nt = arena_alloc(ps->l.a, 2 * tcap * sizeof(*nt));

				memcpy(nt, n->tests, tcap * sizeof(*nt));
				n->tests = nt;
				tcap *= 2;
			}
			if (parse_test(ps, &n->tests[n->ntests++]) < 0)
				return -1;
			if (ps->tok.kind == T_RPAREN)
				break;
			if (ps->tok.kind != T_COMMA) {
				sv_error(ps->l.err, ps->tok.line, ps->tok.col,
					 "expected ',' or ')' in test list, found %s",
					 tok_desc(&ps->tok));
				return -1;
			}
		}
		ps->l.depth--;
		return peek_next(ps);
	}
	return 0;
}

/* current token is the test's identifier; on return the token after it */
static int parse_test(struct parser *ps, struct sv_node **node_r)
{
	struct sv_node *n = arena_alloc(ps->l.a, sizeof(*n));

	if (++ps->l.depth > ps->l.max_depth) {
		sv_error(ps->l.err, ps->tok.line, ps->tok.col, "tests nested too deeply (limit %u)",
			 ps->l.max_depth);
		return -1;
	}
	n->name = ps->tok.text;
	n->line = ps->tok.line;
	n->col = ps->tok.col;
	*node_r = n;
	if (peek_next(ps) < 0 || parse_arguments(ps, n) < 0)
		return -1;
	ps->l.depth--;
	return 0;
}

static int parse_commands(struct parser *ps, struct sv_node **first_r, bool in_block);

/* current token is the command identifier */
static int parse_command(struct parser *ps, struct sv_node **node_r)
{
	struct sv_node *n = arena_alloc(ps->l.a, sizeof(*n));

	n->name = ps->tok.text;
	n->line = ps->tok.line;
	n->col = ps->tok.col;
	*node_r = n;
	if (peek_next(ps) < 0 || parse_arguments(ps, n) < 0)
		return -1;
	if (ps->tok.kind == T_SEMI)
		return peek_next(ps);
	if (ps->tok.kind == T_LBRACE) {
		unsigned int line = ps->tok.line, col = ps->tok.col;

		if (++ps->l.depth > ps->l.max_depth) {
			sv_error(ps->l.err, line, col, "blocks nested too deeply (limit %u)",
				 ps->l.max_depth);
			return -1;
		}
		n->has_block = true;
		if (peek_next(ps) < 0 || parse_commands(ps, &n->block, true) < 0)
			return -1;
		if (ps->tok.kind != T_RBRACE) {
			sv_error(ps->l.err, line, col, "unterminated block: missing '}'");
			return -1;
		}
		ps->l.depth--;
		return peek_next(ps);
	}
	sv_error(ps->l.err, ps->tok.line, ps->tok.col,
		 "expected ';' or '{' after command \"%s\", found %s", n->name, tok_desc(&ps->tok));
	return -1;
}

static int parse_commands(struct parser *ps, struct sv_node **first_r, bool in_block)
{
	struct sv_node **tail = first_r;

	*first_r = NULL;
	while (ps->tok.kind == T_IDENT) {
		if (parse_command(ps, tail) < 0)
			return -1;
		tail = &(*tail)->next;
	}
	if (ps->tok.kind == T_EOF && !in_block)
		return 0;
	if (ps->tok.kind == T_RBRACE && in_block)
		return 0;
	if (ps->tok.kind == T_EOF)
		return 0; /* the caller reports the missing '}' */
	sv_error(ps->l.err, ps->tok.line, ps->tok.col, "expected a command, found %s",
		 tok_desc(&ps->tok));
	return -1;
}

int sv_parse(struct arena *a, const char *text, size_t len, unsigned int max_nesting,
	     struct sv_node **root_r, struct sieve_error *err)
{
	struct parser ps = { .l = { .p = text, .end = text + len, .line = 1, .col = 1, .a = a,
				    .err = err, .max_depth = max_nesting } };

	if (peek_next(&ps) < 0)
		return -1;
	return parse_commands(&ps, root_r, false);
}
