/* Contract of lib/toml.h: every TOML feature we claim, every error with
   its line and column, the bookkeeping (key positions), the limits, and a
   batch of malformed inputs that must fail cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/str.h"
#include "lib/toml.h"

static struct arena *arena;

static int setup(void **state)
{
	(void)state;
	arena = arena_new(4096);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(&arena);
	return 0;
}

static const struct toml_node *parse_ok(const char *text)
{
	struct toml_node *root = NULL;
	struct toml_error err;

	if (toml_parse(arena, text, strlen(text), &root, &err) < 0)
		fail_msg("unexpected error: %s\ninput: %s", toml_error_str(arena, &err), text);
	assert_non_null(root);
	assert_int_equal(root->type, TOML_TABLE);
	return root;
}

/* Fails with msg containing substr at line:col (col 0 = don't care). */
static void parse_err_len(const char *text, size_t len, unsigned line, unsigned col,
			  const char *substr)
{
	struct toml_node *root = NULL;
	struct toml_error err;

	if (toml_parse(arena, text, len, &root, &err) == 0)
		fail_msg("parsed but should fail: %s", text);
	if (err.line != line || (col != 0 && err.column != col) ||
	    (substr != NULL && strstr(err.msg, substr) == NULL))
		fail_msg("input %s\n  got      line %u, column %u: %s\n  expected line %u, column %u: %s",
			 text, err.line, err.column, err.msg, line, col, substr ? substr : "*");
}

static void parse_err(const char *text, unsigned line, unsigned col, const char *substr)
{
	parse_err_len(text, strlen(text), line, col, substr);
}

static const struct toml_node *get(const struct toml_node *t, const char *path)
{
	const struct toml_node *n = toml_get_path(t, path);

	if (n == NULL)
		fail_msg("missing %s", path);
	return n;
}

static void assert_str(const struct toml_node *n, const char *want)
{
	assert_non_null(n);
	assert_int_equal(n->type, TOML_STRING);
	assert_int_equal(n->str_len, strlen(want));
	assert_memory_equal(n->str, want, n->str_len);
	assert_int_equal(n->str[n->str_len], '\0');
}

static void assert_int(const struct toml_node *n, int64_t want)
{
	assert_non_null(n);
	assert_int_equal(n->type, TOML_INTEGER);
	assert_true(n->integer == want);
}

/* ---- documents, comments, keys ---- */

static void test_empty_and_comments(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("");
	assert_int_equal(r->count, 0);
	r = parse_ok("# just a comment\n\n   \t\n# another\r\n");
	assert_int_equal(r->count, 0);
	r = parse_ok("a = 1 # trailing comment with \t tab and ünïcödé\n");
	assert_int(get(r, "a"), 1);
	r = parse_ok("\xef\xbb\xbf" "a = 1");
	assert_int(get(r, "a"), 1);
	r = parse_ok("a = 1\r\nb = 2\r\n");
	assert_int(get(r, "b"), 2);
}

static void test_keys(void **state)
{
	const struct toml_node *r, *n;

	(void)state;
	r = parse_ok("bare_key-1 = 1\n"
		     "\"quoted key\" = 2\n"
		     "'literal key' = 3\n"
		     "\"\" = 4\n"
		     "1234 = 5\n"
		     "\"tab\\tkey\" = 6\n");
	assert_int(toml_get(r, "bare_key-1"), 1);
	assert_int(toml_get(r, "quoted key"), 2);
	assert_int(toml_get(r, "literal key"), 3);
	assert_int(toml_get(r, ""), 4);
	assert_int(toml_get(r, "1234"), 5);
	assert_int(toml_get(r, "tab\tkey"), 6);

	r = parse_ok("a.b.c = 1\n"
		     "a . b . d = 2\n"
		     "a.\"x.y\" = 3\n"
		     "site.\"google.com\" = true\n");
	assert_int(get(r, "a.b.c"), 1);
	assert_int(get(r, "a.b.d"), 2);
	n = toml_get(get(r, "a"), "x.y");
	assert_int(n, 3);
	n = toml_get(get(r, "site"), "google.com");
	assert_non_null(n);
	assert_int_equal(n->type, TOML_BOOL);
	assert_true(n->boolean);

	/* \u0000 in a key: key_len keeps it */
	r = parse_ok("\"a\\u0000b\" = 1\n");
	n = toml_first(r);
	assert_int_equal(n->key_len, 3);
	assert_memory_equal(n->key, "a\0b", 3);
}

static void test_key_errors(void **state)
{
	(void)state;
	parse_err("= 1", 1, 1, "missing key");
	parse_err("a = 1\nb", 2, 2, "expected '='");
	parse_err("a b = 1", 1, 3, "expected '='");
	parse_err("a. = 1", 1, 4, "missing key before '='");
	parse_err("a..b = 1", 1, 3, "empty part");
	parse_err("\"\"\"k\"\"\" = 1", 1, 1, "multi-line");
	parse_err("a = 1\na = 2", 2, 1, "already defined");
	parse_err("a = 1\n\"a\" = 2", 2, 1, "already defined");
	parse_err("'a' = 1\n  \"a\" = 2", 2, 3, "already defined");
	parse_err("a.b = 1\na.b = 2", 2, 3, "already defined");
	parse_err("a = 1\na.b = 2", 2, 1, "already defined as an integer");
	parse_err("k\xc3\xa9y = 1", 1, 2, "expected '='");
	parse_err("a =", 1, 4, "expected a value");
	parse_err("a =\n1", 1, 4, "same line");
	parse_err("a = 1 b = 2", 1, 7, "end of the line");
	parse_err("a = # c\n", 1, 5, "same line");
}

