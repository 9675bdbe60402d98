/* Unit tests for src/sieve: the parser's error paths (with line and
   column), the validator, every extension, and the RFC 5228 action
   semantics. The differential suite against Pigeonhole is tests/sieve/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "lib/str.h"
#include "lib/util.h"
#include "sieve/sieve.h"

static const char msg_plain[] =
	"Return-Path: <alice@example.org>\r\n"
	"Received: from mx by mail; Tue, 14 Nov 2023 22:13:20 +0100\r\n"
	"Message-ID: <plain-1@example.org>\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0100\r\n"
	"From: Alice Example <alice@example.org>\r\n"
	"To: Bob <bob+box@example.com>, carol@example.net\r\n"
	"Cc: Friends: dan@example.net, erin@example.net;\r\n"
	"Subject: Lunch on Friday?\r\n"
	"X-Spam-Score: 7\r\n"
	"X-Custom: one\r\n"
	"X-Custom: two\r\n"
	"X-Mood: =?utf-8?q?fr=C3=B6hlich?=\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=\"B\"\r\n"
	"\r\n"
	"--B\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Caf=E9 at noon?\r\n"
	"--B\r\n"
	"Content-Type: text/html\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"PHA+U2VjcmV0OiA8Yj5waW5lYXBwbGU8L2I+PC9wPg==\r\n"
	"--B--\r\n";

/* ---- helpers ---- */

/* Everything but editheader: what the error-path tests below assume when
   they pass NULL (the Sora default set has fewer; see test_ext_sets). */
static const char *const most_exts[] = {
	"fileinto", "reject", "ereject", "envelope", "encoded-character", "vacation",
	"vacation-seconds", "subaddress", "comparator-i;octet", "comparator-i;ascii-casemap",
	"comparator-i;ascii-numeric", "comparator-i;unicode-casemap", "relational", "regex",
	"imap4flags", "copy", "include", "body", "variables", "environment", "mailbox", "date",
	"index", "ihave", "duplicate", "special-use", "mailboxid", NULL
};

static const char *const all_exts[] = {
	"fileinto", "reject", "ereject", "envelope", "encoded-character", "vacation",
	"vacation-seconds", "subaddress", "comparator-i;octet", "comparator-i;ascii-casemap",
	"comparator-i;ascii-numeric", "comparator-i;unicode-casemap", "relational", "regex",
	"imap4flags", "copy", "include", "body", "variables", "environment", "mailbox", "date",
	"index", "ihave", "duplicate", "special-use", "mailboxid", "editheader", NULL
};

static struct sieve_script *compile_ok(const char *text)
{
	struct sieve_script *s = NULL;
	struct sieve_error err;

	if (sieve_compile(text, strlen(text), all_exts, NULL, &s, &err) < 0)
		fail_msg("compile failed: %s\nscript: %s", err.msg, text);
	return s;
}

static void compile_err(const char *text, const char *const *exts, unsigned int line,
			unsigned int col, const char *needle)
{
	struct sieve_script *s = NULL;
	struct sieve_error err;

	if (sieve_compile(text, strlen(text), exts != NULL ? exts : most_exts, NULL, &s, &err) ==
	    0) {
		sieve_script_free(&s);
		fail_msg("compiled but should not: %s", text);
	}
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
	if (err.line != line || err.column != col)
		fail_msg("error \"%s\": want line %u column %u, got %u/%u", err.msg, line, col,
			 err.line, err.column);
	if (line > 0) {
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "line %u, column %u: ", line, col);
		assert_true(strncmp(err.msg, prefix, strlen(prefix)) == 0);
	}
}

struct test_env {
	const char *dup_id;
	uint64_t dup_secs;
	int dup_calls;
	bool dup_answer;
};

static bool t_exists(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "INBOX") == 0 || strcmp(name, "Archive") == 0;
}

static bool t_dup(void *ctx, const char *id, uint64_t seconds)
{
	struct test_env *te = ctx;

	te->dup_id = strdup(id);
	te->dup_secs = seconds;
	te->dup_calls++;
	return te->dup_answer;
}

static const char *t_include(void *ctx, const char *name, bool global, size_t *len_r)
{
	static const struct {
		const char *name;
		bool global;
		const char *text;
	} scripts[] = {
		{ "junk", false, "require \"fileinto\"; if header :contains \"subject\" \"lunch\" "
				 "{ fileinto \"Food\"; }" },
		{ "ret", false, "require [\"include\", \"fileinto\"]; fileinto \"r1\"; return; "
				"fileinto \"r2\";" },
		{ "loop", false, "require \"include\"; include \"loop\";" },
		{ "gvar", true, "require [\"include\", \"variables\", \"fileinto\"]; global \"box\"; "
				"fileinto \"${box}\"; set \"box\" \"changed\";" },
		{ "once", false, "redirect \"once@example.net\";" },
		{ "broken", false, "keep" },
		{ "stopper", false, "stop;" },
	};

	(void)ctx;
	for (size_t i = 0; i < ARRAY_SIZE(scripts); i++) {
		if (strcmp(scripts[i].name, name) == 0 && scripts[i].global == global) {
			*len_r = strlen(scripts[i].text);
			return scripts[i].text;
		}
	}
	return NULL;
}

static bool t_specialuse(void *ctx, const char *mailbox, const char *flag)
{
	(void)ctx;
	return strcasecmp(flag, "\\Junk") == 0 && (mailbox == NULL || strcmp(mailbox, "Spam") == 0);
}

static bool t_mailboxid(void *ctx, const char *id)
{
	(void)ctx;
	return strcmp(id, "F123") == 0;
}

static struct test_env tenv;

static void run_msg(const char *text, const char *msg, const struct sieve_limits *lim,
		    struct sieve_result *res)
{
	struct sieve_script *s = compile_ok(text);
	struct sieve_message m = { .data = msg, .len = strlen(msg),
				   .envelope_from = "alice@example.org",
				   .envelope_to = "bob+Box@example.com", .auth_user = "bob",
				   .now = 1700000000, .local_tz = "+0100" };
	const char *const own[] = { "bob@example.com", NULL };
	struct sieve_env env = { .ctx = &tenv, .mailbox_exists = t_exists,
				 .duplicate_check = t_dup, .own_addresses = own,
				 .env_domain = "example.com", .env_host = "mx.example.com",
				 .include_fetch = t_include, .specialuse_exists = t_specialuse,
				 .mailboxid_exists = t_mailboxid };

