#include "managesieve-parser.h"

#include <string.h>

struct pstate {
	struct slice in;
	size_t pos;
	size_t line_bytes; /* bytes of the command line so far (not literal data) */
	const struct msieve_parse_limits *lim;
	struct arena *a;
	struct msieve_parse_result *r;
};

static int perr(struct pstate *p, enum msieve_parse_error e, const char *msg)
{
	p->r->error = e;
	p->r->msg = msg;
	return -1;
}

/* A syntax error at p->pos: drop through the end of this line. */
static int syntax(struct pstate *p, const char *msg)
{
	const char *lf = memchr(p->in.ptr + p->pos, '\n', p->in.len - p->pos);

	if (lf != NULL) {
		p->r->used = (size_t)(lf - p->in.ptr) + 1;
	} else {
		p->r->used = p->in.len;
		p->r->skip_line = true;
	}
	return perr(p, MSIEVE_PERR_SYNTAX, msg);
}

/* Need more input: fail instead when the line is already too long. */
static int more(struct pstate *p, size_t need)
{
	if (p->line_bytes + (p->in.len - p->pos) > p->lim->max_line)
		return perr(p, MSIEVE_PERR_LINE_TOO_LONG, "Line too long");
	p->r->need = need;
	return 0;
}

static bool is_atom_char(unsigned char ch)
{
	/* RFC 5804 §4 ATOM-CHAR: any CHAR except atom-specials */
	return ch > 0x20 && ch < 0x7f && ch != '"' && ch != '{' && ch != '}' && ch != '(' &&
	       ch != ')' && ch != '%' && ch != '*' && ch != '\\';
}

