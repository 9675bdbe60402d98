/* Log lines: session context on every line, untrusted values escaped so
   that no CR/LF or quote can forge a line or a field, JSON output valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

static char *capture(enum log_format fmt, const struct log_ctx *ctx, const char *value)
{
	char path[] = "/tmp/test_log_XXXXXX";
	int fd = mkstemp(path);
	const char *error;
	static char out[4096];
	FILE *f;
	size_t n;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_open(path, fmt, LOG_LEVEL_INFO, &error), 0);
	log_debug(ctx, "hidden", "x=1"); /* below the level */
	log_info(ctx, "login", "user=%s", log_str(value));
	log_close();
	f = fopen(path, "r");
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(path);
	return out;
}

static void test_console_escaping(void **state)
{
	struct log_ctx ctx;
	char *line;

	(void)state;
	log_ctx_init(&ctx, "imap", "203.0.113.7");
	assert_int_equal(strlen(ctx.sid), 12);
	line = capture(LOG_FORMAT_CONSOLE, &ctx, "evil\r\n2026 info event=forged \"q\"");
	/* exactly one line */
	assert_non_null(strchr(line, '\n'));
	assert_int_equal(strchr(line, '\n')[1], '\0');
	assert_null(strstr(line, "hidden"));
	assert_non_null(strstr(line, " info sid="));
	assert_non_null(strstr(line, " proto=imap remote=203.0.113.7 event=login "));
	assert_non_null(strstr(line, "user=\"evil\\x0d\\x0a2026 info event=forged \\\"q\\\"\""));
}

static void test_json(void **state)
{
	struct log_ctx ctx;
	char *line;

	(void)state;
	log_ctx_init(&ctx, "lmtp", "::1");
	line = capture(LOG_FORMAT_JSON, &ctx, "a\"b");
	assert_true(line[0] == '{');
	assert_non_null(strstr(line, "\"level\":\"info\""));
	assert_non_null(strstr(line, "\"proto\":\"lmtp\""));
	assert_non_null(strstr(line, "\"remote\":\"::1\""));
	assert_non_null(strstr(line, "\"event\":\"login\""));
	assert_null(strchr(strchr(line, '\n') + 1, '\n'));
}

static void test_log_str(void **state)
{
	(void)state;
	assert_string_equal(log_str("plain"), "plain");
	assert_string_equal(log_str(""), "\"\"");
	assert_string_equal(log_str(NULL), "-");
	assert_string_equal(log_str("a b"), "\"a b\"");
	assert_string_equal(log_strn("k=v", 3), "\"k=v\"");
	assert_string_equal(log_str("caf\xc3\xa9"), "\"caf\\xc3\\xa9\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console_escaping),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_log_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