	sieve_execute(s, &m, &env, lim, res);
	sieve_script_free(&s);
}

/* actions as one string: "store INBOX; fileinto A [\\Seen]; redirect x; ..." */
static char *describe(const struct sieve_result *res)
{
	struct buf b;

	buf_init(&b, 0);
	if (res->failed)
		(void)buf_append_str(&b, "FAILED; ");
	for (size_t i = 0; i < res->action_count; i++) {
		const struct sieve_action *a = &res->actions[i];

		if (i > 0)
			(void)buf_append_str(&b, "; ");
		switch (a->type) {
		case SIEVE_ACT_KEEP: (void)buf_printf(&b, "keep"); break;
		case SIEVE_ACT_FILEINTO: (void)buf_printf(&b, "fileinto %s", a->mailbox); break;
		case SIEVE_ACT_DISCARD: (void)buf_printf(&b, "discard"); break;
		case SIEVE_ACT_REDIRECT:
			(void)buf_printf(&b, "redirect%s %s", a->copy ? " :copy" : "", a->address);
			break;
		case SIEVE_ACT_VACATION: (void)buf_printf(&b, "vacation"); break;
		case SIEVE_ACT_REJECT:
			(void)buf_printf(&b, "%s %s", a->ereject ? "ereject" : "reject", a->reason);
			break;
		}
		if (a->flags != NULL) {
			(void)buf_append_str(&b, " [");
			for (size_t k = 0; a->flags[k] != NULL; k++)
				(void)buf_printf(&b, "%s%s", k > 0 ? " " : "", a->flags[k]);
			(void)buf_append_str(&b, "]");
		}
		if (a->create)
			(void)buf_append_str(&b, " :create");
	}
	return b.data == NULL ? strdup("") : b.data;
}

static void expect(const char *text, const char *want)
{
	struct sieve_result res;
	char *got;

	run_msg(text, msg_plain, NULL, &res);
	got = describe(&res);
	if (strcmp(got, want) != 0)
		fail_msg("script: %s\nwant: %s\ngot:  %s (%s)", text, want, got, res.error);
	free(got);
	sieve_result_free(&res);
}

/* ---- parser errors ---- */

static void test_parse_errors(void **state)
{
	(void)state;
	compile_err("keep;\n  filinto \"x\";", NULL, 2, 3, "unknown command \"filinto\"");
	compile_err("keep;\nif true {\n  keep;\n", NULL, 2, 9, "unterminated block");
	compile_err("if header :is \"subject\" \"abc { keep; }", NULL, 1, 25, "unterminated string");
	compile_err("keep; /* never\nclosed", NULL, 1, 7, "unterminated comment");
	compile_err("if size :over 99999999999999999999 { keep; }", NULL, 1, 15, "number too large");
	compile_err("if size :over 20000000000G { keep; }", NULL, 1, 15, "number too large");
	compile_err("if size :over 10X { keep; }", NULL, 1, 17, "invalid character 'X'");
	compile_err("if header :is \"s\" [\"a\", ] { keep; }", NULL, 1, 25, "expected a string");
	compile_err("if header :is \"s\" [\"a\" \"b\"] { keep; }", NULL, 1, 24,
		    "expected ',' or ']'");
	compile_err("if anyof (true; false) { keep; }", NULL, 1, 15, "expected ',' or ')'");
	compile_err("if anyof (\"x\") { keep; }", NULL, 1, 11, "expected a test");
	compile_err("if header : \"s\" \"x\" { keep; }", NULL, 1, 11, "expected a tag name");
	compile_err("keep;\n\n   @", NULL, 3, 4, "unexpected character '@'");
	compile_err("redirect text:\nx@example.net\n", NULL, 1, 10, "unterminated multi-line");
	compile_err("redirect text: junk\nx\n.\n;", NULL, 1, 16, "expected end of line");
	compile_err("keep\ndiscard;", NULL, 2, 1, "takes no test");
	compile_err("keep }", NULL, 1, 6, "expected ';' or '{'");
	compile_err("}", NULL, 1, 1, "expected a command");
	{
		const char text[] = "keep;\0discard;";
		struct sieve_script *s = NULL;
		struct sieve_error err;

		assert_int_equal(sieve_compile(text, sizeof(text) - 1, NULL, NULL, &s, &err), -1);
		assert_int_equal(err.line, 1);
		assert_int_equal(err.column, 6);
		assert_non_null(strstr(err.msg, "NUL"));
	}
	/* columns count characters, not bytes */
	compile_err("require \"fileinto\"; fileinto \"ü\"; bogus;", NULL, 1, 35, "unknown command");
}

static void test_limits_compile(void **state)
{
	struct sieve_limits lim = { .max_nesting = 3, .max_script_size = 20 };
	struct sieve_script *s = NULL;
	struct sieve_error err;
	const char *deep = "if true { if true { if true { if true { keep; } } } }";
	const char *tests = "if not not not not true { keep; }";

	(void)state;
	assert_int_equal(sieve_compile("keep; keep; keep; keep; keep;", 29, NULL, &lim, &s, &err), -1);
	assert_non_null(strstr(err.msg, "too large"));
	lim.max_script_size = 0;
	assert_int_equal(sieve_compile(deep, strlen(deep), NULL, &lim, &s, &err), -1);
	assert_non_null(strstr(err.msg, "nested too deeply"));
	assert_int_equal(err.line, 1);
	assert_int_equal(sieve_compile(tests, strlen(tests), NULL, &lim, &s, &err), -1);
	assert_non_null(strstr(err.msg, "nested too deeply"));
	lim.max_nesting = 0;
	assert_int_equal(sieve_compile(deep, strlen(deep), NULL, &lim, &s, &err), 0);
	sieve_script_free(&s);
}

/* ---- validator ---- */

