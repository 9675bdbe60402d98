/* libFuzzer target for the password schemes.

   The first line of the input is a stored string, the rest (after the LF)
   the password, which may hold any byte. password_verify() must return 0
   or -1, never match on -1, never match a password holding a NUL; then
   password_needs_rehash() runs on the same string. Last, the password (up
   to its first NUL) is hashed with a creatable scheme picked by the last
   input byte, at the cheapest costs, and must verify.

   Stored strings that would make one run slow are skipped: bcrypt cost
   above 5, Argon2 memory above 1024 KiB (or t > 2, p > 2), any number
   above 5000 (rounds=, PBKDF2 rounds, SCRAM iterations, OTP sequence),
   yescrypt/scrypt/BSDi costs (encoded as letters), and hex/base64-wrapped
   bodies of schemes other than the plain digests (they could hide any of
   these). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/password.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_NUMBER 5000
#define FUZZ_MAX_BCRYPT_COST 5
#define FUZZ_MAX_ARGON2_MEMORY_KIB 1024
#define FUZZ_MAX_ARGON2_TIME 2
#define FUZZ_MAX_ARGON2_LANES 2

static _Noreturn void fuzz_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	abort();
}

/* Also active in replay builds (no assert(), which NDEBUG would remove). */
#define FUZZ_CHECK(x) ((x) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #x))

static bool fuzz_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The decimal number at p (at most 10 digits counted; more is "huge"). */
static unsigned long long fuzz_number(const char *p)
{
	unsigned long long v = 0;

	for (size_t n = 0; fuzz_is_digit(p[n]); n++) {
		if (n >= 10)
			return ~0ULL;
		v = v * 10 + (unsigned long long)(p[n] - '0');
	}
	return v;
}

static bool fuzz_any_big_number(const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (fuzz_is_digit(*p) && (p == s || !fuzz_is_digit(p[-1])) &&
		    fuzz_number(p) > FUZZ_MAX_NUMBER)
			return true;
	}
	return false;
}

static bool fuzz_bcrypt_costly(const char *s)
{
	for (const char *p = s; (p = strstr(p, "$2")) != NULL; p++) {
		if (p[2] != '\0' && p[3] == '$' && fuzz_is_digit(p[4]) && fuzz_is_digit(p[5]) &&
		    (p[4] - '0') * 10 + (p[5] - '0') > FUZZ_MAX_BCRYPT_COST)
			return true;
	}
	return false;
}

/* Value of every "key" + digits in s above max? */
static bool fuzz_param_above(const char *s, const char *key, unsigned long long max)
{
	for (const char *p = s; (p = strstr(p, key)) != NULL; p++) {
		if (fuzz_number(p + strlen(key)) > max)
			return true;
	}
	return false;
}

/* A ".HEX"/".B64" suffix on anything but the cheap digest schemes. */
static bool fuzz_encoded_costly(const char *s)
{
	static const char *const cheap[] = { "SHA",   "SSHA", "SMD5",   "PLAIN",
					     "LDAP-", "CRAM", "HMAC-", "DIGEST-" };
	const char *brace = strchr(s, '}'), *dot = strchr(s, '.');

	if (s[0] != '{' || brace == NULL || dot == NULL || dot > brace)
		return false;
	for (size_t i = 0; i < sizeof(cheap) / sizeof(cheap[0]); i++) {
		if (strncasecmp(s + 1, cheap[i], strlen(cheap[i])) == 0)
			return false;
	}
	return true;
}

static bool fuzz_too_costly(const char *s)
{
	const char *brace = s[0] == '{' ? strchr(s, '}') : NULL;
	const char *body = brace == NULL ? s : brace + 1;

	return fuzz_any_big_number(s) || fuzz_bcrypt_costly(s) ||
	       fuzz_param_above(s, "m=", FUZZ_MAX_ARGON2_MEMORY_KIB) ||
	       fuzz_param_above(s, "t=", FUZZ_MAX_ARGON2_TIME) ||
	       fuzz_param_above(s, "p=", FUZZ_MAX_ARGON2_LANES) || strstr(s, "$y$") != NULL ||
	       strstr(s, "$gy$") != NULL || strstr(s, "$7$") != NULL || body[0] == '_' ||
	       fuzz_encoded_costly(s);
}

static void fuzz_verify(const char *stored, const char *pw, size_t pw_len)
{
	const char *error = NULL;
	bool match = true;
	int ret;

	ret = password_verify(stored, pw, pw_len, "user@example.com", &match, &error);
	FUZZ_CHECK(ret == 0 || ret == -1);
	if (ret < 0)
		FUZZ_CHECK(!match && error != NULL);
	if (match)
		FUZZ_CHECK(memchr(pw, '\0', pw_len) == NULL);
	(void)password_needs_rehash(stored, NULL);
}

static void fuzz_roundtrip(const char *pw, unsigned char selector)
{
	static const struct password_params cheap = {
		.bcrypt_cost = 4,
		.sha_crypt_rounds = 1000,
		.argon2_memory_kib = 8,
		.argon2_time = 1,
		.pbkdf2_rounds = 1,
		.scram_iterations = 1,
	};
	enum password_scheme s = (enum password_scheme)(selector % PASSWORD_SCHEME_COUNT);
	const char *error = NULL;
	char *hash = NULL;
	bool match = false;

	if (!password_scheme_can_create(s))
		return;
	if (password_hash(s, pw, &cheap, &hash, &error) < 0) {
		/* only crypt(3) refuses, and only over-long passwords */
		FUZZ_CHECK(strlen(pw) >= 511 && error != NULL);
		return;
	}
	FUZZ_CHECK(password_verify(hash, pw, strlen(pw), NULL, &match, &error) == 0);
	FUZZ_CHECK(match);
	free(hash);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t stored_len = lf == NULL ? size : (size_t)(lf - data);
	size_t pw_len = lf == NULL ? 0 : size - stored_len - 1;
	const uint8_t *pw_start = data + size - pw_len;
	char *stored = malloc(stored_len + 1);
	/* exact size, no NUL: ASan sees a read past the given length */
	char *pw = malloc(pw_len == 0 ? 1 : pw_len);
	char *pw_str = malloc(pw_len + 1);

	FUZZ_CHECK(stored != NULL && pw != NULL && pw_str != NULL);
	memcpy(stored, data, stored_len);
	stored[stored_len] = '\0';
	memcpy(pw, pw_start, pw_len);
	if (strlen(stored) == stored_len && !fuzz_too_costly(stored))
		fuzz_verify(stored, pw, pw_len);
	memcpy(pw_str, pw_start, pw_len);
	pw_str[pw_len] = '\0';
	fuzz_roundtrip(pw_str, size > 0 ? data[size - 1] : 0);
	free(stored);
	free(pw);
	free(pw_str);
	return 0;
}