static char *copy(struct pstate *p, const char *s, size_t len)
{
	char *out = arena_alloc(p->a, len + 1);

	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

/* 1: token read, 0: more input, -1: error */
static int read_quoted(struct pstate *p, struct msieve_arg *arg)
{
	const char *s = p->in.ptr;
	size_t i = p->pos + 1, n = 0;
	char *out;

	for (;; i++) {
		if (i >= p->in.len)
			return more(p, p->in.len + 1);
		if (s[i] == '"')
			break;
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return syntax(p, "Invalid character in quoted string");
		if (s[i] == '\\') {
			if (i + 1 >= p->in.len)
				return more(p, p->in.len + 1);
			i++;
			if (s[i] != '"' && s[i] != '\\')
				return syntax(p, "Invalid escape in quoted string");
		}
		if (++n > MSIEVE_QUOTED_MAX)
			return syntax(p, "Quoted string too long");
	}
	out = arena_alloc(p->a, n + 1);
	n = 0;
	for (size_t j = p->pos + 1; j < i; j++) {
		if (s[j] == '\\')
			j++;
		out[n++] = s[j];
	}
	out[n] = '\0';
	*arg = (struct msieve_arg){ .type = MSIEVE_ARG_STRING, .str = out, .len = n };
	p->line_bytes += i + 1 - p->pos;
	p->pos = i + 1;
	return 1;
}

static int read_literal(struct pstate *p, struct msieve_arg *arg)
{
	const char *s = p->in.ptr;
	size_t i = p->pos + 1, start;
	uint64_t size = 0;
	bool digits = false;

	for (; i < p->in.len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (size > (UINT64_MAX - 9) / 10)
			return syntax(p, "Literal size too large");
		size = size * 10 + (uint64_t)(s[i] - '0');
		digits = true;
	}
	if (i < p->in.len && s[i] == '+')
		i++;
	if (i >= p->in.len)
		return more(p, p->in.len + 1);
	if (!digits || s[i] != '}')
		return syntax(p, "Invalid literal");
	i++;
	if (i < p->in.len && s[i] == '\r')
		i++;
	if (i >= p->in.len)
		return more(p, p->in.len + 1);
	if (s[i] != '\n')
		return syntax(p, "Missing line end after literal size");
	i++;
	p->line_bytes += i - p->pos;
	if (p->line_bytes > p->lim->max_line)
		return perr(p, MSIEVE_PERR_LINE_TOO_LONG, "Line too long");
	if (size > p->lim->max_literal) {
		p->r->used = i;
		p->r->literal_size = size;
		return perr(p, MSIEVE_PERR_LITERAL_SIZE, "Literal too large");
	}
	start = i;
	if (p->in.len - start < size) {
		/* the octets are still coming: do not look again before they are
		   all here (plus the line end after them) */
		p->r->need = start + (size_t)size + 1;
		return 0;
	}
	*arg = (struct msieve_arg){ .type = MSIEVE_ARG_STRING, .str = copy(p, s + start, size),
				    .len = (size_t)size, .literal = true };
	p->pos = start + (size_t)size;
	return 1;
}

static int read_atom(struct pstate *p, struct msieve_arg *arg)
{
	size_t i = p->pos;

	while (i < p->in.len && is_atom_char((unsigned char)p->in.ptr[i])) {
		if (i - p->pos >= MSIEVE_ATOM_MAX)
			return syntax(p, "Word too long");
		i++;
	}
	if (i >= p->in.len)
		return more(p, p->in.len + 1);
	if (i == p->pos)
		return syntax(p, "Invalid character");
	*arg = (struct msieve_arg){ .type = MSIEVE_ARG_ATOM,
				    .str = copy(p, p->in.ptr + p->pos, i - p->pos),
				    .len = i - p->pos };
	p->line_bytes += i - p->pos;
	p->pos = i;
	return 1;
}

/* 1: at the end of the line (consumed), 0: more input, 2: not at the end */
static int at_eol(struct pstate *p)
{
	const char *s = p->in.ptr;

	if (p->pos >= p->in.len)
		return more(p, p->in.len + 1);
	if (s[p->pos] == '\n') {
		p->pos++;
		return 1;
	}
	if (s[p->pos] == '\r') {
		if (p->pos + 1 >= p->in.len)
			return more(p, p->in.len + 1);
		if (s[p->pos + 1] == '\n') {
			p->pos += 2;
			return 1;
		}
	}
	return 2;
}

static int read_arg(struct pstate *p, struct msieve_arg *arg)
{
	switch (p->in.ptr[p->pos]) {
	case '"':
		return read_quoted(p, arg);
	case '{':
		return read_literal(p, arg);
	default:
		return read_atom(p, arg);
	}
}

int msieve_parse(struct slice in, bool bare_string, const struct msieve_parse_limits *lim,
		 struct arena *a, struct msieve_cmd *cmd, struct msieve_parse_result *r)
{
	struct pstate p = { .in = in, .lim = lim, .a = a, .r = r };
	int ret;

	*r = (struct msieve_parse_result){ 0 };
	*cmd = (struct msieve_cmd){ 0 };
	if (!bare_string) {
		struct msieve_arg verb;

		ret = at_eol(&p);
		if (ret != 2) {
			if (ret == 1) /* an empty line */
				r->used = p.pos;
			return ret;
		}
		ret = read_atom(&p, &verb);
		if (ret <= 0)
			return ret;
		cmd->verb = slice_from(verb.str, verb.len);
		r->verb = cmd->verb;
	}
	for (;;) {
		bool blank = false;

		while (p.pos < in.len && in.ptr[p.pos] == ' ') {
			p.pos++;
			p.line_bytes++;
			blank = true;
		}
		ret = at_eol(&p);
		if (ret == 1)
			break;
		if (ret <= 0)
			return ret;
		if (!blank && (cmd->count > 0 || !bare_string))
			return syntax(&p, "Missing space between arguments");
		if (cmd->count == MSIEVE_MAX_ARGS || (bare_string && cmd->count == 1))
			return syntax(&p, "Too many arguments");
		ret = read_arg(&p, &cmd->args[cmd->count]);
		if (ret <= 0)
			return ret;
		cmd->count++;
	}
	if (p.line_bytes > lim->max_line)
		return perr(&p, MSIEVE_PERR_LINE_TOO_LONG, "Line too long");
	if (bare_string && cmd->count != 1) {
		p.pos = 0;
		return syntax(&p, "Expected a string");
	}
	r->used = p.pos;
	return 1;
}