static void test_validate_errors(void **state)
{
	const char *const only_fileinto[] = { "fileinto", NULL };

	(void)state;
	compile_err("require \"no-such-ext\";", NULL, 1, 9, "unknown or disabled extension");
	/* editheader is not in the default set */
	compile_err("require \"editheader\";", NULL, 1, 9, "\"editheader\"");
	compile_err("require \"envelope\";", only_fileinto, 1, 9, "\"envelope\"");
	compile_err("fileinto \"x\";", NULL, 1, 1, "requires the \"fileinto\" extension");
	compile_err("keep;\nrequire \"fileinto\";", NULL, 2, 1, "only allowed at the start");
	compile_err("if header :bogus \"s\" \"x\" { keep; }", NULL, 1, 11, "unknown tag :bogus");
	compile_err("if header :is :contains \"s\" \"x\" { keep; }", NULL, 1, 15,
		    "conflicting or repeated tag");
	compile_err("if header :comparator { keep; }", NULL, 1, 11, "needs an argument");
	compile_err("if header :is \"s\" { keep; }", NULL, 1, 4, "missing argument");
	compile_err("if header :is \"s\" \"x\" \"y\" { keep; }", NULL, 1, 23, "too many arguments");
	compile_err("if size :over \"10\" { keep; }", NULL, 1, 15, "must be a number");
	compile_err("redirect [\"a@b.c\", \"d@e.f\"];", NULL, 1, 10, "must be a string");
	compile_err("else { keep; }", NULL, 1, 1, "without a preceding \"if\"");
	compile_err("if true { keep; } keep; elsif true { keep; }", NULL, 1, 25, "without a preceding");
	compile_err("if size 10 { keep; }", NULL, 1, 4, "needs :over or :under");
	compile_err("if true keep;", NULL, 1, 1, "needs a block");
	compile_err("if (true) { keep; }", NULL, 1, 1, "needs exactly one test");
	compile_err("if allof true { keep; }", NULL, 1, 4, "needs a test list");
	compile_err("keep { }", NULL, 1, 1, "takes no block");
	compile_err("true;", NULL, 1, 1, "is a test, not a command");
	compile_err("if keep { }", NULL, 1, 4, "is a command, not a test");
	compile_err("if header :comparator \"i;nope\" \"s\" \"x\" { keep; }", NULL, 1, 23,
		    "unknown comparator");
	compile_err("if header :comparator \"i;ascii-numeric\" \"s\" \"x\" { keep; }", NULL, 1, 23,
		    "requires \"comparator-i;ascii-numeric\"");
	compile_err("require \"comparator-i;ascii-numeric\";\n"
		    "if header :comparator \"i;ascii-numeric\" :contains \"s\" \"1\" { keep; }",
		    NULL, 2, 4, "does not support");
	compile_err("require \"regex\";\nif header :regex \"s\" \"([a-z\" { keep; }", NULL, 2, 22,
		    "invalid regular expression");
	compile_err("if header :regex \"s\" \"x\" { keep; }", NULL, 1, 11, "\"regex\"");
	compile_err("require \"relational\";\nif header :value \"bigger\" \"s\" \"x\" { keep; }",
		    NULL, 2, 18, "invalid relational operator");
	compile_err("redirect \"not an address\";", NULL, 1, 10, "invalid redirect address");
	/* no line breaks or controls in error texts (ManageSieve, logs) */
	compile_err("redirect \"a\r\nb\x01\";", NULL, 1, 10, "address \"a??b?\"");
	compile_err("redirect :copy \"a@example.org\";", NULL, 1, 10, "\"copy\"");
	compile_err("require \"variables\";\nset \"1x\" \"v\";", NULL, 2, 5, "invalid variable name");
	compile_err("require \"variables\";\nset :lower :upper \"x\" \"v\";", NULL, 2, 12,
		    "conflicting or repeated");
	compile_err("require \"encoded-character\";\nredirect \"${unicode:D800}@x.org\";", NULL, 2,
		    10, "invalid unicode code point");
	compile_err("require \"envelope\";\nif envelope \"bcc\" \"x\" { keep; }", NULL, 2, 13,
		    "unknown envelope part");
	compile_err("if header :is \"bad name\" \"x\" { keep; }", NULL, 1, 15, "invalid header name");
	compile_err("require \"include\";\ninclude \"a/b\";", NULL, 2, 9, "invalid script name");
	compile_err("require \"vacation\";\nvacation :seconds 5 \"x\";", NULL, 2, 10,
		    "\"vacation-seconds\"");
	compile_err("require \"imap4flags\";\nsetflag \"v\" \"\\\\Seen\";", NULL, 2, 9,
		    "\"variables\" extension");
	compile_err("require \"index\";\nif header :index 0 \"s\" \"x\" { keep; }", NULL, 2, 18,
		    ":index must be");
	compile_err("require \"ihave\";\nerror;", NULL, 2, 1, "missing argument");
	compile_err("require \"body\";\nif body :content \"text\" :raw \"x\" { keep; }", NULL, 2,
		    25, "conflicting or repeated");
	compile_err("require [\"fileinto\", \"mailbox\"];\nfileinto :create :create \"x\";", NULL,
		    2, 18, "conflicting or repeated");
	compile_err("if header :is \"s\" :is \"x\" { keep; }", NULL, 1, 19,
		    "must come before the positional");
	/* ihave: an unknown extension's block is never validated */
	sieve_script_free(&(struct sieve_script *){ compile_ok(
		"require \"ihave\"; if ihave \"x-nope\" { x_command :odd 1; }") });
}

/* ---- core semantics ---- */

