/* Tests of imap/imap-parser.h. Most tests write what the parser returned
   for an input as a transcript, one line per command or error, and compare
   it with the expected one; check() does so for the input fed whole, in two
   pieces at every split point, and byte by byte (STYLE §11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap-parser.h"
#include "lib/util.h"

/* ---- transcript helpers ---- */

static void out_bytes(struct buf *out, struct slice s, bool escape_specials)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];

		if (c < 0x20 || c >= 0x7f)
			assert_int_equal(buf_printf(out, "\\x%02x", c), 0);
		else if (escape_specials && (c == '"' || c == '\\'))
			assert_int_equal(buf_printf(out, "\\%c", c), 0);
		else
			assert_int_equal(buf_append(out, &c, 1), 0);
	}
}

static void out_args(struct buf *out, const struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];

		if (i > 0)
			assert_int_equal(buf_append_str(out, " "), 0);
		if (a->type != IMAP_ARG_LIST) {
			/* every value is a NUL-terminated copy */
			assert_non_null(a->str.ptr);
			assert_int_equal(a->str.ptr[a->str.len], '\0');
		}
		assert_true(!a->literal8 || a->type == IMAP_ARG_LITERAL);
		switch (a->type) {
		case IMAP_ARG_ATOM:
			out_bytes(out, a->str, false);
			break;
		case IMAP_ARG_NIL:
			assert_true(slice_eq_ci(a->str, "NIL"));
			assert_int_equal(buf_append_str(out, "NIL"), 0);
			break;
		case IMAP_ARG_QUOTED:
			assert_int_equal(buf_append_str(out, "\""), 0);
			out_bytes(out, a->str, true);
			assert_int_equal(buf_append_str(out, "\""), 0);
			break;
		case IMAP_ARG_LITERAL:
			assert_int_equal(buf_printf(out, "%s{%zu:", a->literal8 ? "~" : "",
						    a->str.len), 0);
			out_bytes(out, a->str, true);
			assert_int_equal(buf_append_str(out, "}"), 0);
			break;
		case IMAP_ARG_LIST:
			assert_true(a->list_count == 0 || a->list != NULL);
			assert_int_equal(buf_append_str(out, "("), 0);
			out_args(out, a->list, a->list_count);
			assert_int_equal(buf_append_str(out, ")"), 0);
			break;
		}
	}
}

static void out_cmd(struct buf *out, const struct imap_cmd_args *cmd)
{
	assert_int_equal(cmd->tag.ptr[cmd->tag.len], '\0');
	assert_int_equal(cmd->name.ptr[cmd->name.len], '\0');
	assert_true(cmd->count == 0 || cmd->args != NULL);
	out_bytes(out, cmd->tag, false);
	assert_int_equal(buf_append_str(out, " "), 0);
	out_bytes(out, cmd->name, false);
	if (cmd->count > 0) {
		assert_int_equal(buf_append_str(out, " "), 0);
		out_args(out, cmd->args, cmd->count);
	}
	assert_int_equal(buf_append_str(out, "\n"), 0);
}

/* A caller as the server is one: keeps what was not consumed, appends the
   next read, and feeds until the parser wants more. */
struct run {
	struct imap_parser *p;
	struct arena *arena;
	struct buf pending;
	struct buf out;
};

static void run_init(struct run *r, const struct imap_parser_limits *limits)
{
	r->p = imap_parser_new(limits);
	r->arena = arena_new(1024);
	buf_init(&r->pending, 0);
	buf_init(&r->out, 0);
}

static void run_deinit(struct run *r)
{
	imap_parser_free(&r->p);
	assert_null(r->p);
	arena_free(&r->arena);
	buf_free(&r->pending);
	buf_free(&r->out);
}

static void run_piece(struct run *r, const char *piece, size_t len)
{
	assert_int_equal(buf_append(&r->pending, piece, len), 0);
	while (r->pending.len > 0) {
		struct imap_cmd_args *cmd = NULL;
		const char *error = NULL;
		size_t used = SIZE_MAX;
		int ret = imap_parser_feed(r->p, buf_slice(&r->pending), &used, r->arena, &cmd,
					   &error);

		assert_true(used <= r->pending.len);
		if (ret == 0) {
			assert_int_equal(used, r->pending.len);
			buf_clear(&r->pending);
			return;
		}
		/* a result always consumes something: no endless loops */
		assert_true(used > 0);
		if (ret == 1) {
			assert_non_null(cmd);
			out_cmd(&r->out, cmd);
			assert_true(imap_parser_is_idle(r->p));
			arena_reset(r->arena);
		} else {
			const char *tag = imap_parser_tag(r->p);

			assert_int_equal(ret, -1);
			assert_non_null(error);
			assert_int_equal(buf_printf(&r->out, "ERR %s %s\n", tag == NULL ? "-" : tag,
						    error), 0);
		}
		buf_consume(&r->pending, used);
	}
}

/* Feeds in pieces: cut > 0 splits in two there; bytewise feeds 1 byte at a time. */
static char *run_transcript(const struct imap_parser_limits *limits, const char *in, size_t len,
			    size_t cut, bool bytewise)
{
	struct run r;
	char *ret;

	run_init(&r, limits);
	if (bytewise) {
		for (size_t i = 0; i < len; i++)
			run_piece(&r, in + i, 1);
	} else if (cut > 0) {
		run_piece(&r, in, cut);
		run_piece(&r, in + cut, len - cut);
	} else {
		run_piece(&r, in, len);
	}
	ret = xstrdup(r.out.data == NULL ? "" : r.out.data);
	run_deinit(&r);
	return ret;
}

static void expect_same(const char *got, const char *expected, const char *how, size_t cut)
{
	if (strcmp(got, expected) != 0) {
		print_error("fed %s (cut %zu):\n--- expected\n%s--- got\n%s", how, cut, expected,
			    got);
		fail();
	}
}

static void check_len(const struct imap_parser_limits *limits, const char *in, size_t len,
		      const char *expected)
{
	char *got = run_transcript(limits, in, len, 0, false);

	expect_same(got, expected, "whole", 0);
	free(got);
	for (size_t cut = 1; cut < len; cut++) {
		got = run_transcript(limits, in, len, cut, false);
		expect_same(got, expected, "in two pieces", cut);
		free(got);
	}
	got = run_transcript(limits, in, len, 0, true);
	expect_same(got, expected, "byte by byte", 0);
	free(got);
}