/* ---- strings ---- */

static void test_basic_strings(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("s = \"I'm a string. \\\"You can quote me\\\". Name\\tJos\\u00E9\\nLocation\\tSF.\"\n"
		     "e = \"\\b\\t\\n\\f\\r\\\"\\\\\"\n"
		     "u = \"\\u0041\\u00e9\\u20AC\\U0001F600\\U00000041\"\n"
		     "empty = \"\"\n"
		     "tab = \"a\tb\"\n"
		     "utf = \"ünï €\"\n"
		     "hash = \"# not a comment\"\n");
	assert_str(get(r, "s"), "I'm a string. \"You can quote me\". Name\tJos\xc3\xa9\nLocation\tSF.");
	assert_str(get(r, "e"), "\b\t\n\f\r\"\\");
	assert_str(get(r, "u"), "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "A");
	assert_str(get(r, "empty"), "");
	assert_str(get(r, "tab"), "a\tb");
	assert_str(get(r, "utf"), "ünï €");
	assert_str(get(r, "hash"), "# not a comment");

	r = parse_ok("nul = \"a\\u0000b\"\n");
	assert_int_equal(get(r, "nul")->str_len, 3);
	assert_memory_equal(get(r, "nul")->str, "a\0b", 4);
}

static void test_basic_string_errors(void **state)
{
	(void)state;
	parse_err("s = \"abc", 1, 5, "unterminated string");
	parse_err("s = \"abc\nd\"", 1, 9, "newline in a single-line string");
	parse_err("s = \"a\\qb\"", 1, 7, "invalid escape");
	parse_err("s = \"a\\xb\"", 1, 7, "invalid escape");
	parse_err("s = \"a\\ b\"", 1, 7, "invalid escape");
	parse_err("s = \"a\\eb\"", 1, 7, "invalid escape");
	parse_err("s = \"\\u12\"", 1, 6, "invalid Unicode escape");
	parse_err("s = \"\\u12G4\"", 1, 6, "invalid Unicode escape");
	parse_err("s = \"\\uD800\"", 1, 6, "scalar");
	parse_err("s = \"\\uDFFF\"", 1, 6, "scalar");
	parse_err("s = \"\\U00110000\"", 1, 6, "scalar");
	parse_err("s = \"\\UFFFFFFFF\"", 1, 6, "scalar");
	parse_err("s = \"a\x01" "b\"", 1, 7, "control character");
	parse_err("s = \"a\x7f" "b\"", 1, 7, "control character");
	parse_err_len("s = \"a\0b\"", 9, 1, 7, "control character");
	parse_err("s = \"a\rb\"", 1, 7, "newline in a single-line");
	parse_err("x = 1\ns = \"\\", 2, 5, "unterminated");
}

static void test_literal_strings(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("winpath = 'C:\\Users\\nodejs\\templates'\n"
		     "quoted = 'Tom \"Dubs\" Preston-Werner'\n"
		     "regex = '<\\i\\c*\\s*>'\n"
		     "empty = ''\n"
		     "tab = 'a\tb'\n");
	assert_str(get(r, "winpath"), "C:\\Users\\nodejs\\templates");
	assert_str(get(r, "quoted"), "Tom \"Dubs\" Preston-Werner");
	assert_str(get(r, "regex"), "<\\i\\c*\\s*>");
	assert_str(get(r, "empty"), "");
	assert_str(get(r, "tab"), "a\tb");
	parse_err("s = 'abc", 1, 5, "unterminated");
	parse_err("s = 'a\nb'", 1, 7, "newline");
	parse_err("s = 'a\x1f'", 1, 7, "control character");
}

static void test_multiline_basic(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("s1 = \"\"\"\nRoses are red\nViolets are blue\"\"\"\n"
		     "s2 = \"\"\"\r\nOne\r\nTwo\"\"\"\n"
		     "s3 = \"\"\"no leading newline\"\"\"\n"
		     "s4 = \"\"\"\nThe quick brown \\\n\n\n  fox jumps over \\\n    the lazy dog.\"\"\"\n"
		     "s5 = \"\"\"\\\n       The quick brown \\\n       fox.\\\n       \"\"\"\n"
		     "s6 = \"\"\"Here are two quotation marks: \"\". Simple enough.\"\"\"\n"
		     "s7 = \"\"\"Here are three quotation marks: \"\"\\\".\"\"\"\n"
		     "s8 = \"\"\"\"This,\" she said, \"is just a pointless statement.\"\"\"\"\n"
		     "s9 = \"\"\"a\"\"\"\"\"\n"
		     "s10 = \"\"\"trailing ws \\   \n  x\"\"\"\n"
		     "s11 = \"\"\"esc \\t \\u00e9 and # not comment\"\"\"\n"
		     "s12 = \"\"\"\"\"\"\n");
	assert_str(get(r, "s1"), "Roses are red\nViolets are blue");
	assert_str(get(r, "s2"), "One\nTwo");
	assert_str(get(r, "s3"), "no leading newline");
	assert_str(get(r, "s4"), "The quick brown fox jumps over the lazy dog.");
	assert_str(get(r, "s5"), "The quick brown fox.");
	assert_str(get(r, "s6"), "Here are two quotation marks: \"\". Simple enough.");
	assert_str(get(r, "s7"), "Here are three quotation marks: \"\"\".");
	assert_str(get(r, "s8"), "\"This,\" she said, \"is just a pointless statement.\"");
	assert_str(get(r, "s9"), "a\"\"");
	assert_str(get(r, "s10"), "trailing ws x");
	assert_str(get(r, "s11"), "esc \t \xc3\xa9 and # not comment");
	assert_str(get(r, "s12"), "");

	parse_err("s = \"\"\"abc", 1, 5, "unterminated");
	parse_err("s = \"\"\"a\"\"\"\"\"\"", 1, 9, "too many quotes");
	parse_err("s = \"\"\"\na\\ b\"\"\"", 2, 2, "invalid escape");
	parse_err("s = \"\"\"\na\rb\"\"\"", 2, 2, "carriage return");
	parse_err("s = \"\"\"\na\x02" "b\"\"\"", 2, 2, "control character");
	parse_err("s = \"\"\"\n\n\nx\\q\"\"\"", 4, 2, "invalid escape");
}

static void test_multiline_literal(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("re = '''I [dw]on't need \\d{2} apples'''\n"
		     "lines = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''\n"
		     "q = ''''That,' she said, 'is still pointless.''''\n"
		     "q2 = '''a\"\"\"b'''\n");
	assert_str(get(r, "re"), "I [dw]on't need \\d{2} apples");
	assert_str(get(r, "lines"), "The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n");
	assert_str(get(r, "q"), "'That,' she said, 'is still pointless.'");
	assert_str(get(r, "q2"), "a\"\"\"b");
	parse_err("s = '''abc\n", 1, 5, "unterminated");
	parse_err("s = '''a''''''", 1, 9, "too many quotes");
	parse_err("s = '''\n\x7f'''", 2, 1, "control character");
}

/* ---- numbers, booleans ---- */

static void test_integers(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("a = +99\nb = 42\nc = 0\nd = -17\ne = 1_000\nf = 5_349_221\ng = 53_49_221\n"
		     "h = 1_2_3_4_5\ni = 0xDEADBEEF\nj = 0xdead_beef\nk = 0o01234567\nl = 0o755\n"
		     "m = 0b11010110\nn = +0\no = -0\np = 9223372036854775807\nq = -9223372036854775808\n"
		     "r = 0x7FFFFFFFFFFFFFFF\ns = 0x00ff\n");
	assert_int(get(r, "a"), 99);
	assert_int(get(r, "b"), 42);
	assert_int(get(r, "c"), 0);
	assert_int(get(r, "d"), -17);
	assert_int(get(r, "e"), 1000);
	assert_int(get(r, "f"), 5349221);
	assert_int(get(r, "g"), 5349221);
	assert_int(get(r, "h"), 12345);
	assert_int(get(r, "i"), 0xDEADBEEF);
	assert_int(get(r, "j"), 0xdeadbeef);
	assert_int(get(r, "k"), 01234567);
	assert_int(get(r, "l"), 0755);
	assert_int(get(r, "m"), 214);
	assert_int(get(r, "n"), 0);
	assert_int(get(r, "o"), 0);
	assert_int(get(r, "p"), INT64_MAX);
	assert_int(get(r, "q"), INT64_MIN);
	assert_int(get(r, "r"), INT64_MAX);
	assert_int(get(r, "s"), 255);
}

static void test_integer_errors(void **state)
{
	(void)state;
	parse_err("a = 9223372036854775808", 1, 5, "out of range");
	parse_err("a = -9223372036854775809", 1, 5, "out of range");
	parse_err("a = 99999999999999999999999", 1, 5, "out of range");
	parse_err("a = 0x8000000000000000", 1, 5, "out of range");
	parse_err("a = 0b1111111111111111111111111111111111111111111111111111111111111111", 1, 5,
		  "out of range");
	parse_err("a = 012", 1, 5, "leading zeros");
	parse_err("a = -012", 1, 5, "leading zeros");
	parse_err("a = 0_1", 1, 5, "leading zeros");
	parse_err("a = 1__2", 1, 5, "underscores");
	parse_err("a = 1_", 1, 5, "underscores");
	parse_err("a = _1", 1, 5, "invalid value");
	parse_err("a = +0x1", 1, 5, "sign");
	parse_err("a = -0b1", 1, 5, "sign");
	parse_err("a = 0x", 1, 5, "hexadecimal");
	parse_err("a = 0xg", 1, 5, "hexadecimal");
	parse_err("a = 0o8", 1, 5, "octal");
	parse_err("a = 0b2", 1, 5, "binary");
	parse_err("a = 0x_1", 1, 5, "hexadecimal");
	parse_err("a = 0X1", 1, 5, "invalid number");
	parse_err("a = 1x", 1, 5, "invalid number");
	parse_err("a = +", 1, 5, "invalid value");
	parse_err("a = 1 2", 1, 7, "end of the line");
}

static void test_floats(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\n"
		     "g = 6.626e-34\nh = 224_617.445_991_228\ni = inf\nj = +inf\nk = -inf\n"
		     "l = nan\nm = +nan\nn = -nan\no = 0.0\np = -0.0\nq = 1e-400\nr = 0e0\n");
	assert_int_equal(get(r, "a")->type, TOML_FLOAT);
	assert_true(get(r, "a")->fp == 1.0);
	assert_true(get(r, "b")->fp == 3.1415);
	assert_true(get(r, "c")->fp == -0.01);
	assert_true(get(r, "d")->fp == 5e22);
	assert_true(get(r, "e")->fp == 1e6);
	assert_true(get(r, "f")->fp == -0.02);
	assert_true(get(r, "g")->fp == 6.626e-34);
	assert_true(get(r, "h")->fp == 224617.445991228);
	assert_true(isinf(get(r, "i")->fp) && get(r, "i")->fp > 0);
	assert_true(isinf(get(r, "j")->fp) && get(r, "j")->fp > 0);
	assert_true(isinf(get(r, "k")->fp) && get(r, "k")->fp < 0);
	assert_true(isnan(get(r, "l")->fp));
	assert_true(isnan(get(r, "m")->fp));
	assert_true(isnan(get(r, "n")->fp));
	assert_true(get(r, "o")->fp == 0.0);
	assert_true(get(r, "q")->fp == 0.0);
	assert_int_equal(get(r, "r")->type, TOML_FLOAT);

	parse_err("a = 1.", 1, 5, "digits must follow");
	parse_err("a = .5", 1, 5, "invalid value");
	parse_err("a = 1.e5", 1, 5, "digits must follow");
	parse_err("a = 1e", 1, 5, "exponent");
	parse_err("a = 1e+", 1, 5, "exponent");
	parse_err("a = 01.5", 1, 5, "leading zeros");
	parse_err("a = 1.5_", 1, 5, "digits must follow");
	parse_err("a = 1_.5", 1, 5, "underscores");
	parse_err("a = 1.2.3", 1, 5, "invalid number");
	parse_err("a = 1e400", 1, 5, "out of range");
	parse_err("a = infinity", 1, 5, "invalid value");
	parse_err("a = NaN", 1, 5, "invalid value");
}

