/* crypt(3) schemes through libxcrypt, Argon2 through libargon2.

   struct crypt_data is 32 KiB: it lives on the heap, one per call, never
   on a worker's stack, and is wiped before it is freed (it holds the
   password and the intermediate state). libxcrypt refuses passphrases of
   CRYPT_MAX_PASSPHRASE_SIZE bytes or more; such a password is cut to fit
   for the computation (so that it costs as much as any other) and then
   never matches. */

#include "auth/password-private.h"

#include "lib/str.h"
#include "lib/util.h"

#include <argon2.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_CRYPT_SALT_BYTES 16
#define PASSWORD_ARGON2_SALT_BYTES 16
#define PASSWORD_ARGON2_HASH_BYTES 32

struct password_crypt_work {
	struct crypt_data data;
	char phrase[CRYPT_MAX_PASSPHRASE_SIZE];
};

/* The NUL-terminated copy crypt_rn() needs. *fits_r is false when the
   password had to be cut (too long for libxcrypt). */
static struct password_crypt_work *password_crypt_work_new(const char *pw, size_t pw_len,
							   bool *fits_r)
{
	struct password_crypt_work *w = xcalloc(1, sizeof(*w));
	size_t n = MIN(pw_len, sizeof(w->phrase) - 1);

	memcpy(w->phrase, pw, n);
	w->phrase[n] = '\0';
	*fits_r = n == pw_len;
	return w;
}

static void password_crypt_work_free(struct password_crypt_work **w)
{
	if (*w == NULL)
		return;
	util_wipe(*w, sizeof(**w));
	free(*w);
	*w = NULL;
}

int password_crypt_verify(enum password_scheme scheme, const unsigned char *raw, size_t raw_len,
			  const struct password_input *in, bool *match_r, const char **error_r)
{
	const char *setting = (const char *)raw;
	struct password_crypt_work *w;
	const char *out;
	bool fits;
	int ret = 0;

	(void)scheme; /* Dovecot hands every *-CRYPT body to crypt() alike */
	if (raw_len == 0 || strlen(setting) != raw_len) {
		*error_r = "Invalid crypt string";
		return -1;
	}
	w = password_crypt_work_new(in->pw, in->pw_len, &fits);
	out = crypt_rn(w->phrase, setting, &w->data, sizeof(w->data));
	if (out == NULL) {
		/* EINVAL: a setting libxcrypt does not understand */
		*error_r = "Invalid or unsupported crypt string";
		ret = -1;
	} else {
		*match_r = util_mem_equal_ct(out, strlen(out), setting, raw_len) && fits;
	}
	password_crypt_work_free(&w);
	return ret;
}

int password_crypt_hash(enum password_scheme scheme, const char *pw, size_t pw_len,
			const struct password_params *params, char **hash_r,
			const char **error_r)
{
	char rbytes[PASSWORD_CRYPT_SALT_BYTES], setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct password_crypt_work *w;
	unsigned long count = 0;
	const char *prefix, *out;
	bool fits;
	int ret = 0;

	switch (scheme) {
	case PASSWORD_SCHEME_BLF_CRYPT:
		/* never count 0: libxcrypt would pick cost 05 */
		prefix = "$2b$";
		count = params->bcrypt_cost;
		break;
	case PASSWORD_SCHEME_SHA512_CRYPT:
		prefix = "$6$";
		count = params->sha_crypt_rounds;
		break;
	case PASSWORD_SCHEME_SHA256_CRYPT:
		prefix = "$5$";
		count = params->sha_crypt_rounds;
		break;
	case PASSWORD_SCHEME_MD5_CRYPT:
		prefix = "$1$";
		break;
	default:
		*error_r = "Not a crypt scheme";
		return -1;
	}
	if (pw_len >= CRYPT_MAX_PASSPHRASE_SIZE) {
		*error_r = "Password too long for a crypt scheme (511 bytes at most)";
		return -1;
	}
	if (password_random(rbytes, sizeof(rbytes), error_r) < 0)
		return -1;
	if (crypt_gensalt_rn(prefix, count, rbytes, sizeof(rbytes), setting, sizeof(setting)) ==
	    NULL) {
		*error_r = "crypt_gensalt failed";
		return -1;
	}
	w = password_crypt_work_new(pw, pw_len, &fits);
	out = crypt_rn(w->phrase, setting, &w->data, sizeof(w->data));
	if (out == NULL || out[0] == '*' || !fits) {
		*error_r = "crypt failed";
		ret = -1;
	} else {
		*hash_r = password_stored_new(scheme, out, strlen(out));
	}
	password_crypt_work_free(&w);
	return ret;
}