/* string literal inputs may contain NUL bytes */
#define CHECK(in, expected) check_len(NULL, (in), sizeof(in) - 1, (expected))
#define CHECK_LIM(lim, in, expected) check_len((lim), (in), sizeof(in) - 1, (expected))

static struct imap_parser_limits small_limits(void)
{
	return (struct imap_parser_limits){
		.max_line = 64,
		.max_literal = 16,
		.max_command = 128,
		.max_depth = 3,
		.max_args = 8,
	};
}

/* snprintf that must fit */
static size_t fmt(char *dst, size_t size, const char *format, ...) PRINTF_FMT(3, 4);
static size_t fmt(char *dst, size_t size, const char *format, ...)
{
	va_list ap;
	int n;

	va_start(ap, format);
	n = vsnprintf(dst, size, format, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
	return (size_t)n;
}

/* ---- argument types ---- */

static void test_atoms(void **state)
{
	(void)state;
	CHECK("a1 NOOP\r\n", "a1 NOOP\n");
	CHECK("a1 noop\r\n", "a1 noop\n");
	CHECK("a1 FETCH 1:*,5 (FLAGS \\Seen \\Flagged $Junk)\r\n",
	      "a1 FETCH 1:*,5 (FLAGS \\Seen \\Flagged $Junk)\n");
	CHECK("a1 LIST \"\" %\r\na2 LIST \"\" *\r\na3 LIST \"\" INBOX.*.%\r\n",
	      "a1 LIST \"\" %\na2 LIST \"\" *\na3 LIST \"\" INBOX.*.%\n");
	CHECK("a1 X ~foo ~ a~b ] a]b\r\n", "a1 X ~foo ~ a~b ] a]b\n");
	CHECK("a1 X nil NIL Nil \"NIL\" NILS\r\n", "a1 X NIL NIL NIL \"NIL\" NILS\n");
	CHECK("+ NOOP\r\n", "ERR - Invalid tag\n");
	CHECK("a+b NOOP\r\n", "ERR - Invalid tag\n");
	CHECK("a] NOOP\r\n", "a] NOOP\n");
	CHECK("a*b NOOP\r\na2 NOOP\r\n", "ERR - Invalid tag\na2 NOOP\n");
	CHECK("a1 NO*OP\r\na2 NOOP\r\n", "ERR a1 Invalid command name\na2 NOOP\n");
	CHECK("a1 X a{b\r\na2 X a\"b\r\n",
	      "ERR a1 Invalid character in atom\nERR a2 Invalid character in atom\n");
	CHECK("a1 X caf\xc3\xa9\r\na2 NOOP\r\n", "ERR a1 Invalid character in atom\na2 NOOP\n");
}

static void test_types_and_values(void **state)
{
	const char in[] = "t1 X atom nil \"q\\\"\" {2}\r\nl\0 ~{1+}\r\n8 (a (b)) ()\r\n";
	struct imap_parser *p = imap_parser_new(NULL);
	struct arena *a = arena_new(256);
	struct imap_cmd_args *cmd = NULL;
	const char *error = NULL;
	size_t used = 0;

	(void)state;
	assert_int_equal(imap_parser_feed(p, slice_from(in, sizeof(in) - 1), &used, a, &cmd,
					  &error),
			 1);
	assert_int_equal(used, sizeof(in) - 1);
	assert_string_equal(cmd->tag.ptr, "t1");
	assert_true(slice_eq(cmd->name, SLICE_LIT("X")));
	assert_int_equal(cmd->count, 7);
	assert_int_equal(cmd->args[0].type, IMAP_ARG_ATOM);
	assert_string_equal(cmd->args[0].str.ptr, "atom");
	assert_int_equal(cmd->args[1].type, IMAP_ARG_NIL);
	assert_string_equal(cmd->args[1].str.ptr, "nil"); /* as sent */
	assert_int_equal(cmd->args[2].type, IMAP_ARG_QUOTED);
	assert_string_equal(cmd->args[2].str.ptr, "q\"");
	assert_int_equal(cmd->args[3].type, IMAP_ARG_LITERAL);
	assert_false(cmd->args[3].literal8);
	assert_int_equal(cmd->args[3].str.len, 2);
	assert_memory_equal(cmd->args[3].str.ptr, "l\0", 3);
	assert_int_equal(cmd->args[4].type, IMAP_ARG_LITERAL);
	assert_true(cmd->args[4].literal8);
	assert_string_equal(cmd->args[4].str.ptr, "8");
	assert_int_equal(cmd->args[5].type, IMAP_ARG_LIST);
	assert_int_equal(cmd->args[5].list_count, 2);
	assert_int_equal(cmd->args[5].list[0].type, IMAP_ARG_ATOM);
	assert_int_equal(cmd->args[5].list[1].type, IMAP_ARG_LIST);
	assert_int_equal(cmd->args[5].list[1].list_count, 1);
	assert_string_equal(cmd->args[5].list[1].list[0].str.ptr, "b");
	assert_int_equal(cmd->args[6].type, IMAP_ARG_LIST);
	assert_int_equal(cmd->args[6].list_count, 0);
	assert_null(cmd->args[6].list);

	/* no arguments */
	arena_reset(a);
	assert_int_equal(imap_parser_feed(p, SLICE_LIT("t2 NOOP\r\n"), &used, a, &cmd, &error), 1);
	assert_int_equal(cmd->count, 0);
	assert_null(cmd->args);
	arena_free(&a);
	imap_parser_free(&p);
	imap_parser_free(&p); /* accepts NULL */
}

static void test_quoted(void **state)
{
	(void)state;
	CHECK("a1 X \"\" \"a b\" \"\\\\\" \"\\\"\" \"(x)\" \"{5}\"\r\n",
	      "a1 X \"\" \"a b\" \"\\\\\" \"\\\"\" \"(x)\" \"{5}\"\n");
	/* RFC 6855 UTF8=ACCEPT: 8-bit in quoted strings */
	CHECK("a1 X \"caf\xc3\xa9\"\r\n", "a1 X \"caf\\xc3\\xa9\"\n");
	CHECK("a1 X \"a\\n\"\r\na2 NOOP\r\n", "ERR a1 Invalid escape in quoted string\na2 NOOP\n");
	CHECK("a1 X \"a\\\r\na2 NOOP\r\n", "ERR a1 Invalid escape in quoted string\na2 NOOP\n");
	CHECK("a1 X \"ab\r\na2 NOOP\r\n", "ERR a1 Missing '\"'\na2 NOOP\n");
	CHECK("a1 X \"ab\na2 NOOP\n", "ERR a1 Missing '\"'\na2 NOOP\n");
	CHECK("a1 X \"a\0b\"\r\na2 NOOP\r\n", "ERR a1 NUL byte in command\na2 NOOP\n");
	CHECK("a1 X \"a\"b\r\na2 NOOP\r\n", "ERR a1 Missing space after argument\na2 NOOP\n");
	CHECK("a1 X \"a\"\"b\"\r\na2 NOOP\r\n", "ERR a1 Missing space after argument\na2 NOOP\n");
}

static void test_literals(void **state)
{
	(void)state;
	CHECK("a1 X {3}\r\nabc\r\n", "a1 X {3:abc}\n");
	CHECK("a1 X {3+}\r\nabc\r\n", "a1 X {3:abc}\n");
	CHECK("a1 X {3-}\r\nabc\r\n", "a1 X {3:abc}\n");
	CHECK("a1 X {0}\r\n {0+}\r\n\r\n", "a1 X {0:} {0:}\n");
	CHECK("a1 X {004}\r\n\r\n\0\n\r\n", "a1 X {4:\\x0d\\x0a\\x00\\x0a}\n");
	/* RFC 3516 literal8 */
	CHECK("a1 X ~{3}\r\na\0c ~{2+}\r\nxy\r\n", "a1 X ~{3:a\\x00c} ~{2:xy}\n");
	/* literals inside lists, next to parens */
	CHECK("a1 X ({1}\r\na {2+}\r\nbc)\r\n", "a1 X ({1:a} {2:bc})\n");
	/* a literal's octets that look like syntax are data */
	CHECK("a1 X {9}\r\n) \"{3}\r\n(\r\n", "a1 X {9:) \\\"{3}\\x0d\\x0a(}\n");
	/* bare LF after the announcement, as Dovecot accepts */
	CHECK("a1 X {3}\nabc\n", "a1 X {3:abc}\n");

	CHECK("a1 X {}\r\na2 NOOP\r\n", "ERR a1 Invalid literal size\na2 NOOP\n");
	CHECK("a1 X {+}\r\na2 NOOP\r\n", "ERR a1 Invalid literal size\na2 NOOP\n");
	CHECK("a1 X {5x}\r\na2 NOOP\r\n", "ERR a1 Invalid literal size\na2 NOOP\n");
	CHECK("a1 X {5++}\r\na2 NOOP\r\n", "ERR a1 Invalid literal size\na2 NOOP\n");
	CHECK("a1 X {99999999999999999999999}\r\na2 NOOP\r\n",
	      "ERR a1 Invalid literal size\na2 NOOP\n");
	CHECK("a1 X {3}x\r\na2 NOOP\r\n", "ERR a1 Missing CRLF after literal size\na2 NOOP\n");
	CHECK("a1 X {3}\rx\r\na2 NOOP\r\n", "ERR a1 Missing CRLF after literal size\na2 NOOP\n");
	CHECK("a1 X {3}\r\nabcd\r\na2 NOOP\r\n", "ERR a1 Missing space after argument\na2 NOOP\n");
	CHECK("a1 X a{3}\r\na2 NOOP\r\n", "ERR a1 Invalid character in atom\na2 NOOP\n");
	CHECK("a1 X ~ {1}\r\n~\r\n", "a1 X ~ {1:~}\n");
}

static void test_lists(void **state)
{
	(void)state;
	CHECK("a1 X () (()) ((a) b (c (d)))\r\n", "a1 X () (()) ((a) b (c (d)))\n");
	CHECK("a1 X (\"a\" {1}\r\nb NIL)\r\n", "a1 X (\"a\" {1:b} NIL)\n");
	CHECK("a1 X (a\r\na2 NOOP\r\n", "ERR a1 Missing ')'\na2 NOOP\n");
	CHECK("a1 X (\r\na2 NOOP\r\n", "ERR a1 Missing ')'\na2 NOOP\n");
	CHECK("a1 X ((a)\r\na2 NOOP\r\n", "ERR a1 Missing ')'\na2 NOOP\n");
	CHECK("a1 X a)\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X (a))\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X )\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X (a )\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X ( a)\r\na2 NOOP\r\n", "ERR a1 Unexpected space\na2 NOOP\n");
	CHECK("a1 X (a)(b)\r\na2 NOOP\r\n", "ERR a1 Missing space after argument\na2 NOOP\n");
	CHECK("a1 X (a)b\r\na2 NOOP\r\n", "ERR a1 Missing space after argument\na2 NOOP\n");
	CHECK("a1 X a(b)\r\na2 NOOP\r\n", "ERR a1 Invalid character in atom\na2 NOOP\n");
}

static void test_section_atom(void **state)
{
	(void)state;
	CHECK("a1 FETCH 1 BODY[]\r\n", "a1 FETCH 1 BODY[]\n");
	CHECK("a1 FETCH 1 (BODY[1.2.MIME] BODY.PEEK[TEXT]<0.100> BINARY[1]<5.6>)\r\n",
	      "a1 FETCH 1 (BODY[1.2.MIME] BODY.PEEK[TEXT]<0.100> BINARY[1]<5.6>)\n");
	CHECK("a1 FETCH 1 BODY[HEADER.FIELDS.NOT (A B)] BODY[HEADER.FIELDS (\"From\")]\r\n",
	      "a1 FETCH 1 BODY[HEADER.FIELDS.NOT (A B)] BODY[HEADER.FIELDS (\"From\")]\n");
	CHECK("a1 FETCH 1 (BODY[HEADER.FIELDS (A)])\r\n", "a1 FETCH 1 (BODY[HEADER.FIELDS (A)])\n");
	CHECK("a1 FETCH 1 BODY[HEADER\r\na2 NOOP\r\n", "ERR a1 Missing ']'\na2 NOOP\n");
	CHECK("a1 FETCH 1 BODY[a[b]]\r\na2 NOOP\r\n",
	      "ERR a1 Invalid character in section\na2 NOOP\n");
	CHECK("a1 FETCH 1 BODY[\x01]\r\na2 NOOP\r\n",
	      "ERR a1 Invalid character in section\na2 NOOP\n");
	CHECK("a1 FETCH 1 BODY[\0]\r\na2 NOOP\r\n", "ERR a1 NUL byte in command\na2 NOOP\n");
}

static void test_real_world(void **state)
{
	(void)state;
	CHECK("a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n", "a1 LOGIN {5:alice} {6:secret}\n");
	CHECK("a2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024>)\r\n",
	      "a2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024>)\n");
	CHECK("a3 APPEND INBOX (\\Seen) \"01-Jan-2026 10:00:00 +0000\" {3+}\r\nabc\r\n",
	      "a3 APPEND INBOX (\\Seen) \"01-Jan-2026 10:00:00 +0000\" {3:abc}\n");
	CHECK("a4 SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\"\r\n",
	      "a4 SEARCH CHARSET UTF-8 SUBJECT \"caf\\xc3\\xa9\"\n");
	CHECK("a5 ID (\"name\" \"mbsync\" \"version\" NIL)\r\n",
	      "a5 ID (\"name\" \"mbsync\" \"version\" NIL)\n");
	CHECK("a6 STATUS INBOX (MESSAGES UIDNEXT)\r\n", "a6 STATUS INBOX (MESSAGES UIDNEXT)\n");
	CHECK("a7 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	      "a7 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\n");
	CHECK("a8 SELECT \"INBOX\" (QRESYNC (1 2 1:10))\r\n",
	      "a8 SELECT \"INBOX\" (QRESYNC (1 2 1:10))\n");
	/* MULTIAPPEND with LITERAL+ */
	CHECK("a9 APPEND Sent (\\Seen) {2+}\r\nhi (\\Draft) ~{3+}\r\nb\0n\r\n",
	      "a9 APPEND Sent (\\Seen) {2:hi} (\\Draft) ~{3:b\\x00n}\n");
}

/* ---- line handling ---- */

static void test_line_endings_and_empty_lines(void **state)
{
	(void)state;
	CHECK("a1 NOOP\na2 X (a)\na3 X \"q\"\na4 X {1}\nb\n",
	      "a1 NOOP\na2 X (a)\na3 X \"q\"\na4 X {1:b}\n");
	CHECK("\r\n\n\r\na1 NOOP\r\n\r\n\na2 NOOP\r\n\r\n", "a1 NOOP\na2 NOOP\n");
	CHECK("a1 NOOP\rX\r\na2 NOOP\r\n", "ERR a1 CR without LF\na2 NOOP\n");
	CHECK("a1 X a\rb\r\na2 NOOP\r\n", "ERR a1 CR without LF\na2 NOOP\n");
	CHECK("\r\r\na2 NOOP\r\n", "ERR - CR without LF\na2 NOOP\n");
	CHECK("a1 NOOP \r\na2 NOOP\r\n", "ERR a1 Trailing space\na2 NOOP\n");
	CHECK("a1 X a  b\r\na2 NOOP\r\n", "ERR a1 Unexpected space\na2 NOOP\n");
	CHECK("a1  NOOP\r\na2 NOOP\r\n", "ERR a1 Missing command name\na2 NOOP\n");
	CHECK("a1\r\na2 NOOP\r\n", "ERR a1 Missing command name\na2 NOOP\n");
	CHECK("a1 \r\na2 NOOP\r\n", "ERR a1 Missing command name\na2 NOOP\n");
	CHECK(" a1 NOOP\r\na2 NOOP\r\n", "ERR - Invalid tag\na2 NOOP\n");
	CHECK("a1 X\x01\r\na2 NOOP\r\n", "ERR a1 Invalid command name\na2 NOOP\n");
	CHECK("a1 X \x01\r\na2 NOOP\r\n", "ERR a1 Invalid character\na2 NOOP\n");
}

static void test_nul_bytes(void **state)
{
	(void)state;
	CHECK("\0a1 NOOP\r\na2 NOOP\r\n", "ERR - NUL byte in command\na2 NOOP\n");
	CHECK("a\0 NOOP\r\na2 NOOP\r\n", "ERR - NUL byte in command\na2 NOOP\n");
	CHECK("a1 NO\0OP\r\na2 NOOP\r\n", "ERR a1 NUL byte in command\na2 NOOP\n");
	CHECK("a1 X a\0\r\na2 NOOP\r\n", "ERR a1 NUL byte in command\na2 NOOP\n");
	CHECK("a1 X {1\0}\r\na2 NOOP\r\n", "ERR a1 NUL byte in command\na2 NOOP\n");
	CHECK("a1 NOOP\r\0\na2 NOOP\r\n", "ERR a1 NUL byte in command\na2 NOOP\n");
	/* empty line CR then NUL, and NUL bytes in the discarded rest of a line */
	CHECK("\r\0\r\na2 NOOP\r\n", "ERR - CR without LF\na2 NOOP\n");
	CHECK("a1 X ) \0\0\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	/* inside a literal a NUL is data */
	CHECK("a1 X {1}\r\n\0\r\n", "a1 X {1:\\x00}\n");
}

static void test_pipelined_used_exact(void **state)
{
	const char in[] = "a1 NOOP\r\n\r\na2 LOGIN {1+}\r\nx y\r\na3 X )\r\na4 NOOP\r\na5 NO";
	struct imap_parser *p = imap_parser_new(NULL);
	struct arena *a = arena_new(256);
	struct slice s = slice_from(in, sizeof(in) - 1);
	struct imap_cmd_args *cmd;
	const char *error;
	size_t used;

	(void)state;
	assert_int_equal(imap_parser_feed(p, s, &used, a, &cmd, &error), 1);
	assert_int_equal(used, strlen("a1 NOOP\r\n"));
	assert_string_equal(cmd->tag.ptr, "a1");
	s.ptr += used;
	s.len -= used;
	assert_int_equal(imap_parser_feed(p, s, &used, a, &cmd, &error), 1);
	assert_int_equal(used, strlen("\r\na2 LOGIN {1+}\r\nx y\r\n"));
	assert_string_equal(cmd->tag.ptr, "a2");
	assert_int_equal(cmd->count, 2);
	s.ptr += used;
	s.len -= used;
	assert_int_equal(imap_parser_feed(p, s, &used, a, &cmd, &error), -1);
	assert_int_equal(used, strlen("a3 X )"));
	assert_string_equal(error, "Unexpected ')'");
	assert_string_equal(imap_parser_tag(p), "a3");
	s.ptr += used;
	s.len -= used;
	assert_int_equal(imap_parser_feed(p, s, &used, a, &cmd, &error), 1);
	assert_int_equal(used, strlen("\r\na4 NOOP\r\n"));
	assert_string_equal(cmd->tag.ptr, "a4");
	s.ptr += used;
	s.len -= used;
	assert_int_equal(imap_parser_feed(p, s, &used, a, &cmd, &error), 0);
	assert_int_equal(used, strlen("a5 NO"));
	assert_false(imap_parser_is_idle(p));
	assert_int_equal(imap_parser_feed(p, SLICE_LIT("OP\r\n"), &used, a, &cmd, &error), 1);
	assert_true(slice_eq(cmd->name, SLICE_LIT("NOOP")));
	assert_int_equal(imap_parser_feed(p, slice_from("", 0), &used, a, &cmd, &error), 0);
	assert_int_equal(used, 0);
	arena_free(&a);
	imap_parser_free(&p);
}

/* ---- continuation, tag, idle ---- */

static int feed_str(struct imap_parser *p, struct arena *a, const char *s,
		    struct imap_cmd_args **cmd_r)
{
	const char *error;
	size_t used;
	int ret = imap_parser_feed(p, slice_cstr(s), &used, a, cmd_r, &error);

	if (ret == 0)
		assert_int_equal(used, strlen(s));
	return ret;
}

static void test_continuation(void **state)
{
	struct imap_parser_limits lim = small_limits();
	struct imap_parser *p = imap_parser_new(&lim);
	struct arena *a = arena_new(256);
	struct imap_cmd_args *cmd;

	(void)state;
	assert_false(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "a1 LOGIN {5}\r", &cmd), 0);
	assert_false(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "\n", &cmd), 0);
	assert_true(imap_parser_wants_continuation(p));
	assert_false(imap_parser_wants_continuation(p)); /* once */
	assert_int_equal(feed_str(p, a, "al", &cmd), 0);
	assert_false(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "ice {6}\r\n", &cmd), 0);
	/* not read: the next bytes are the literal's, so it is cleared */
	assert_int_equal(feed_str(p, a, "secret\r\n", &cmd), 1);
	assert_false(imap_parser_wants_continuation(p));

	/* non-synchronising: no continuation */
	assert_int_equal(feed_str(p, a, "a2 LOGIN {5+}\r\n", &cmd), 0);
	assert_false(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "alice {6-}\r\nsecret\r\n", &cmd), 1);
	assert_false(imap_parser_wants_continuation(p));

	/* {0} still needs the "+" */
	assert_int_equal(feed_str(p, a, "a3 X {0}\r\n", &cmd), 0);
	assert_true(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "\r\n", &cmd), 1);

	/* a literal8 too */
	assert_int_equal(feed_str(p, a, "a4 X ~{1}\r\n", &cmd), 0);
	assert_true(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "x\r\n", &cmd), 1);

	/* everything in one read (client did not wait): nothing to answer */
	assert_int_equal(feed_str(p, a, "a5 LOGIN {5}\r\nalice {6}\r\nsecret\r\n", &cmd), 1);
	assert_false(imap_parser_wants_continuation(p));

	/* too big: no continuation, the command ends at the announcement */
	assert_int_equal(feed_str(p, a, "a6 X {17}\r\n", &cmd), -1);
	assert_false(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "\r\n", &cmd), 0); /* the rest of that line */
	assert_true(imap_parser_is_idle(p));
	assert_false(imap_parser_wants_continuation(p));
	assert_int_equal(feed_str(p, a, "a7 NOOP\r\n", &cmd), 1);
	arena_free(&a);
	imap_parser_free(&p);
}