static void test_booleans_and_datetimes(void **state)
{
	const struct toml_node *r;

	(void)state;
	r = parse_ok("t = true\nf = false\n");
	assert_int_equal(get(r, "t")->type, TOML_BOOL);
	assert_true(get(r, "t")->boolean);
	assert_false(get(r, "f")->boolean);
	parse_err("t = True", 1, 5, "strings must be quoted");
	parse_err("t = truex", 1, 5, "invalid value");
	parse_err("t = yes", 1, 5, "strings must be quoted");
	parse_err("d = 1979-05-27T07:32:00Z", 1, 5, "date-time values are not supported");
	parse_err("d = 1979-05-27", 1, 5, "date-time");
	parse_err("d = 1979-05-27 07:32:00", 1, 5, "date-time");
	parse_err("\nd = 07:32:00", 2, 5, "date-time");
}

/* ---- arrays and inline tables ---- */

static void test_arrays(void **state)
{
	const struct toml_node *r, *a;

	(void)state;
	r = parse_ok("integers = [ 1, 2, 3 ]\n"
		     "colors = [ \"red\", \"yellow\", \"green\" ]\n"
		     "nested = [ [ 1, 2 ], [3, 4, 5] ]\n"
		     "mixed = [ [ 1, 2 ], [\"a\", 'b', \"\"\"c\"\"\"], 0.5, true, {x = 1} ]\n"
		     "empty = []\n"
		     "empty2 = [  \n  # nothing\n ]\n"
		     "trailing = [ 1, 2, ]\n"
		     "multi = [\n  1, # one\n  2\n  , 3 # three\n  ,\n]\n");
	a = get(r, "integers");
	assert_int_equal(a->type, TOML_ARRAY);
	assert_int_equal(a->count, 3);
	assert_int(toml_at(a, 2), 3);
	assert_null(toml_at(a, 3));
	assert_null(toml_at(a, 0)->key);
	assert_str(toml_at(get(r, "colors"), 1), "yellow");
	assert_int(toml_at(toml_at(get(r, "nested"), 1), 2), 5);
	a = get(r, "mixed");
	assert_int_equal(a->count, 5);
	assert_str(toml_at(toml_at(a, 1), 2), "c");
	assert_int_equal(toml_at(a, 2)->type, TOML_FLOAT);
	assert_int_equal(toml_at(a, 3)->type, TOML_BOOL);
	assert_int(toml_get(toml_at(a, 4), "x"), 1);
	assert_int_equal(get(r, "empty")->count, 0);
	assert_int_equal(get(r, "empty2")->count, 0);
	assert_int_equal(get(r, "trailing")->count, 2);
	assert_int_equal(get(r, "multi")->count, 3);
	assert_false(toml_is_table_array(get(r, "mixed")));

	parse_err("a = [1 2]", 1, 8, "expected ',' or ']'");
	parse_err("a = [1,,2]", 1, 8, "expected a value");
	parse_err("a = [,]", 1, 6, "expected a value");
	parse_err("a = [1, 2", 1, 5, "unterminated array");
	parse_err("a = [\n1,\n2\n", 1, 5, "unterminated array");
	parse_err("a = [1] 2", 1, 9, "end of the line");
	parse_err("a = [ # c\x01\n]", 1, 10, "control character in a comment");
}