static void test_core(void **state)
{
	(void)state;
	expect("", "keep");
	expect("keep;", "keep");
	expect("discard;", "discard");
	expect("keep; discard;", "keep; discard");
	expect("stop; discard;", "keep");
	expect("if header :contains \"Subject\" \"LUNCH\" { discard; }", "discard");
	expect("if header :comparator \"i;octet\" :contains \"subject\" \"LUNCH\" { discard; }",
	       "keep");
	expect("if header :matches \"subject\" \"*Fri????\" { discard; }", "discard");
	expect("if header :matches \"subject\" \"Lunch\\\\*\" { discard; }", "keep");
	expect("if header :is \"x-mood\" \"fröhlich\" { discard; }", "discard");
	expect("if header :is \"x-custom\" \"two\" { discard; }", "discard");
	expect("if exists [\"from\", \"x-custom\"] { discard; }", "discard");
	expect("if exists [\"from\", \"x-nope\"] { discard; }", "keep");
	expect("if size :over 100 { discard; }", "discard");
	expect("if size :under 500 { discard; }", "keep");
	expect("if not true { discard; } elsif false { discard; } else { redirect \"x@y.org\"; }",
	       "redirect x@y.org");
	expect("if allof (true, false) { discard; }", "keep");
	expect("if anyof (false, true) { discard; }", "discard");
	expect("if address :domain :is \"to\" \"example.net\" { discard; }", "discard");
	expect("if address :localpart :is \"from\" \"alice\" { discard; }", "discard");
	expect("if address :all :is \"cc\" \"erin@example.net\" { discard; }", "discard");
	expect("if address :is \"from\" \"Alice Example\" { discard; }", "keep");
	/* duplicates collapse; every redirect counts once */
	expect("redirect \"a@x.org\"; redirect \"A@x.org\"; redirect \"b@x.org\";",
	       "redirect a@x.org; redirect b@x.org");
	expect("keep; keep;", "keep");
	/* multi-line strings, dot-unstuffing, escapes, comments */
	expect("if header :contains \"subject\" \"\\\"\" { discard; }", "keep");
	expect("# c\n/* c */ redirect text: # comment\n..dot@x.org\n.\n;", "redirect .dot@x.org");
	expect("if header :is \"subject\" \"Lun\\ch on Friday?\" { discard; }", "discard");
	/* identifiers and tags ignore case */
	expect("IF Header :IS \"subject\" \"lunch on friday?\" { DISCARD; }", "discard");
	/* a name-addr stands for its address */
	expect("redirect \"Bob <bob@x.org>\";", "redirect bob@x.org");
	/* later flags for the same mailbox replace the earlier ones */
	expect("require \"imap4flags\"; keep :flags \"a\"; keep :flags \"b\";", "keep [b]");
}

static void test_fileinto_copy_mailbox(void **state)
{
	(void)state;
	expect("require \"fileinto\"; fileinto \"A\";", "fileinto A");
	expect("require \"fileinto\"; fileinto \"A\"; fileinto \"A\"; fileinto \"B\";",
	       "fileinto A; fileinto B");
	expect("require \"fileinto\"; fileinto \"INBOX\"; keep;", "keep");
	expect("require [\"fileinto\", \"copy\"]; fileinto :copy \"A\";", "fileinto A; keep");
	expect("require \"copy\"; redirect :copy \"a@x.org\";", "redirect :copy a@x.org; keep");
	expect("require [\"fileinto\", \"mailbox\"]; fileinto :create \"New\";", "fileinto New :create");
	expect("require [\"fileinto\", \"mailbox\"]; if mailboxexists [\"Archive\", \"INBOX\"] "
	       "{ fileinto \"yes\"; } if mailboxexists \"Nope\" { fileinto \"no\"; }",
	       "fileinto yes");
}

static void test_special_use_mailboxid(void **state)
{
	struct sieve_result res;

	(void)state;
	run_msg("require [\"fileinto\", \"special-use\", \"mailboxid\"];"
		"fileinto :specialuse \"\\\\Junk\" :mailboxid \"F123\" \"Spam\";",
		msg_plain, NULL, &res);
	assert_int_equal(res.action_count, 1);
	assert_string_equal(res.actions[0].special_use, "\\Junk");
	assert_string_equal(res.actions[0].mailboxid, "F123");
	sieve_result_free(&res);
	expect("require [\"fileinto\", \"special-use\"]; if specialuse_exists \"\\\\Junk\" "
	       "{ fileinto \"a\"; } if specialuse_exists \"Spam\" \"\\\\Junk\" { fileinto \"b\"; }"
	       "if specialuse_exists \"INBOX\" \"\\\\Junk\" { fileinto \"c\"; }",
	       "fileinto a");
	expect("require [\"fileinto\", \"mailboxid\"]; if mailboxidexists \"F123\" "
	       "{ fileinto \"a\"; } if mailboxidexists [\"F123\", \"F9\"] { fileinto \"b\"; }",
	       "fileinto a");
}

static void test_envelope_subaddress(void **state)
{
	(void)state;
	expect("require \"envelope\"; if envelope :is \"from\" \"alice@example.org\" { discard; }",
	       "discard");
	expect("require [\"envelope\", \"subaddress\"]; if envelope :detail \"to\" \"box\" "
	       "{ discard; }", "discard");
	expect("require [\"envelope\", \"subaddress\"]; if envelope :user :is \"to\" \"bob\" "
	       "{ discard; }", "discard");
	expect("require [\"envelope\"]; if envelope :is \"auth\" \"bob\" { discard; }", "discard");
	/* RFC 5233 §4: no "+" means no detail, so even "*" fails */
	expect("require \"subaddress\"; if address :detail :matches \"from\" \"*\" { discard; }",
	       "keep");
	expect("require \"subaddress\"; if address :detail :is \"to\" \"box\" { discard; }",
	       "discard");
}

static void test_encoded_character(void **state)
{
	(void)state;
	expect("require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:41 42}${unicode:263a}\";",
	       "fileinto AB\xe2\x98\xba");
	expect("require \"fileinto\"; fileinto \"${hex:41}\";", "fileinto ${hex:41}");
	expect("require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:4g}\";",
	       "fileinto ${hex:4g}");
}

static void test_comparators_relational(void **state)
{
	(void)state;
	expect("require [\"comparator-i;ascii-numeric\", \"relational\"];"
	       "if header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"5\""
	       "{ discard; }", "discard");
	expect("require [\"comparator-i;ascii-numeric\"];"
	       "if header :comparator \"i;ascii-numeric\" :is \"x-spam-score\" \"007\" { discard; }",
	       "discard");
	/* non-digits are positive infinity (RFC 4790 §9.1.1) */
	expect("require [\"relational\", \"comparator-i;ascii-numeric\"]; if header :value \"gt\" :comparator \"i;ascii-numeric\" "
	       "\"subject\" \"999999\" { discard; }", "discard");
	expect("require [\"relational\", \"comparator-i;ascii-numeric\"]; if header :count \"eq\" :comparator \"i;ascii-numeric\" "
	       "\"x-custom\" \"2\" { discard; }", "discard");
	expect("require [\"relational\", \"comparator-i;ascii-numeric\"]; if address :count \"eq\" :comparator \"i;ascii-numeric\" "
	       "[\"to\", \"cc\"] \"4\" { discard; }", "discard");
	expect("require [\"relational\"]; if header :value \"lt\" \"subject\" \"M\" { discard; }",
	       "discard");
	expect("require \"comparator-i;unicode-casemap\"; if header :comparator "
	       "\"i;unicode-casemap\" :is \"x-mood\" \"FRÖHLICH\" { discard; }", "discard");
	expect("if header :is \"x-mood\" \"FRÖHLICH\" { discard; }", "keep");
}