static void test_tag_and_idle(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct arena *a = arena_new(256);
	struct imap_cmd_args *cmd;
	char long_tag[200];

	(void)state;
	assert_true(imap_parser_is_idle(p));
	assert_null(imap_parser_tag(p));
	assert_int_equal(feed_str(p, a, "\r\n\r\n", &cmd), 0);
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(feed_str(p, a, "\r", &cmd), 0);
	assert_false(imap_parser_is_idle(p));
	assert_int_equal(feed_str(p, a, "\nab", &cmd), 0);
	assert_false(imap_parser_is_idle(p));
	assert_null(imap_parser_tag(p)); /* not complete yet */
	assert_int_equal(feed_str(p, a, "c NO", &cmd), 0);
	assert_string_equal(imap_parser_tag(p), "abc");
	assert_int_equal(feed_str(p, a, "OP\r\n", &cmd), 1);
	assert_true(imap_parser_is_idle(p));
	assert_string_equal(cmd->tag.ptr, "abc");

	/* failed in the tag: no tag to answer with */
	assert_int_equal(feed_str(p, a, "a(b NOOP\r\n", &cmd), -1);
	assert_null(imap_parser_tag(p));
	assert_false(imap_parser_is_idle(p)); /* skipping the rest of the line */
	assert_int_equal(feed_str(p, a, " NOOP\r\n", &cmd), 0);
	assert_true(imap_parser_is_idle(p));

	/* failed later: the tag is known */
	assert_int_equal(feed_str(p, a, "x1 SELECT (\n", &cmd), -1);
	assert_string_equal(imap_parser_tag(p), "x1");
	assert_true(imap_parser_is_idle(p)); /* failed on the LF: line over */
	assert_int_equal(feed_str(p, a, "x2 NOOP\r\n", &cmd), 1);
	assert_string_equal(imap_parser_tag(p), "x2");

	/* 64 bytes of tag are fine, 65 are not */
	memset(long_tag, 'a', sizeof(long_tag));
	memcpy(long_tag + 64, " NOOP\r\n", 8);
	assert_int_equal(feed_str(p, a, long_tag, &cmd), 1);
	assert_int_equal(cmd->tag.len, 64);
	memset(long_tag, 'a', sizeof(long_tag));
	memcpy(long_tag + 65, " NOOP\r\na NOOP\r\n", 16);
	check_len(NULL, long_tag, strlen(long_tag), "ERR - Tag too long\na NOOP\n");
	arena_free(&a);
	imap_parser_free(&p);
}