static void test_inline_tables(void **state)
{
	const struct toml_node *r, *t;

	(void)state;
	r = parse_ok("name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
		     "point = {x=1,y=2}\n"
		     "animal = { type.name = \"pug\", type.color = \"black\" }\n"
		     "empty = {}\n"
		     "empty2 = {   }\n"
		     "nest = { a = { b = { c = [1, {d = 2}] } } }\n");
	assert_str(get(r, "name.first"), "Tom");
	assert_int(get(r, "point.y"), 2);
	assert_str(get(r, "animal.type.name"), "pug");
	assert_str(get(r, "animal.type.color"), "black");
	assert_int_equal(get(r, "empty")->type, TOML_TABLE);
	assert_int_equal(get(r, "empty")->count, 0);
	assert_int_equal(get(r, "empty2")->count, 0);
	t = get(r, "nest.a.b");
	assert_int(toml_get(toml_at(toml_get(t, "c"), 1), "d"), 2);

	parse_err("a = { x = 1, }", 1, 14, "trailing comma");
	parse_err("a = { x = 1\n}", 1, 12, "one line");
	parse_err("a = {\nx = 1 }", 1, 6, "one line");
	parse_err("a = { x = 1, x = 2 }", 1, 14, "already defined");
	parse_err("a = { x = 1 y = 2 }", 1, 13, "expected ',' or '}'");
	parse_err("a = { x = 1", 1, 5, "unterminated inline table");
	parse_err("a = {x = 1}\na.y = 2", 2, 1, "cannot be extended");
	parse_err("a = {x = {y = 1}, x.z = 2}", 1, 19, "cannot be extended");
	parse_err("a = {x = 1}\n[a]", 2, 2, "already defined");
	parse_err("a = {x = 1}\n[a.b]", 2, 2, "cannot be extended");
	parse_err("a = {x = 1}\n[[a]]", 3 - 1, 3, "not an array of tables");
	parse_err("a = { # c\n}", 1, 7, "expected a key");
}

