/* libFuzzer target for SASL PLAIN and LOGIN, base64 and login names.

   Input: one flag byte, then lines separated by LF.
     flag & 1  the first line is an initial response (else an empty start)
     flag & 2  the first line is also the master user name for the login
               name parser (else no master configured)
     flag & 4  field limit 10 instead of the default
   Every run: a PLAIN and a LOGIN exchange fed the lines in turn; PLAIN
   parse of the raw bytes after the flag; base64 decode of the same bytes
   (canonical: re-encoding gives them back); login-name parse of the line
   after the first. Results are checked against the header's promises. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/arena.h"
#include "lib/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fuzz_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	abort();
}

/* Also active in replay builds (no assert(), which NDEBUG would remove). */
#define FUZZ_CHECK(x) ((x) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #x))

#define FUZZ_MAX_LINES 8

/* An exact-size copy, so that ASan sees any read past the end. */
static char *fuzz_copy(const uint8_t *p, size_t len)
{
	char *c = malloc(len == 0 ? 1 : len);

	FUZZ_CHECK(c != NULL);
	if (len > 0)
		memcpy(c, p, len);
	return c;
}

static void fuzz_check_field(const char *s, size_t len, size_t max, bool may_be_empty)
{
	FUZZ_CHECK(s != NULL && strlen(s) == len);
	FUZZ_CHECK(len <= max);
	FUZZ_CHECK(may_be_empty || len > 0);
	FUZZ_CHECK(sasl_utf8_valid(s, len));
}

static void fuzz_check_result(struct arena *a, struct sasl_result *res, size_t max)
{
	struct sasl_result again;
	struct sasl_error err;
	char *enc;

	fuzz_check_field(res->authzid, res->authzid_len, max, true);
	fuzz_check_field(res->authcid, res->authcid_len, max, false);
	fuzz_check_field(res->password, res->password_len, max, false);
	/* the client side encodes what the server side decoded */
	enc = sasl_plain_encode(a, res->authzid, res->authcid, res->password);
	FUZZ_CHECK(sasl_plain_decode(slice_cstr(enc), &(struct sasl_limits){ max }, a, &again,
				     &err) == 0);
	FUZZ_CHECK(strcmp(again.authzid, res->authzid) == 0);
	FUZZ_CHECK(strcmp(again.authcid, res->authcid) == 0);
	FUZZ_CHECK(strcmp(again.password, res->password) == 0);
	sasl_result_wipe(&again);
	sasl_result_wipe(res);
	FUZZ_CHECK(res->password == NULL);
}

static void fuzz_exchange(enum sasl_mech mech, bool has_ir, char **lines, size_t *lens,
			  size_t n, size_t max)
{
	struct arena *a = arena_new(4096);
	struct sasl_limits limits = { .max_field_len = max };
	struct sasl_exchange *x = sasl_exchange_new(a, mech, &limits);
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice ch = { 0 }, ir = slice_from(n > 0 ? lines[0] : "", n > 0 ? lens[0] : 0);
	size_t i = has_ir ? 1 : 0;
	int ret;

	ret = sasl_exchange_start(x, has_ir ? &ir : NULL, &ch, &res, &err);
	for (; ret == 0 && i < n; i++) {
		FUZZ_CHECK(ch.ptr != NULL);
		ret = sasl_exchange_step(x, slice_from(lines[i], lens[i]), &ch, &res, &err);
	}
	FUZZ_CHECK(ret >= -1 && ret <= 1);
	if (ret == 1) {
		FUZZ_CHECK(mech == SASL_MECH_PLAIN || res.authzid_len == 0);
		fuzz_check_result(a, &res, max);
	} else if (ret == -1) {
		FUZZ_CHECK(err.code != SASL_ERR_NONE && err.msg != NULL);
		FUZZ_CHECK(res.password == NULL);
	}
	if (ret != 0) {
		/* finished: any further step is a STATE error */
		FUZZ_CHECK(sasl_exchange_step(x, SLICE_LIT("AA=="), &ch, &res, &err) == -1);
		FUZZ_CHECK(err.code == SASL_ERR_STATE);
	}
	arena_free(&a);
}