/* ---- limits and recovery ---- */

static void test_limit_literal(void **state)
{
	struct imap_parser_limits lim = small_limits();

	(void)state;
	CHECK_LIM(&lim, "a1 X {16}\r\n0123456789abcdef\r\n", "a1 X {16:0123456789abcdef}\n");
	/* synchronising: the client waits for a "+", the line ends here */
	CHECK_LIM(&lim, "a1 X {17}\r\na2 NOOP\r\n", "ERR a1 Literal too big\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X ~{17}\r\na2 NOOP\r\n", "ERR a1 Literal too big\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X {17}\na2 NOOP\r\n", "ERR a1 Literal too big\na2 NOOP\n");
	/* non-synchronising: its octets come anyway and are skipped, with the
	   rest of the line, even when they look like commands */
	CHECK_LIM(&lim, "a1 X {17+}\r\n0123\r\na3 NOOP\r\n12\r\na2 NOOP\r\n",
		  "ERR a1 Literal too big\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X {17-}\r\n0123\r\na3 NOOP\r\n12 more (args\r\na2 NOOP\r\n",
		  "ERR a1 Literal too big\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X ~{17+}\n0123\r\na3 NOOP\r\n12\na2 NOOP\r\n",
		  "ERR a1 Literal too big\na2 NOOP\n");
	/* ... and more literals later on the same line */
	CHECK_LIM(&lim, "a1 X {17+}\r\n0123\r\na3 NOOP\r\n12 {3+}\r\n\r\n\n {0+}\r\n {2}\r\n"
			"a2 NOOP\r\n",
		  "ERR a1 Literal too big\na2 NOOP\n");
	/* a huge announcement is skipped the same way */
	CHECK_LIM(&lim, "a1 X {1000000000000}\r\na2 NOOP\r\n", "ERR a1 Literal too big\na2 NOOP\n");
}