/* ---- tables ---- */

static void test_tables(void **state)
{
	const struct toml_node *r, *t;

	(void)state;
	r = parse_ok("[table-1]\nkey1 = \"some string\"\nkey2 = 123\n\n"
		     "[table-2]\nkey1 = \"another string\"\n\n"
		     "[dog.\"tater.man\"]\ntype.name = \"pug\"\n"
		     "[ j . \"ʞ\" . 'l' ]\nx = 1\n"
		     "[x.y.z.w] # implicit x, y, z\n"
		     "[x] # defining a super-table afterwards is ok\nv = 2\n");
	assert_str(get(r, "table-1.key1"), "some string");
	assert_int(get(r, "table-1.key2"), 123);
	t = toml_get(get(r, "dog"), "tater.man");
	assert_str(get(t, "type.name"), "pug");
	assert_int(toml_get(toml_get(get(r, "j"), "ʞ"), "l")->first, 1);
	assert_int_equal(get(r, "x.y.z.w")->type, TOML_TABLE);
	assert_int(get(r, "x.v"), 2);

	/* sub-tables of tables defined by dotted keys */
	r = parse_ok("[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n"
		     "[fruit.apple.texture]\nsmooth = true\n");
	assert_true(get(r, "fruit.apple.texture.smooth")->boolean);
	assert_true(get(r, "fruit.apple.taste.sweet")->boolean);

	/* root keys before any header, empty table */
	r = parse_ok("top = 1\n[a]\n[b]\nc = 2\n");
	assert_int(get(r, "top"), 1);
	assert_int_equal(get(r, "a")->count, 0);
}

static void test_table_errors(void **state)
{
	(void)state;
	parse_err("[a]\nb = 1\n[a]", 3, 2, "table a is already defined");
	parse_err("[a]\n[a.b]\n[a.b]", 3, 4, "already defined");
	parse_err("[a.b]\n[a]\n[a]", 3, 2, "already defined");
	parse_err("a = 1\n[a]", 2, 2, "already defined as an integer");
	parse_err("a = 1\n[a.b]", 2, 2, "already defined as an integer");
	parse_err("[a]\nb = 1\n[a.b]", 3, 4, "already defined as an integer");
	parse_err("[fruit]\napple.color = \"red\"\n[fruit.apple]", 3, 8, "already defined");
	parse_err("[fruit]\napple.taste.sweet = true\n[fruit.apple.taste]", 3, 14, "already defined");
	/* dotted keys cannot reach into header-defined tables */
	parse_err("[a.b.c]\nz = 9\n[a]\nb.c.t = 1", 4, 1, "defined by a header");
	parse_err("[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1", 4, 1, "defined by a header");
	parse_err("[[a.b]]\n[a]\nb.y = 2", 3, 1, "already defined as an array");
	parse_err("[]", 1, 2, "expected a key");
	parse_err("[a", 1, 3, "expected ']'");
	parse_err("[a]]", 1, 4, "end of the line");
	parse_err("[a] b = 1", 1, 5, "end of the line");
	parse_err("[a.]", 1, 4, "expected a key");
	parse_err("[[a]", 1, 4, "expected ']]'");
	parse_err("[[a] ]", 1, 4, "expected ']]'");
	parse_err("[ [a] ]", 1, 3, "expected a key");
	parse_err("[\"\"\"a\"\"\"]", 1, 2, "multi-line");
	parse_err("\n\n  [a\n]", 3, 5, "expected ']'");
}

