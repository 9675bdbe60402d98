/* libFuzzer target for sieve/sieve.h.

   Input: a Sieve script, optionally followed by a NUL byte and a message
   (scripts cannot hold NUL, so the split is unambiguous); without one a
   fixed multipart message is used. The script is compiled with every
   extension enabled and small limits, then run. Invariants: a compile
   error has a message; a run either fails with exactly one KEEP, or has
   at most max_actions + 1 actions (the implicit keep), each well-formed;
   the compiled-script cache gives the same verdict as a fresh compile. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sieve/sieve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x) \
	((x) ? (void)0 : (fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x), abort()))

static const char fixed_msg[] =
	"Return-Path: <alice@example.org>\r\n"
	"From: Alice <alice+tag@example.org>\r\n"
	"To: bob@example.com, Group: c@example.net;\r\n"
	"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= test\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0100\r\n"
	"Message-ID: <m1@example.org>\r\n"
	"X-Spam-Score: 7\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello lunch\r\n"
	"--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	"PGI+aGk8L2I+\r\n--b--\r\n";

static bool exists_cb(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "INBOX") == 0;
}

static bool dup_cb(void *ctx, const char *id, uint64_t seconds)
{
	(void)ctx;
	(void)seconds;
	return strlen(id) % 2 == 0;
}

static const char *inc_cb(void *ctx, const char *name, bool global, size_t *len_r)
{
	static const char inc[] = "require [\"fileinto\", \"include\"]; fileinto \"inc\"; "
				  "include \"self\";";

	(void)ctx;
	(void)global;
	if (strcmp(name, "self") != 0 && strcmp(name, "a") != 0)
		return NULL;
	*len_r = sizeof(inc) - 1;
	return inc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sieve_limits lim = { .max_script_size = 64 * 1024, .max_nesting = 16,
					  .max_variable_size = 256, .max_actions = 16,
					  .max_redirects = 3, .max_execution_ms = 100 };
	const uint8_t *nul = memchr(data, 0, size);
	size_t slen = nul == NULL ? size : (size_t)(nul - data);
	const char *msg = fixed_msg;
	size_t mlen = sizeof(fixed_msg) - 1;
	const char *all[64];
	char *exts = strdup(sieve_extensions_all()), *save = NULL;
	size_t n = 0;
	struct sieve_script *s = NULL, *c = NULL;
	struct sieve_error err, err2;
	int ret, ret2;

	FUZZ_ASSERT(exts != NULL);
	for (char *t = strtok_r(exts, " ", &save); t != NULL && n < 63; t = strtok_r(NULL, " ", &save))
		all[n++] = t;
	all[n] = NULL;
	if (nul != NULL) {
		msg = (const char *)nul + 1;
		mlen = size - slen - 1;
	}
	ret = sieve_compile((const char *)data, slen, all, &lim, &s, &err);
	if (ret < 0) {
		FUZZ_ASSERT(err.msg[0] != '\0');
		FUZZ_ASSERT(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
	}
	ret2 = sieve_compile_cached((const char *)data, slen, all, &lim, &c, &err2);
	FUZZ_ASSERT(ret == ret2);
	sieve_script_free(&c);
	if (ret == 0) {
		struct sieve_message m = { .data = msg, .len = mlen,
					   .envelope_from = "alice@example.org",
					   .envelope_to = "bob+detail@example.com", .auth_user = "",
					   .now = 1700000000, .local_tz = "+0100" };
		struct sieve_env env = { .mailbox_exists = exists_cb, .duplicate_check = dup_cb,
					 .env_domain = "example.com", .env_host = "mx",
					 .include_fetch = inc_cb };
		struct sieve_result res;

		sieve_execute(s, &m, &env, &lim, &res);
		if (res.failed) {
			FUZZ_ASSERT(res.action_count == 1);
			FUZZ_ASSERT(res.actions[0].type == SIEVE_ACT_KEEP);
			FUZZ_ASSERT(res.error[0] != '\0');
		} else {
			FUZZ_ASSERT(res.action_count <= lim.max_actions + 1);
		}
		for (size_t i = 0; i < res.action_count; i++) {
			const struct sieve_action *a = &res.actions[i];

			if (a->type == SIEVE_ACT_KEEP || a->type == SIEVE_ACT_FILEINTO)
				FUZZ_ASSERT(a->mailbox != NULL && a->mailbox[0] != '\0');
			if (a->type == SIEVE_ACT_REDIRECT)
				FUZZ_ASSERT(a->address != NULL && strchr(a->address, '@') != NULL);
			if (a->type == SIEVE_ACT_VACATION)
				FUZZ_ASSERT(a->vacation_reason != NULL && a->vacation_seconds >= 86400);
		}
		sieve_result_free(&res);
		sieve_script_free(&s);
	}
	free(exts);
	return 0;
}
