/* The ManageSieve command reader (managesieve/managesieve-parser.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "managesieve/managesieve-parser.h"

static const struct msieve_parse_limits lim = { .max_line = 8192, .max_literal = 16384 };

struct fixture {
	struct arena *a;
	struct msieve_cmd cmd;
	struct msieve_parse_result r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->a = arena_new(1024);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	arena_free(&f->a);
	free(f);
	return 0;
}

static int parse(struct fixture *f, const char *in, size_t len, bool bare)
{
	arena_reset(f->a);
	return msieve_parse(slice_from(in, len), bare, &lim, f->a, &f->cmd, &f->r);
}

static int parse_str(struct fixture *f, const char *in)
{
	return parse(f, in, strlen(in), false);
}

static void test_quoted_and_atoms(void **state)
{
	struct fixture *f = *state;
	const char *in = "HAVESPACE \"my \\\"script\\\\\" 1234\r\nNOOP\r\n";

	assert_int_equal(parse_str(f, in), 1);
	assert_true(slice_eq_ci(f->cmd.verb, "havespace"));
	assert_int_equal(f->cmd.count, 2);
	assert_int_equal(f->cmd.args[0].type, MSIEVE_ARG_STRING);
	assert_string_equal(f->cmd.args[0].str, "my \"script\\");
	assert_int_equal(f->cmd.args[1].type, MSIEVE_ARG_ATOM);
	assert_string_equal(f->cmd.args[1].str, "1234");
	/* exactly the first command */
	assert_int_equal(f->r.used, strlen("HAVESPACE \"my \\\"script\\\\\" 1234\r\n"));
}

static void test_literals_both_forms(void **state)
{
	struct fixture *f = *state;
	const char *nonsync = "PUTSCRIPT \"a\" {7+}\r\nkeep;\r\n\r\n";
	const char *sync = "PUTSCRIPT \"a\" {7}\r\nkeep;\r\n\r\n";

	assert_int_equal(parse_str(f, nonsync), 1);
	assert_int_equal(f->cmd.count, 2);
	assert_true(f->cmd.args[1].literal);
	assert_int_equal(f->cmd.args[1].len, 7);
	assert_memory_equal(f->cmd.args[1].str, "keep;\r\n", 7);
	assert_int_equal(f->r.used, strlen(nonsync));
	/* RFC 5804 has no continuation: {n} is read like {n+} (Pigeonhole) */
	assert_int_equal(parse_str(f, sync), 1);
	assert_int_equal(f->cmd.args[1].len, 7);
}

static void test_split_anywhere(void **state)
{
	struct fixture *f = *state;
	const char *in = "PUTSCRIPT \"x\" {12+}\r\nif true {}\r\n\r\n";
	size_t len = strlen(in);

	for (size_t cut = 1; cut < len; cut++) {
		int ret = parse(f, in, cut, false);

		assert_int_equal(ret, 0);
		/* never asks for what it already has */
		assert_true(f->r.need > cut);
	}
	assert_int_equal(parse(f, in, len, false), 1);
}

static void test_literal_too_large(void **state)
{
	struct fixture *f = *state;
	const char *in = "PUTSCRIPT \"x\" {99999999+}\r\nabc";

	assert_int_equal(parse_str(f, in), -1);
	assert_int_equal(f->r.error, MSIEVE_PERR_LITERAL_SIZE);
	assert_int_equal(f->r.literal_size, 99999999);
	assert_int_equal(f->r.used, strlen("PUTSCRIPT \"x\" {99999999+}\r\n"));
	/* an overflowing size is a syntax error, not a wrap-around */
	assert_int_equal(parse_str(f, "PUTSCRIPT \"x\" {99999999999999999999999}\r\n"), -1);
	assert_int_equal(f->r.error, MSIEVE_PERR_SYNTAX);
}

static void test_syntax_errors_skip_line(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse_str(f, "GETSCRIPT \"a\"\"b\"\r\nNOOP\r\n"), -1);
	assert_int_equal(f->r.error, MSIEVE_PERR_SYNTAX);
	assert_int_equal(f->r.used, strlen("GETSCRIPT \"a\"\"b\"\r\n"));
	assert_int_equal(parse_str(f, "GETSCRIPT \"a\\x\"\r\n"), -1);
	assert_int_equal(parse_str(f, "GETSCRIPT {abc}\r\n"), -1);
	/* the line's end has not come yet: the caller drops the rest of it */
	assert_int_equal(parse_str(f, "GETSCRIPT (x"), -1);
	assert_true(f->r.skip_line);
	assert_int_equal(parse_str(f, "A B C D E F\r\n"), -1);
	assert_string_equal(f->r.msg, "Too many arguments");
}

static void test_quoted_limit(void **state)
{
	struct fixture *f = *state;
	char in[1200];
	int n;

	memset(in, 'x', sizeof(in));
	n = snprintf(in, sizeof(in), "NOOP \"");
	in[n] = 'x';
	memcpy(in + n + 1025, "\"\r\n", 3);
	assert_int_equal(parse(f, in, (size_t)n + 1028, false), -1);
	assert_string_equal(f->r.msg, "Quoted string too long");
}

static void test_line_too_long(void **state)
{
	struct fixture *f = *state;
	struct msieve_parse_limits small = { .max_line = 16, .max_literal = 16 };
	const char *in = "NOOP AAAAAAAAAAAAAAAAAAAAAAAAAA";

	arena_reset(f->a);
	assert_int_equal(msieve_parse(slice_cstr(in), false, &small, f->a, &f->cmd, &f->r), -1);
	assert_int_equal(f->r.error, MSIEVE_PERR_LINE_TOO_LONG);
	in = "NOOP \"aaaaaaaaaaaaaaaaaaaa\"\r\n";
	assert_int_equal(msieve_parse(slice_cstr(in), false, &small, f->a, &f->cmd, &f->r), -1);
	assert_int_equal(f->r.error, MSIEVE_PERR_LINE_TOO_LONG);
}

static void test_sasl_response(void **state)
{
	struct fixture *f = *state;
	const char *q = "\"AGFAYgBj\"\r\n";
	const char *lit = "{8+}\r\nAGFAYgBj\r\n";

	assert_int_equal(parse(f, q, strlen(q), true), 1);
	assert_int_equal(f->cmd.verb.len, 0);
	assert_int_equal(f->cmd.count, 1);
	assert_string_equal(f->cmd.args[0].str, "AGFAYgBj");
	assert_int_equal(parse(f, lit, strlen(lit), true), 1);
	assert_string_equal(f->cmd.args[0].str, "AGFAYgBj");
	assert_int_equal(parse(f, "\"a\" \"b\"\r\n", 9, true), -1);
	assert_int_equal(parse(f, "\r\n", 2, true), -1);
}

static void test_empty_line(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse_str(f, "\r\nNOOP\r\n"), 1);
	assert_int_equal(f->cmd.verb.len, 0);
	assert_int_equal(f->r.used, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_quoted_and_atoms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_literals_both_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_literal_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors_skip_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoted_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sasl_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_line, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