static void test_table_arrays(void **state)
{
	const struct toml_node *r, *a, *e;

	(void)state;
	r = parse_ok("[[products]]\nname = \"Hammer\"\nsku = 738594937\n\n"
		     "[[products]]  # empty table within the array\n\n"
		     "[[products]]\nname = \"Nail\"\nsku = 284758393\ncolor = \"gray\"\n");
	a = get(r, "products");
	assert_true(toml_is_table_array(a));
	assert_int_equal(a->count, 3);
	assert_str(toml_get(toml_at(a, 0), "name"), "Hammer");
	assert_int_equal(toml_at(a, 1)->count, 0);
	assert_str(toml_get(toml_at(a, 2), "color"), "gray");
	/* positions of the [[header]]s */
	assert_int_equal(toml_at(a, 0)->line, 1);
	assert_int_equal(toml_at(a, 1)->line, 5);
	assert_int_equal(toml_at(a, 2)->line, 7);

	r = parse_ok("[[fruits]]\nname = \"apple\"\n"
		     "[fruits.physical]\ncolor = \"red\"\n"
		     "[[fruits.varieties]]\nname = \"red delicious\"\n"
		     "[[fruits.varieties]]\nname = \"granny smith\"\n"
		     "[[fruits]]\nname = \"banana\"\n"
		     "[[fruits.varieties]]\nname = \"plantain\"\n"
		     "[[fruits]]\nx.y = 1\n[[fruits]]\nx.y = 2\n");
	a = get(r, "fruits");
	assert_int_equal(a->count, 4);
	e = toml_at(a, 0);
	assert_str(get(e, "physical.color"), "red");
	assert_int_equal(get(e, "varieties")->count, 2);
	assert_str(toml_get(toml_at(get(e, "varieties"), 1), "name"), "granny smith");
	e = toml_at(a, 1);
	assert_str(toml_get(toml_at(get(e, "varieties"), 0), "name"), "plantain");
	assert_int(get(toml_at(a, 3), "x.y"), 2);

	parse_err("fruits = []\n[[fruits]]", 2, 3, "not an array of tables");
	parse_err("[fruits]\n[[fruits]]", 2, 3, "not an array of tables");
	parse_err("[[fruits]]\n[fruits]", 2, 2, "already defined as an array");
	parse_err("[[fruits]]\nname = \"a\"\n[[fruits.varieties]]\n[fruits.varieties]", 4, 9,
		  "already defined as an array");
	parse_err("[[fruits]]\n[fruits.physical]\n[[fruits.physical]]", 3, 10,
		  "not an array of tables");
	parse_err("a = [1]\n[a.b]", 2, 2, "is an array, not a table");
	parse_err("a = [{b = 1}]\n[a.b]", 2, 2, "is an array, not a table");
}

/* ---- positions, UTF-8, control characters ---- */

static void test_positions(void **state)
{
	const struct toml_node *r, *n, *a;

	(void)state;
	r = parse_ok("# c\n\n  key = 1\n[servers.imap]\n\taddr = \":993\"\n"
		     "x.y.z = [ 10,\n   20 ]\n\"é\" = 1  \n");
	n = get(r, "key");
	assert_int_equal(n->line, 3);
	assert_int_equal(n->column, 3);
	n = get(r, "servers.imap");
	assert_int_equal(n->line, 4);
	assert_int_equal(n->column, 10);
	n = get(r, "servers.imap.addr");
	assert_int_equal(n->line, 5);
	assert_int_equal(n->column, 2);
	n = get(r, "servers.imap.x");
	assert_int_equal(n->line, 6);
	assert_int_equal(n->column, 1);
	a = get(r, "servers.imap.x.y.z");
	assert_int_equal(a->line, 6);
	assert_int_equal(a->column, 5);
	assert_int_equal(toml_at(a, 0)->line, 6);
	assert_int_equal(toml_at(a, 0)->column, 11);
	assert_int_equal(toml_at(a, 1)->line, 7);
	assert_int_equal(toml_at(a, 1)->column, 4);
	assert_int_equal(a->depth, 5);

	/* an implicit table takes the line of its later [header] */
	r = parse_ok("[a.b]\n\n[a]\n");
	assert_int_equal(get(r, "a")->line, 3);

	/* columns count characters, not bytes */
	parse_err("s = \"ééé\" x", 1, 11, "end of the line");
	parse_err("# ünïcödé\n\"€€\" = 1 2", 2, 10, "end of the line");
}