static void test_imap4flags(void **state)
{
	(void)state;
	expect("require \"imap4flags\"; setflag \"\\\\Seen\";", "keep [\\Seen]");
	expect("require [\"imap4flags\", \"fileinto\"]; addflag [\"a\", \"b c\"]; addflag \"A\";"
	       "removeflag \"b\"; fileinto \"X\";", "fileinto X [a c]");
	expect("require [\"imap4flags\", \"fileinto\"]; setflag \"x\"; fileinto :flags \"y\" \"A\";"
	       "fileinto \"B\";", "fileinto A [y]; fileinto B [x]");
	/* implicit keep takes the flags current at the end */
	expect("require \"imap4flags\"; addflag \"a\"; removeflag \"a\"; addflag \"z\";", "keep [z]");
	expect("require \"imap4flags\"; addflag \"Important\"; if hasflag :is \"important\" "
	       "{ discard; }", "discard");
	expect("require [\"imap4flags\", \"variables\", \"fileinto\"]; set \"f\" \"\";"
	       "addflag \"f\" [\"\\\\Seen\", \"\\\\seen\"]; if hasflag \"f\" \"\\\\SEEN\" "
	       "{ fileinto :flags \"${f}\" \"V\"; }", "fileinto V [\\Seen]");
	expect("require [\"imap4flags\", \"relational\", \"comparator-i;ascii-numeric\"]; addflag [\"a\", \"b c\"];"
	       "if hasflag :count \"eq\" :comparator \"i;ascii-numeric\" \"3\" { discard; }",
	       "discard");
}

static void test_variables(void **state)
{
	struct sieve_limits lim = { .max_variable_size = 10 };
	struct sieve_result res;

	(void)state;
	expect("require [\"variables\", \"fileinto\"]; set \"b\" \"X\"; fileinto \"${B}${b}${none}\";",
	       "fileinto XX");
	/* unknown namespaces expand to ""; broken references stay as written */
	expect("require [\"variables\", \"fileinto\"]; fileinto \"a${env.x}b${c$${1\";",
	       "fileinto ab${c$${1");
	expect("require [\"variables\", \"fileinto\"]; if address :matches \"from\" \"*@*\" "
	       "{ fileinto \"${2}/${1}/${0}\"; }",
	       "fileinto example.org/alice/alice@example.org");
	/* each star takes the shortest span (RFC 5229 §3.2) */
	expect("require [\"variables\", \"fileinto\"]; if header :matches \"subject\" \"* *\" "
	       "{ fileinto \"[${1}][${2}]\"; }", "fileinto [Lunch][on Friday?]");
	expect("require [\"variables\", \"fileinto\"]; if header :matches \"subject\" \"?*?\" "
	       "{ fileinto \"${1}|${2}|${3}\"; }", "fileinto L|unch on Friday|?");
	expect("require [\"variables\", \"fileinto\"]; set :lower :upperfirst \"a\" \"hELLO\";"
	       "set :upper \"b\" \"ßx\"; set :length \"c\" \"héllo\"; set :quotewildcard \"d\" \"a*?\\\\\";"
	       "fileinto \"${a}-${b}-${c}-${d}\";", "fileinto Hello-ßX-5-a\\*\\?\\\\");
	expect("require \"variables\"; set \"a\" \"x\"; if string :is \"${a}\" \"x\" { discard; }",
	       "discard");
	expect("require [\"variables\", \"relational\", \"comparator-i;ascii-numeric\"]; if string :count \"eq\" :comparator "
	       "\"i;ascii-numeric\" [\"a\", \"\", \"b\"] \"2\" { discard; }", "discard");
	/* a failed match leaves the match variables as they were */
	expect("require [\"variables\", \"fileinto\"]; if header :matches \"subject\" \"L*\" {}"
	       "if header :matches \"subject\" \"X*\" {} fileinto \"${1}\";",
	       "fileinto unch on Friday?");
	/* values are capped at max_variable_size, on a character boundary */
	run_msg("require [\"variables\", \"fileinto\"]; set \"a\" \"ééééééééé\"; fileinto \"${a}\";",
		msg_plain, &lim, &res);
	assert_false(res.failed);
	assert_string_equal(res.actions[0].mailbox, "ééééé");
	sieve_result_free(&res);
}

static void test_vacation(void **state)
{
	struct sieve_result res;
	const struct sieve_action *a;

	(void)state;
	run_msg("require [\"vacation\", \"variables\"]; if header :matches \"subject\" \"*\" {"
		"vacation :days 3 :subject \"Re: ${1}\" :from \"bob@example.com\" "
		":addresses [\"bob@example.com\", \"b@example.com\"] \"Away.\"; }",
		msg_plain, NULL, &res);
	assert_false(res.failed);
	assert_int_equal(res.action_count, 2);
	a = &res.actions[0];
	assert_int_equal(a->type, SIEVE_ACT_VACATION);
	assert_string_equal(a->vacation_reason, "Away.");
	assert_string_equal(a->vacation_subject, "Re: Lunch on Friday?");
	assert_string_equal(a->vacation_from, "bob@example.com");
	assert_string_equal(a->vacation_to, "alice@example.org");
	assert_int_equal(a->vacation_seconds, 3 * 86400);
	assert_string_equal(a->vacation_addresses[1], "b@example.com");
	assert_null(a->vacation_addresses[2]);
	assert_string_equal(a->vacation_handle, "Away.Re: Lunch on Friday?bob@example.com<NO-MIME>");
	assert_int_equal(res.actions[1].type, SIEVE_ACT_KEEP);
	sieve_result_free(&res);

	run_msg("require \"vacation-seconds\"; vacation :seconds 7200 :mime :handle \"h\" "
		"text:\nContent-Type: text/plain\n\nAway\n.\n;", msg_plain, NULL, &res);
	a = &res.actions[0];
	assert_int_equal(a->vacation_seconds, 86400); /* the one-day floor */
	assert_true(a->vacation_mime);
	assert_string_equal(a->vacation_handle, "h");
	assert_string_equal(a->vacation_reason, "Content-Type: text/plain\r\n\r\nAway\r\n");
	sieve_result_free(&res);

	run_msg("require \"vacation\"; vacation \"x\";", msg_plain, NULL, &res);
	assert_int_equal(res.actions[0].vacation_seconds, 7 * 86400);
	assert_null(res.actions[0].vacation_subject);
	sieve_result_free(&res);
	expect("require \"vacation\"; vacation \"a\"; vacation \"b\";", "FAILED; keep");
}