static void test_limit_literal_minus(void **state)
{
	struct imap_parser_limits lim = {
		.max_line = 100,
		.max_literal = 10000,
		.max_command = 20000,
		.max_depth = 4,
		.max_args = 10,
		.literal_minus_only = true,
	};
	static char in[6000], expected[6000];
	size_t n;

	(void)state;
	/* RFC 7888: at most 4096 octets for {n+} under LITERAL- */
	n = fmt(in, sizeof(in), "a1 X {4096+}\r\n%4096d\r\n", 7);
	fmt(expected, sizeof(expected), "a1 X {4096:%4096d}\n", 7);
	check_len(&lim, in, n, expected);

	n = fmt(in, sizeof(in), "a1 X {4097+}\r\n%4097d\r\na2 NOOP\r\n", 7);
	check_len(&lim, in, n, "ERR a1 Non-synchronizing literal too big\na2 NOOP\n");
	n = fmt(in, sizeof(in), "a1 X {4097-}\r\n%4097d\r\na2 NOOP\r\n", 7);
	check_len(&lim, in, n, "ERR a1 Non-synchronizing literal too big\na2 NOOP\n");

	/* synchronising literals may be bigger */
	n = fmt(in, sizeof(in), "a1 X {5000}\r\n%5000d\r\n", 7);
	fmt(expected, sizeof(expected), "a1 X {5000:%5000d}\n", 7);
	check_len(&lim, in, n, expected);

	/* LITERAL+ has no such limit */
	lim.literal_minus_only = false;
	n = fmt(in, sizeof(in), "a1 X {5000+}\r\n%5000d\r\n", 7);
	check_len(&lim, in, n, expected);
}