static void test_utf8_and_control(void **state)
{
	(void)state;
	parse_err("a = \"\xc0\x80\"", 1, 6, "invalid UTF-8");       /* overlong */
	parse_err("a = \"\xe0\x80\x80\"", 1, 6, "invalid UTF-8");   /* overlong */
	parse_err("a = \"\xed\xa0\x80\"", 1, 6, "invalid UTF-8");   /* surrogate */
	parse_err("a = \"\xf4\x90\x80\x80\"", 1, 6, "invalid UTF-8"); /* > U+10FFFF */
	parse_err("a = \"\xf5\x80\x80\x80\"", 1, 6, "invalid UTF-8");
	parse_err("a = 1\n# \xff\n", 2, 3, "invalid UTF-8");
	parse_err("a = \"\xc3", 1, 6, "invalid UTF-8");              /* truncated */
	parse_err("a = \"\x80\"", 1, 6, "invalid UTF-8");            /* lone continuation */
	parse_err("a = 1\r", 1, 6, "carriage return");
	parse_err("a = 1\rb = 2", 1, 6, "carriage return");
	parse_err("# comment \x7f\n", 1, 11, "control character in a comment");
	parse_err("# comment \r x\n", 1, 11, "carriage return");
	parse_err_len("# a\0b\n", 6, 1, 4, "control character in a comment");
	parse_err("\x01 = 1", 1, 1, "expected a key");
	parse_err("a = 1\x0c", 1, 6, "end of the line");
	/* valid: 4-byte characters everywhere */
	parse_ok("\"\xf0\x9f\x98\x80\" = \"\xf0\x9f\x98\x80\" # \xf0\x9f\x98\x80\n");
}

/* ---- limits ---- */

static void test_limits(void **state)
{
	char *big, buf[4096];
	size_t n = 0;

	(void)state;
	/* nesting: fine at 60, refused beyond the limit without deep recursion */
	n = (size_t)snprintf(buf, sizeof(buf), "a = ");
	for (int i = 0; i < 60; i++)
		buf[n++] = '[';
	for (int i = 0; i < 60; i++)
		buf[n++] = ']';
	buf[n] = '\0';
	parse_ok(buf);
	n = (size_t)snprintf(buf, sizeof(buf), "a = ");
	for (int i = 0; i < 2000; i++)
		buf[n++] = '[';
	buf[n] = '\0';
	parse_err(buf, 1, 0, "nested deeper than 64");
	n = (size_t)snprintf(buf, sizeof(buf), "a = ");
	for (int i = 0; i < 1000; i++) {
		memcpy(buf + n, "{a=", 3);
		n += 3;
	}
	buf[n] = '\0';
	parse_err(buf, 1, 0, "nested deeper");
	/* dotted keys and headers count too */
	n = 0;
	for (int i = 0; i < 70; i++) {
		memcpy(buf + n, "k.", 2);
		n += 2;
	}
	memcpy(buf + n, "k = 1", 6);
	parse_err(buf, 1, 0, "parts");
	n = 0;
	buf[n++] = '[';
	for (int i = 0; i < 63; i++) {
		memcpy(buf + n, "k.", 2);
		n += 2;
	}
	memcpy(buf + n, "k]\nx.y = 1\n", 12);
	parse_err(buf, 2, 0, "nested deeper");

	/* input size */
	big = malloc(TOML_MAX_INPUT + 1);
	assert_non_null(big);
	memset(big, '\n', TOML_MAX_INPUT + 1);
	parse_err_len(big, TOML_MAX_INPUT + 1, 1, 1, "input larger than");
	/* exactly at the limit is fine */
	{
		struct toml_node *root;
		struct toml_error err;

		assert_int_equal(toml_parse(arena, big, TOML_MAX_INPUT, &root, &err), 0);
	}
	free(big);
}

static void test_many_keys(void **state)
{
	struct buf b;
	struct toml_node *root;
	struct toml_error err;

	(void)state;
	buf_init(&b, 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_printf(&b, "k%d = %d\n", i, i), 0);
	assert_int_equal(toml_parse(arena, b.data, b.len, &root, &err), 0);
	assert_int_equal(root->count, 20000);
	assert_int(toml_get(root, "k19999"), 19999);
	assert_int_equal(buf_printf(&b, "k777 = 1\n"), 0);
	assert_int_equal(toml_parse(arena, b.data, b.len, &root, &err), -1);
	assert_int_equal(err.line, 20001);
	buf_free(&b);
}

/* ---- helpers ---- */