/* "$2a$NN$", "$2b$NN$", "$2y$NN$": the cost, or -1 for anything else. */
static int password_bcrypt_cost(const char *s)
{
	if (s[0] != '$' || s[1] != '2' || (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') ||
	    s[3] != '$' || s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' || s[6] != '$')
		return -1;
	return (s[4] - '0') * 10 + (s[5] - '0');
}

bool password_bcrypt_is_current(const char *s, unsigned int min_cost)
{
	int cost = password_bcrypt_cost(s);

	return cost >= 0 && (unsigned int)cost >= min_cost && crypt_checksalt(s) == CRYPT_SALT_OK;
}

void password_bcrypt_burn(unsigned int cost)
{
	struct password_crypt_work *w;
	char setting[64];
	bool fits;
	int n;

	/* a fixed all-zero salt: the result is thrown away, only the time counts */
	cost = cost < 4 ? 4 : cost > 31 ? 31 : cost;
	n = snprintf(setting, sizeof(setting), "$2b$%02u$......................", cost);
	if (n < 0 || (size_t)n >= sizeof(setting))
		return;
	w = password_crypt_work_new("", 0, &fits);
	(void)crypt_rn("dummy password", setting, &w->data, sizeof(w->data));
	password_crypt_work_free(&w);
}

/* Parse a number of at most 10 digits at *p, advancing it. */
static int password_argon2_number(const char **p, uint32_t *num_r)
{
	size_t n = 0;

	while ((*p)[n] >= '0' && (*p)[n] <= '9' && n <= 10)
		n++;
	if (str_to_u32(slice_from(*p, n), num_r) < 0)
		return -1;
	*p += n;
	return 0;
}

static int password_argon2_expect(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return -1;
	*p += n;
	return 0;
}

/* "$argon2id$v=19$m=65536,t=3,p=1$salt$hash" (version optional): the type
   and the memory cost, so that the memory can be capped before libargon2
   allocates it. libargon2 checks the rest. */
static int password_argon2_parse(const char *s, argon2_type *type_r, uint32_t *memory_kib_r)
{
	uint32_t version, t_cost, lanes;

	if (password_argon2_expect(&s, "$argon2id$") == 0)
		*type_r = Argon2_id;
	else if (password_argon2_expect(&s, "$argon2i$") == 0)
		*type_r = Argon2_i;
	else
		return -1;
	if (password_argon2_expect(&s, "v=") == 0 &&
	    (password_argon2_number(&s, &version) < 0 || password_argon2_expect(&s, "$") < 0))
		return -1;
	if (password_argon2_expect(&s, "m=") < 0 || password_argon2_number(&s, memory_kib_r) < 0 ||
	    password_argon2_expect(&s, ",t=") < 0 || password_argon2_number(&s, &t_cost) < 0 ||
	    password_argon2_expect(&s, ",p=") < 0 || password_argon2_number(&s, &lanes) < 0 ||
	    password_argon2_expect(&s, "$") < 0)
		return -1;
	return 0;
}

int password_argon2_verify(enum password_scheme scheme, const unsigned char *raw,
			   size_t raw_len, const struct password_input *in, bool *match_r,
			   const char **error_r)
{
	const char *encoded = (const char *)raw;
	uint32_t memory_kib;
	argon2_type type;
	int rc;

	/* the PHC string names its own variant; {ARGON2I} vs {ARGON2ID}
	   does not matter, as in Dovecot (libsodium decides by the string) */
	(void)scheme;
	if (strlen(encoded) != raw_len || password_argon2_parse(encoded, &type, &memory_kib) < 0) {
		*error_r = "Invalid Argon2 string";
		return -1;
	}
	if (memory_kib > PASSWORD_ARGON2_MEMORY_KIB_MAX) {
		*error_r = "Argon2 memory cost above the limit";
		return -1;
	}
	if (in->pw_len > ARGON2_MAX_PWD_LENGTH) {
		*match_r = false;
		return 0;
	}
	/* compares in constant time (argon2_compare) */
	rc = argon2_verify(encoded, in->pw, in->pw_len, type);
	if (rc == ARGON2_OK) {
		*match_r = true;
		return 0;
	}
	if (rc == ARGON2_VERIFY_MISMATCH) {
		*match_r = false;
		return 0;
	}
	*error_r = argon2_error_message(rc);
	return -1;
}

int password_argon2_hash(enum password_scheme scheme, const char *pw, size_t pw_len,
			 const struct password_params *params, char **hash_r,
			 const char **error_r)
{
	argon2_type type = scheme == PASSWORD_SCHEME_ARGON2I ? Argon2_i : Argon2_id;
	unsigned char salt[PASSWORD_ARGON2_SALT_BYTES];
	size_t encoded_len;
	char *encoded;
	int rc;

	if (pw_len > ARGON2_MAX_PWD_LENGTH) {
		*error_r = "Password too long for Argon2";
		return -1;
	}
	if (password_random(salt, sizeof(salt), error_r) < 0)
		return -1;
	encoded_len = argon2_encodedlen(params->argon2_time, params->argon2_memory_kib,
					params->argon2_parallelism, sizeof(salt),
					PASSWORD_ARGON2_HASH_BYTES, type);
	encoded = xmalloc(encoded_len);
	rc = argon2_hash(params->argon2_time, params->argon2_memory_kib,
			 params->argon2_parallelism, pw, pw_len, salt, sizeof(salt), NULL,
			 PASSWORD_ARGON2_HASH_BYTES, encoded, encoded_len, type,
			 ARGON2_VERSION_13);
	if (rc != ARGON2_OK) {
		free(encoded);
		*error_r = argon2_error_message(rc);
		return -1;
	}
	*hash_r = password_stored_new(scheme, encoded, strlen(encoded));
	free(encoded);
	return 0;
}