static void test_regex(void **state)
{
	(void)state;
	expect("require [\"regex\", \"variables\", \"fileinto\"]; if header :regex \"subject\" "
	       "\"^([a-z]+) on (.*)$\" { fileinto \"${2}-${1}\"; }", "fileinto Friday?-Lunch");
	expect("require \"regex\"; if header :regex :comparator \"i;octet\" \"subject\" \"^lunch\" "
	       "{ discard; }", "keep");
	expect("require [\"regex\", \"variables\"]; set :quoteregex \"q\" \"Friday?\";"
	       "if header :regex \"subject\" \"${q}$\" { discard; }", "discard");
}

static void test_date_index(void **state)
{
	(void)state;
	expect("require [\"date\", \"variables\", \"fileinto\"]; if date :originalzone :matches "
	       "\"date\" \"iso8601\" \"*\" { fileinto \"${1}\"; }",
	       "fileinto 2023-11-14T22:13:20+01:00");
	expect("require [\"date\", \"variables\", \"fileinto\"]; if date :zone \"+0000\" :matches "
	       "\"date\" \"iso8601\" \"*\" { fileinto \"${1}\"; }", "fileinto 2023-11-14T21:13:20Z");
	expect("require [\"date\", \"variables\", \"fileinto\"]; if date :zone \"-0530\" :matches "
	       "\"date\" \"time\" \"*\" { fileinto \"${1}\"; }", "fileinto 15:43:20");
	expect("require [\"date\", \"variables\", \"fileinto\"]; if date :matches "
	       "\"date\" \"std11\" \"*\" { fileinto \"${1}\"; }",
	       "fileinto Tue, 14 Nov 2023 22:13:20 +0100");
	expect("require [\"date\", \"variables\", \"fileinto\"]; if date :zone \"+0000\" :matches "
	       "\"date\" \"julian\" \"*\" { fileinto \"${1}\"; }", "fileinto 60262");
	expect("require [\"date\", \"variables\", \"fileinto\"]; if date :matches "
	       "\"date\" \"weekday\" \"*\" { fileinto \"${1}\"; }", "fileinto 2");
	expect("require [\"date\", \"variables\", \"fileinto\"]; if date :originalzone :matches "
	       "\"received\" \"zone\" \"*\" { fileinto \"${1}\"; }", "fileinto +0100");
	/* now = 1700000000 = 2023-11-14T22:13:20Z, local zone +0100 */
	expect("require [\"date\", \"variables\", \"fileinto\"]; if currentdate :matches "
	       "\"date\" \"*\" { fileinto \"${1}\"; }", "fileinto 2023-11-14");
	expect("require [\"date\", \"variables\", \"fileinto\"]; if currentdate :zone \"+0200\" "
	       ":matches \"hour\" \"*\" { fileinto \"${1}\"; }", "fileinto 00");
	expect("require [\"date\"]; if date :is \"x-nope\" \"year\" \"2023\" { discard; }", "keep");
	expect("require \"index\"; if header :index 2 :is \"x-custom\" \"two\" { discard; }",
	       "discard");
	expect("require \"index\"; if header :index 2 :last :is \"x-custom\" \"one\" { discard; }",
	       "discard");
	expect("require \"index\"; if header :index 3 :contains \"x-custom\" \"\" { discard; }",
	       "keep");
}

static void test_body(void **state)
{
	(void)state;
	expect("require \"body\"; if body :contains \"café\" { discard; }", "discard");
	expect("require \"body\"; if body :text :contains \"pineapple\" { discard; }", "discard");
	expect("require \"body\"; if body :raw :contains \"PHA+U2Vj\" { discard; }", "discard");
	expect("require \"body\"; if body :raw :contains \"pineapple\" { discard; }", "keep");
	expect("require \"body\"; if body :content \"text/html\" :contains \"<b>\" { discard; }",
	       "discard");
	expect("require \"body\"; if body :content \"text/plain\" :contains \"pineapple\" "
	       "{ discard; }", "keep");
	expect("require \"body\"; if body :content \"image\" :contains \"\" { discard; }", "keep");
}

static void test_editheader(void **state)
{
	struct sieve_result res;

	(void)state;
	run_msg("require [\"editheader\", \"fileinto\", \"index\"];"
		"addheader \"X-Added\" \"1\"; addheader :last \"X-Custom\" \"three\";"
		"deleteheader :index 1 \"x-custom\"; deleteheader \"received\";"
		"addheader \"Auto-Submitted\" \"no\";"
		"if header :index 1 :is \"x-custom\" \"two\" { fileinto \"ok1\"; }"
		"if header :index 1 :last :is \"x-custom\" \"three\" { fileinto \"ok2\"; }"
		"if exists \"x-added\" { fileinto \"ok3\"; }"
		"deleteheader :matches \"x-custom\" \"t*\";"
		"if not exists \"x-custom\" { fileinto \"ok4\"; }",
		msg_plain, NULL, &res);
	assert_false(res.failed);
	assert_int_equal(res.action_count, 4);
	assert_int_equal(res.edit_count, 5);
	assert_true(res.edits[0].add && !res.edits[0].last);
	assert_string_equal(res.edits[0].name, "X-Added");
	assert_true(res.edits[1].add && res.edits[1].last);
	assert_false(res.edits[2].add);
	assert_string_equal(res.edits[2].value, "one");
	assert_string_equal(res.edits[3].value, "two");
	assert_string_equal(res.edits[4].value, "three");
	sieve_result_free(&res);

	run_msg("require \"editheader\"; deleteheader \"x-custom\";", msg_plain, NULL, &res);
	assert_int_equal(res.edit_count, 1);
	assert_null(res.edits[0].value);
	sieve_result_free(&res);
	expect("require \"editheader\"; addheader \"X-A\" \"a\\nb\";", "keep");
	expect("require [\"editheader\", \"variables\"]; set \"v\" text:\nx\n.\n;"
	       "addheader \"X-A\" \"${v}\";", "FAILED; keep");
}