static void test_helpers(void **state)
{
	const struct toml_node *r, *n;
	struct toml_node *root;
	struct toml_error err;
	char *secret;

	(void)state;
	r = parse_ok("[servers.imap]\naddr = \":993\"\n[[server]]\ntype = \"pop3\"\n"
		     "auth_rate_limit.enabled = true\n\"odd key\\n\".x = 1\n");
	n = get(r, "servers.imap.addr");
	assert_string_equal(toml_path(arena, n), "servers.imap.addr");
	n = toml_get(toml_at(toml_get(r, "server"), 0), "auth_rate_limit");
	assert_string_equal(toml_path(arena, toml_first(n)), "server[0].auth_rate_limit.enabled");
	n = toml_get(toml_at(toml_get(r, "server"), 0), "odd key\n");
	assert_non_null(n);
	assert_string_equal(toml_path(arena, toml_first(n)), "server[0].\"odd key\\u000a\".x");
	assert_string_equal(toml_key_str(arena, "a\"b\\", 4), "\"a\\\"b\\\\\"");
	assert_string_equal(toml_key_str(arena, "", 0), "\"\"");
	assert_string_equal(toml_key_str(arena, "plain-key_1", 11), "plain-key_1");
	assert_string_equal(toml_path(arena, r), "");

	assert_null(toml_get(get(r, "servers.imap.addr"), "x")); /* not a table */
	assert_null(toml_get_path(r, "servers.nope.addr"));
	assert_null(toml_get_path(r, "servers.imap.addr.x"));
	assert_null(toml_first(get(r, "servers.imap.addr")));
	assert_null(toml_at(get(r, "servers.imap.addr"), 0));
	assert_string_equal(toml_type_name(TOML_TABLE), "table");
	assert_string_equal(toml_type_name(TOML_BOOL), "boolean");
	assert_string_equal(toml_type_name(TOML_INTEGER), "integer");
	assert_string_equal(toml_type_name((enum toml_type)99), "unknown");

	assert_int_equal(toml_parse(arena, "a = 1\nb c", 9, &root, &err), -1);
	assert_string_equal(toml_error_str(arena, &err), "line 2, column 3: expected '=' after a key");

	root = NULL;
	{
		static const char doc[] = "p = \"hunter2\"\n[t]\nq = ['s3cr3t']";

		assert_int_equal(toml_parse(arena, doc, sizeof(doc) - 1, &root, &err), 0);
	}
	secret = (char *)toml_get(root, "p")->str;
	toml_wipe_strings(root);
	assert_memory_equal(secret, "\0\0\0\0\0\0\0", 7);
	assert_int_equal(toml_at(toml_get_path(root, "t.q"), 0)->str[0], '\0');
}

/* Inputs that must fail (and not crash or leak under ASan). */
static void test_malformed_batch(void **state)
{
	static const char *const bad[] = {
		"[", "[[", "]", "=", "a", "a=", "a = \"", "a = '", "a = [", "a = {", "a = {a", "a = {a=",
		"a = {a=1,", "a = [1,", "a = \"\"\"", "a = '''", "\"", "'", "a.", ".a = 1", "a = b",
		"[a.b.]", "[.a]", "[a b]", "[[a]]]", "a = 1\n[a]\n", "a = [[1,2],[3,4]\n",
		"a = { b = [1, }", "a=1\nb=2\na=3", "[a]\n[b]\n[a]", "a = 0x", "a = 1_000_",
		"a = 1e1_", "a = 1e_1", "a = 1.2e3.4", "a = 2023-01-01", "a = 12:30:00",
		"a = \"\\u\"", "a = \"\\U0000\"", "a = \"\"\"\\\"\"\"", "a = [\n1,\n2\n3]",
		"\"a\nb\" = 1", "'a'b = 1", "a = 'x'y", "a = \"x\"\"y\"", "a=[}", "a={]",
		"a = {b = 1}}", "a = [1]]", "[a]b", "[[a]]b", "a = - 1", "a = +-1", "a = 1__0",
		"a = --1", "a = 0b", "a = 0o", "a = 0x1.5", "a = inf1", "a = nan_", "a = tru",
		"a = fals", "a = trueee", "\xef\xbb", "a = \"\xef\xbf\"", "a = 1 # \x1b",
		"a.b = 1\na = 2", "a = {}\na.b = 1", "[a]\na = 1\n[a.a]\n[a.a]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct toml_node *root = NULL;
		struct toml_error err;

		if (toml_parse(arena, bad[i], strlen(bad[i]), &root, &err) == 0)
			fail_msg("should fail: %s", bad[i]);
		assert_true(err.line >= 1 && err.column >= 1);
		assert_true(err.msg[0] != '\0');
	}
}

/* Every prefix of a valid document either parses or fails cleanly. */
static void test_truncations(void **state)
{
	static const char doc[] =
		"# config\n[servers.imap]\naddr = \":993\"\ntls = true\n"
		"s = \"\"\"\nml \\\n  x\"\"\"\nl = '''lit'''\narr = [1, 2.5, \"x\", [true], {a = 1}]\n"
		"[[server]]\ntype = \"imap\"\nauth_rate_limit.enabled = true\nn = 0x1f\n";

	(void)state;
	for (size_t cut = 0; cut <= sizeof(doc) - 1; cut++) {
		struct toml_node *root = NULL;
		struct toml_error err;
		int ret = toml_parse(arena, doc, cut, &root, &err);

		assert_true(ret == 0 || ret == -1);
		if (ret < 0)
			assert_true(err.line >= 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_and_comments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_basic_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_basic_string_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_literal_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiline_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiline_literal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integer_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_floats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_booleans_and_datetimes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_arrays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_and_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helpers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncations, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