static void test_limit_line(void **state)
{
	struct imap_parser_limits lim = small_limits();
	char in[256], expected[256];

	(void)state;
	/* 64 bytes including the CRLF are fine */
	CHECK_LIM(&lim, "a1 X 012345678901234567890123456789012345678901234567890123456\r\n",
		  "a1 X 012345678901234567890123456789012345678901234567890123456\n");
	CHECK_LIM(&lim, "a1 X 0123456789012345678901234567890123456789012345678901234567\r\n"
			"a2 NOOP\r\n",
		  "ERR a1 Line too long\na2 NOOP\n");
	/* literal octets do not count, the rest of the command does */
	CHECK_LIM(&lim, "a1 X {16}\r\n0123456789abcdef "
			"01234567890123456789012345678901234567890123456789\r\n",
		  "a1 X {16:0123456789abcdef} 01234567890123456789012345678901234567890123456789\n");
	CHECK_LIM(&lim, "a1 X {16}\r\n0123456789abcdef "
			"01234567890123456789012345678901234567890123456789a\r\na2 NOOP\r\n",
		  "ERR a1 Line too long\na2 NOOP\n");
	/* an over-long line without a CRLF yet */
	CHECK_LIM(&lim, "a1 X 0123456789012345678901234567890123456789012345678901234567890123456789"
			"0123456789012345678901234567890123456789\r\na2 NOOP\r\n",
		  "ERR a1 Line too long\na2 NOOP\n");
	/* the limit hit at each byte of a non-synchronising literal's
	   announcement: its octets are skipped in every case */
	for (size_t k = 40; k < 70; k++) {
		size_t n;
		char atom[100];

		memset(atom, 'x', k);
		atom[k] = '\0';
		n = fmt(in, sizeof(in), "a1 X %s {3+}\r\nab\n\r\na2 NOOP\r\n", atom);
		/* non-literal bytes: 5 + k + 7 + 2 */
		if (k + 14 <= lim.max_line)
			fmt(expected, sizeof(expected),
				       "a1 X %s {3:ab\\x0a}\na2 NOOP\n", atom);
		else
			fmt(expected, sizeof(expected),
				       "ERR a1 Line too long\na2 NOOP\n");
		check_len(&lim, in, n, expected);
	}
}