static void test_reject(void **state)
{
	(void)state;
	expect("require \"reject\"; reject \"go away\";", "reject go away");
	expect("require \"ereject\"; ereject \"no\";", "ereject no");
	expect("require [\"reject\", \"fileinto\"]; fileinto \"A\"; reject \"no\";", "FAILED; keep");
	expect("require [\"reject\", \"fileinto\"]; reject \"no\"; fileinto \"A\";", "FAILED; keep");
	expect("require [\"reject\"]; reject \"no\"; discard;", "reject no; discard");
}

static void test_include(void **state)
{
	(void)state;
	expect("require [\"include\", \"fileinto\"]; include \"junk\"; fileinto \"after\";",
	       "fileinto Food; fileinto after");
	expect("require [\"include\", \"fileinto\"]; include :personal \"ret\"; fileinto \"main\";",
	       "fileinto r1; fileinto main");
	expect("require [\"include\", \"variables\", \"fileinto\"]; global \"box\";"
	       "set \"box\" \"G\"; include :global \"gvar\"; fileinto \"${box}\";",
	       "fileinto G; fileinto changed");
	expect("require \"include\"; include :once \"once\"; include :once \"once\";",
	       "redirect once@example.net");
	expect("require \"include\"; include :optional \"missing\"; discard;", "discard");
	expect("require \"include\"; include \"missing\";", "FAILED; keep");
	expect("require \"include\"; include \"loop\";", "FAILED; keep");
	expect("require \"include\"; include \"broken\";", "FAILED; keep");
	expect("require \"include\"; include \"stopper\"; discard;", "keep");
	/* a return in the main script ends it */
	expect("require \"include\"; return; discard;", "keep");
}

static void test_duplicate_environment_ihave(void **state)
{
	(void)state;
	memset(&tenv, 0, sizeof(tenv));
	expect("require \"duplicate\"; if duplicate { discard; }", "keep");
	assert_int_equal(tenv.dup_calls, 1);
	assert_string_equal(tenv.dup_id, "\n<plain-1@example.org>");
	assert_int_equal(tenv.dup_secs, 43200);
	free((void *)tenv.dup_id);
	tenv.dup_answer = true;
	expect("require \"duplicate\"; if duplicate :handle \"h\" :header \"subject\" "
	       ":seconds 60 { discard; }", "discard");
	assert_string_equal(tenv.dup_id, "h\nLunch on Friday?");
	assert_int_equal(tenv.dup_secs, 60);
	free((void *)tenv.dup_id);
	expect("require \"duplicate\"; if duplicate :uniqueid \"u1\" { discard; }", "discard");
	assert_string_equal(tenv.dup_id, "\nu1");
	free((void *)tenv.dup_id);
	memset(&tenv, 0, sizeof(tenv));

	expect("require [\"environment\", \"variables\", \"fileinto\"];"
	       "if environment :matches \"domain\" \"*\" { fileinto \"${1}\"; }"
	       "if environment :is \"phase\" \"during\" { fileinto \"during\"; }"
	       "if environment :matches \"remote-ip\" \"*\" { fileinto \"no\"; }",
	       "fileinto example.com; fileinto during");
	expect("require \"ihave\"; if ihave \"fileinto\" { fileinto \"yes\"; }", "fileinto yes");
	expect("require \"ihave\"; if ihave [\"fileinto\", \"x-unknown\"] { x_cmd; } "
	       "else { discard; }", "discard");
	expect("require \"ihave\"; error \"stop here\";", "FAILED; keep");
}

/* ---- bounds ---- */

static void test_limits_runtime(void **state)
{
	struct sieve_limits lim = { .max_redirects = 2, .max_actions = 3 };
	struct sieve_result res;
	uint64_t t0;
	struct buf big;
	char *msg;

	(void)state;
	run_msg("redirect \"a@x.org\"; redirect \"b@x.org\"; redirect \"c@x.org\";", msg_plain, &lim,
		&res);
	assert_true(res.failed);
	assert_int_equal(res.action_count, 1);
	assert_int_equal(res.actions[0].type, SIEVE_ACT_KEEP);
	assert_string_equal(res.actions[0].mailbox, "INBOX");
	assert_non_null(strstr(res.error, "redirects"));
	sieve_result_free(&res);

	run_msg("require \"fileinto\"; fileinto \"a\"; fileinto \"b\"; fileinto \"c\"; "
		"fileinto \"d\";", msg_plain, &lim, &res);
	assert_true(res.failed);
	assert_non_null(strstr(res.error, "too many actions"));
	sieve_result_free(&res);
	/* three actions and the implicit keep are fine */
	run_msg("require [\"fileinto\", \"copy\"]; fileinto :copy \"a\"; fileinto :copy \"b\"; "
		"fileinto :copy \"c\";", msg_plain, &lim, &res);
	assert_false(res.failed);
	assert_int_equal(res.action_count, 4);
	sieve_result_free(&res);

	/* hostile input: a long header against many stars and a catastrophic
	   regex; :matches stays linear, the regex hits PCRE2's limits */
	buf_init(&big, 0);
	(void)buf_append_str(&big, "Subject: ");
	for (int i = 0; i < 200000; i++)
		(void)buf_append(&big, "a", 1);
	(void)buf_append_str(&big, "\r\n\r\nbody\r\n");
	msg = big.data;
	t0 = util_now_ms();
	run_msg("if header :matches \"subject\" \"*a*a*a*a*a*a*a*a*a*a*a*a*b\" { discard; }", msg,
		NULL, &res);
	assert_false(res.failed);
	assert_int_equal(res.actions[0].type, SIEVE_ACT_KEEP);
	sieve_result_free(&res);
	assert_true(util_now_ms() - t0 < 1500);
	run_msg("require \"regex\"; if header :regex \"subject\" \"^(a|aa)+$b\" { discard; }", msg,
		NULL, &res);
	assert_true(res.failed);
	assert_int_equal(res.action_count, 1);
	assert_int_equal(res.actions[0].type, SIEVE_ACT_KEEP);
	sieve_result_free(&res);
	assert_true(util_now_ms() - t0 < 5000);
	buf_free(&big);
}