static void fuzz_base64(const char *in, size_t len)
{
	unsigned char *out = malloc(BASE64_DECODED_MAX(len) + 1);
	char *enc;
	size_t n;

	FUZZ_CHECK(out != NULL);
	if (base64_decode(in, len, out, &n) == 0) {
		FUZZ_CHECK(n <= BASE64_DECODED_MAX(len));
		enc = malloc(BASE64_ENCODED_LEN(n) + 1);
		FUZZ_CHECK(enc != NULL);
		FUZZ_CHECK(base64_encode(out, n, enc) == len);
		FUZZ_CHECK(memcmp(enc, in, len) == 0);
		free(enc);
	}
	free(out);
}

static void fuzz_login_name(const char *login, size_t len, const char *master)
{
	struct arena *a = arena_new(4096);
	struct sasl_login_name n;
	const char *error = NULL;
	const char *at;

	if (sasl_login_name_parse(slice_from(login, len), master, a, &n, &error) < 0) {
		FUZZ_CHECK(error != NULL);
		arena_free(&a);
		return;
	}
	FUZZ_CHECK(n.address != NULL && strlen(n.address) <= SASL_ADDRESS_MAX);
	at = strchr(n.address, '@');
	FUZZ_CHECK(at != NULL && at > n.address && at[1] != '\0' && strchr(at + 1, '@') == NULL);
	for (const char *p = n.address; *p != '\0'; p++)
		FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z') && *p != '"' && *p != ' ' && *p != '+');
	FUZZ_CHECK(sasl_utf8_valid(n.address, strlen(n.address)));
	FUZZ_CHECK((n.form == SASL_MASTER_NONE) == (n.suffix == NULL));
	if (n.is_master)
		FUZZ_CHECK(master != NULL && strcmp(n.suffix, master) == 0);
	if (n.form == SASL_MASTER_TILDE)
		FUZZ_CHECK(n.is_master);
	arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *lines[FUZZ_MAX_LINES], *rest, *master = NULL;
	size_t lens[FUZZ_MAX_LINES], n = 0, max, off;
	uint8_t flags;

	if (size == 0)
		return 0;
	flags = data[0];
	max = flags & 4 ? 10 : SASL_FIELD_MAX_DEFAULT;
	for (off = 1; off <= size && n < FUZZ_MAX_LINES; n++) {
		const uint8_t *lf = memchr(data + off, '\n', size - off);
		size_t len = lf == NULL ? size - off : (size_t)(lf - (data + off));

		lines[n] = fuzz_copy(data + off, len);
		lens[n] = len;
		off += len + 1;
	}
	fuzz_exchange(SASL_MECH_PLAIN, flags & 1, lines, lens, n, max);
	fuzz_exchange(SASL_MECH_LOGIN, flags & 1, lines, lens, n, max);

	rest = fuzz_copy(data + 1, size - 1);
	{
		struct arena *a = arena_new(4096);
		struct sasl_result res = { 0 };
		struct sasl_error err;

		if (sasl_plain_parse(slice_from(rest, size - 1), &(struct sasl_limits){ max }, a,
				     &res, &err) == 0)
			fuzz_check_result(a, &res, max);
		arena_free(&a);
	}
	fuzz_base64(rest, size - 1);
	if ((flags & 2) && n > 0) {
		master = malloc(lens[0] + 1);
		FUZZ_CHECK(master != NULL);
		memcpy(master, lines[0], lens[0]);
		master[lens[0]] = '\0';
	}
	if (n > 1)
		fuzz_login_name(lines[1], lens[1], master);
	else if (n == 1)
		fuzz_login_name(lines[0], lens[0], NULL);
	free(master);
	free(rest);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	return 0;
}