static void test_limit_command(void **state)
{
	struct imap_parser_limits lim = small_limits();

	(void)state;
	lim.max_literal = 100;
	lim.max_line = 100;
	lim.max_args = 100;
	/* 10 + 2 + 40 + 6 + 2 + 40 = 100 bytes, then 6 more: 40 do not fit */
	CHECK_LIM(&lim, "a1 X {40+}\r\n0123456789012345678901234567890123456789 {40+}\r\n"
			"0123456789012345678901234567890123456789 {40+}\r\n"
			"0123456789012345678901234567890123456789\r\na2 NOOP\r\n",
		  "ERR a1 Command too long\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X {40+}\r\n0123456789012345678901234567890123456789 {40+}\r\n"
			"0123456789012345678901234567890123456789 {16+}\r\n"
			"0123456789abcdef\r\n",
		  "a1 X {40:0123456789012345678901234567890123456789} "
		  "{40:0123456789012345678901234567890123456789} {16:0123456789abcdef}\n");
	/* synchronising: the command ends at the announcement */
	CHECK_LIM(&lim, "a1 X {40+}\r\n0123456789012345678901234567890123456789 {40+}\r\n"
			"0123456789012345678901234567890123456789 {40}\r\na2 NOOP\r\n",
		  "ERR a1 Command too long\na2 NOOP\n");
	/* bytes outside literals count too */
	lim.max_command = 60;
	CHECK_LIM(&lim, "a1 X {40+}\r\n0123456789012345678901234567890123456789 abcdefghi\r\n"
			"a2 NOOP\r\n",
		  "ERR a1 Command too long\na2 NOOP\n");
}

static void test_limit_depth_and_args(void **state)
{
	struct imap_parser_limits lim = small_limits();

	(void)state;
	CHECK_LIM(&lim, "a1 X (((a)))\r\n", "a1 X (((a)))\n");
	CHECK_LIM(&lim, "a1 X ((((a))))\r\na2 NOOP\r\n", "ERR a1 Too deeply nested\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X ((()) ((b)))\r\n", "a1 X ((()) ((b)))\n");
	/* max_args counts nested arguments and the lists themselves */
	CHECK_LIM(&lim, "a1 X 1 2 3 4 5 6 7 8\r\n", "a1 X 1 2 3 4 5 6 7 8\n");
	CHECK_LIM(&lim, "a1 X 1 2 3 4 5 6 7 8 9\r\na2 NOOP\r\n",
		  "ERR a1 Too many arguments\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X (a b c d e f g)\r\n", "a1 X (a b c d e f g)\n");
	CHECK_LIM(&lim, "a1 X (a b c d e f g h)\r\na2 NOOP\r\n",
		  "ERR a1 Too many arguments\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X (((()))) 1 2 3 4 5\r\na2 NOOP\r\n",
		  "ERR a1 Too deeply nested\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X 1 2 3 4 5 6 7 \"8\" {1+}\r\n)\r\na2 NOOP\r\n",
		  "ERR a1 Too many arguments\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X 1 2 3 4 5 6 7 \"8\" ~{1+}\r\n)\r\na2 NOOP\r\n",
		  "ERR a1 Too many arguments\na2 NOOP\n");
	CHECK_LIM(&lim, "a1 X 1 2 3 4 5 6 7 8 \"9\"\r\na2 NOOP\r\n",
		  "ERR a1 Too many arguments\na2 NOOP\n");
}

/* An error anywhere in a line: the rest is skipped, literals included. */
static void test_recovery_in_skipped_line(void **state)
{
	(void)state;
	CHECK("a1 X ) {5+}\r\nab\r\nc\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X ) {5}\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	/* not a literal announcement: a quote follows the '}' */
	CHECK("a1 X ) \"{5+}\"\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X ) {5+} x\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X ) {{5+}\r\nab\r\nc\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X ) ~{1+}\r\n\n\r\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X {3}\r\nab\n) {2+}\n\n\n\na2 NOOP\r\n", "ERR a1 Unexpected ')'\na2 NOOP\n");
	CHECK("a1 X {3}\r\nab\nx {2+}\n\n\n\na2 NOOP\r\n",
	      "ERR a1 Missing space after argument\na2 NOOP\n");
	/* the failing byte is part of an announcement */
	CHECK("a1 X ({5+}\r\nab\r\nc) (((\r\na2 NOOP\r\n", "ERR a1 Missing ')'\na2 NOOP\n");
	CHECK("a1 X a{5+}\r\nab\r\nc\r\na2 NOOP\r\n", "ERR a1 Invalid character in atom\na2 NOOP\n");
	CHECK("a1 X{5+}\r\nab\r\nc\r\na2 NOOP\r\n", "ERR a1 Invalid command name\na2 NOOP\n");
	CHECK("a1 X {5+}x\r\na2 NOOP\r\n", "ERR a1 Missing CRLF after literal size\na2 NOOP\n");
}

static void test_set_limits(void **state)
{
	struct imap_parser_limits pre = small_limits(), post;
	struct imap_parser *p = imap_parser_new(&pre);
	struct arena *a = arena_new(256);
	struct imap_cmd_args *cmd;

	(void)state;
	assert_int_equal(feed_str(p, a, "a1 LOGIN {20+}", &cmd), -1);
	assert_int_equal(feed_str(p, a, "\r\n01234567890123456789 x\r\n", &cmd), 0);
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(feed_str(p, a, "a2 NOOP\r\n", &cmd), 1);
	/* after login the limits are looser */
	imap_parser_limits_default(&post);
	assert_int_equal(post.max_line, 65536);
	assert_int_equal(post.max_depth, 16);
	imap_parser_set_limits(p, &post);
	assert_int_equal(feed_str(p, a, "a3 APPEND X {20+}\r\n01234567890123456789\r\n", &cmd), 1);
	assert_int_equal(cmd->args[1].str.len, 20);
	arena_free(&a);
	imap_parser_free(&p);
}

/* Limits lowered while a literal's octets arrive: the rest is dropped. */
static void test_set_limits_mid_literal(void **state)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	struct arena *a = arena_new(256);
	struct imap_cmd_args *cmd;
	char octets[90];
	const char *error;
	size_t used;

	(void)state;
	imap_parser_limits_default(&lim);
	p = imap_parser_new(&lim);
	memset(octets, 'o', sizeof(octets));
	assert_int_equal(feed_str(p, a, "a1 APPEND X {100+}\r\n0123456789", &cmd), 0);
	lim.max_command = 50;
	imap_parser_set_limits(p, &lim);
	assert_int_equal(imap_parser_feed(p, slice_from(octets, 60), &used, a, &cmd, &error), -1);
	assert_int_equal(used, 60);
	assert_string_equal(error, "Command too long");
	assert_string_equal(imap_parser_tag(p), "a1");
	assert_int_equal(imap_parser_feed(p, slice_from(octets, 30), &used, a, &cmd, &error), 0);
	assert_int_equal(feed_str(p, a, " x\r\na2 NOOP\r\n", &cmd), 1);
	assert_string_equal(cmd->tag.ptr, "a2");
	arena_free(&a);
	imap_parser_free(&p);
}