static void test_time_limit(void **state)
{
	struct sieve_limits lim = { .max_execution_ms = 100 };
	struct sieve_result res;
	struct buf script, msg;
	uint64_t t0;

	(void)state;
	/* many body tests over a 1 MiB body: each is bounded, their sum is cut
	   by the clock */
	buf_init(&msg, 0);
	(void)buf_append_str(&msg, "Subject: x\r\n\r\n");
	for (int i = 0; i < 1024 * 1024 / 64; i++)
		(void)buf_append_str(&msg, "abababababababababababababababababababababababababababab\r\n");
	buf_init(&script, 0);
	(void)buf_append_str(&script, "require \"body\";\n");
	for (int i = 0; i < 3000; i++)
		(void)buf_printf(&script, "if body :raw :matches \"*a*b*c%d*\" { discard; }\n", i);
	t0 = util_now_ms();
	run_msg(script.data, msg.data, &lim, &res);
	assert_true(res.failed);
	assert_non_null(strstr(res.error, "time limit"));
	assert_int_equal(res.action_count, 1);
	assert_true(util_now_ms() - t0 < 3000);
	sieve_result_free(&res);

	/* one quadratic :contains (1 MiB body, 60 KiB key, case-insensitive):
	   cut by the clock inside the search */
	buf_clear(&script);
	(void)buf_append_str(&script, "require \"body\"; if body :raw :contains \"");
	for (int i = 0; i < 60000; i++)
		(void)buf_append(&script, "a", 1);
	(void)buf_append_str(&script, "c\" { discard; }");
	buf_clear(&msg);
	(void)buf_append_str(&msg, "Subject: x\r\n\r\n");
	for (int i = 0; i < 1024 * 1024; i++)
		(void)buf_append(&msg, "a", 1);
	t0 = util_now_ms();
	run_msg(script.data, msg.data, &lim, &res);
	assert_true(res.failed);
	assert_non_null(strstr(res.error, "time limit"));
	assert_true(util_now_ms() - t0 < 3000);
	sieve_result_free(&res);
	buf_free(&script);
	buf_free(&msg);
}

/* ---- extension lists and the cache ---- */

static void test_extensions(void **state)
{
	(void)state;
	assert_non_null(strstr(sieve_extensions_all(), "editheader"));
	assert_null(strstr(sieve_extensions_default(), "editheader"));
	/* Sora's 18: nothing beyond Sora unless configured */
	assert_null(strstr(sieve_extensions_default(), "reject"));
	assert_null(strstr(sieve_extensions_default(), "include"));
	assert_null(strstr(sieve_extensions_default(), "mailboxid"));
	{
		struct sieve_script *sc = NULL;
		struct sieve_error e;

		assert_int_equal(sieve_compile("require \"reject\";", 17, NULL, NULL, &sc, &e), -1);
		assert_non_null(strstr(e.msg, "unknown or disabled extension"));
		assert_int_equal(sieve_compile("require [\"fileinto\", \"vacation\"];", 33, NULL,
					       NULL, &sc, &e), 0);
		sieve_script_free(&sc);
	}
	assert_non_null(strstr(sieve_extensions_default(), "fileinto"));
	assert_non_null(strstr(sieve_extensions_default(), "comparator-i;unicode-casemap"));
	assert_true(sieve_extension_known("vacation-seconds"));
	assert_true(sieve_extension_known("mailboxid"));
	assert_false(sieve_extension_known("notify"));
	assert_false(sieve_extension_known(NULL));
}

static void *cache_thread(void *arg)
{
	const char *text = arg;

	for (int i = 0; i < 200; i++) {
		struct sieve_script *s = NULL;
		struct sieve_error err;
		char buf[64];

		snprintf(buf, sizeof(buf), "if size :over %d { keep; }", i % 150);
		if (sieve_compile_cached(i % 2 ? text : buf, strlen(i % 2 ? text : buf), NULL, NULL,
					 &s, &err) < 0)
			return (void *)1;
		sieve_script_free(&s);
	}
	return NULL;
}

static void test_cache(void **state)
{
	const char *text = "require \"fileinto\"; fileinto \"A\";";
	const char *const only[] = { "envelope", NULL };
	struct sieve_script *a = NULL, *b = NULL, *c = NULL;
	struct sieve_error err;
	pthread_t th[4];

	(void)state;
	assert_int_equal(sieve_compile_cached(text, strlen(text), NULL, NULL, &a, &err), 0);
	assert_int_equal(sieve_compile_cached(text, strlen(text), NULL, NULL, &b, &err), 0);
	assert_ptr_equal(a, b);
	/* the enabled set is part of the key */
	assert_int_equal(sieve_compile_cached(text, strlen(text), only, NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "fileinto"));
	sieve_script_free(&a);
	sieve_script_free(&b);
	assert_null(a);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, cache_thread, (void *)text), 0);
	for (int i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	sieve_cache_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_limits_compile),
		cmocka_unit_test(test_validate_errors),
		cmocka_unit_test(test_core),
		cmocka_unit_test(test_fileinto_copy_mailbox),
		cmocka_unit_test(test_special_use_mailboxid),
		cmocka_unit_test(test_envelope_subaddress),
		cmocka_unit_test(test_encoded_character),
		cmocka_unit_test(test_comparators_relational),
		cmocka_unit_test(test_imap4flags),
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_vacation),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_date_index),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_editheader),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_duplicate_environment_ihave),
		cmocka_unit_test(test_limits_runtime),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_cache),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	sieve_cache_clear();
	return ret;
}