/* Many arguments: the token array grows, and shrinks again afterwards. */
static void test_many_args(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct arena *a = arena_new(256);
	struct imap_cmd_args *cmd;
	struct buf in;

	(void)state;
	buf_init(&in, 0);
	assert_int_equal(buf_append_str(&in, "a1 STORE 1 FLAGS ("), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&in, "%s$k%d", i == 0 ? "" : " ", i), 0);
	assert_int_equal(buf_append_str(&in, ")\r\n"), 0);
	assert_int_equal(feed_str(p, a, in.data, &cmd), 1);
	assert_int_equal(cmd->count, 3);
	assert_int_equal(cmd->args[2].list_count, 1000);
	assert_string_equal(cmd->args[2].list[999].str.ptr, "$k999");
	assert_int_equal(feed_str(p, a, "a2 X (a) b\r\n", &cmd), 1);
	assert_int_equal(cmd->count, 2);
	buf_free(&in);
	arena_free(&a);
	imap_parser_free(&p);
}

/* Linear: a 50 MB literal fed in 4 KB reads, as a socket delivers it. */
static void test_big_literal_linear(void **state)
{
	const size_t size = 50 * 1024 * 1024, chunk = 4096;
	struct imap_parser *p = imap_parser_new(NULL);
	struct arena *a = arena_new(4096);
	struct imap_cmd_args *cmd = NULL;
	char *block = xmalloc(chunk);
	char head[64];
	uint64_t start = util_now_ms();
	const char *error;
	size_t used, n, sent = 0;

	(void)state;
	memset(block, 'x', chunk);
	n = fmt(head, sizeof(head), "a1 APPEND INBOX {%zu+}\r\n", size);
	assert_int_equal(imap_parser_feed(p, slice_from(head, n), &used, a, &cmd, &error), 0);
	while (sent < size) {
		assert_int_equal(imap_parser_feed(p, slice_from(block, chunk), &used, a, &cmd,
						  &error),
				 0);
		assert_int_equal(used, chunk);
		sent += chunk;
	}
	assert_int_equal(imap_parser_feed(p, SLICE_LIT("\r\n"), &used, a, &cmd, &error), 1);
	assert_int_equal(cmd->args[1].type, IMAP_ARG_LITERAL);
	assert_int_equal(cmd->args[1].str.len, size);
	assert_int_equal(cmd->args[1].str.ptr[size - 1], 'x');
	assert_int_equal(cmd->args[1].str.ptr[size], '\0');
	/* quadratic re-scanning would take hours; linear takes well under a second */
	assert_true(util_now_ms() - start < 20000);
	free(block);
	arena_free(&a);
	imap_parser_free(&p);
}

/* An over-long line is discarded as it comes, however long it gets. */
static void test_long_line_discarded(void **state)
{
	struct imap_parser_limits lim = small_limits();
	struct imap_parser *p;
	struct arena *a = arena_new(256);
	struct imap_cmd_args *cmd;
	char block[4096];
	const char *error;
	size_t used;

	(void)state;
	lim.max_command = 64 * 1024 * 1024;
	p = imap_parser_new(&lim);
	memset(block, 'x', sizeof(block));
	assert_int_equal(feed_str(p, a, "a1 X ", &cmd), 0);
	assert_int_equal(imap_parser_feed(p, slice_from(block, sizeof(block)), &used, a, &cmd,
					  &error),
			 -1);
	assert_string_equal(error, "Line too long");
	assert_int_equal(used, lim.max_line - 5 + 1);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(imap_parser_feed(p, slice_from(block, sizeof(block)), &used, a,
						  &cmd, &error),
				 0);
		assert_int_equal(used, sizeof(block));
	}
	assert_int_equal(feed_str(p, a, "\r\na2 NOOP\r\n", &cmd), 1);
	assert_string_equal(cmd->tag.ptr, "a2");
	arena_free(&a);
	imap_parser_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atoms),
		cmocka_unit_test(test_types_and_values),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_section_atom),
		cmocka_unit_test(test_real_world),
		cmocka_unit_test(test_line_endings_and_empty_lines),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_pipelined_used_exact),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_tag_and_idle),
		cmocka_unit_test(test_limit_literal),
		cmocka_unit_test(test_limit_literal_minus),
		cmocka_unit_test(test_limit_line),
		cmocka_unit_test(test_limit_command),
		cmocka_unit_test(test_limit_depth_and_args),
		cmocka_unit_test(test_recovery_in_skipped_line),
		cmocka_unit_test(test_set_limits),
		cmocka_unit_test(test_set_limits_mid_literal),
		cmocka_unit_test(test_many_args),
		cmocka_unit_test(test_big_literal_linear),
		cmocka_unit_test(test_long_line_discarded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
