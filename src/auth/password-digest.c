/* Digest schemes through OpenSSL: {SHA*}, {SSHA*}, {SMD5}, {PLAIN-MD5},
   {LDAP-MD5}, {PLAIN-MD4}, {DIGEST-MD5}, {CRAM-MD5}, {PBKDF2}, {SCRAM-*},
   {OTP}, and the plaintext schemes.

   Every buffer holding something derived from the password (digests,
   HMAC keys, MD5 states) is wiped before it goes out of scope, and every
   comparison with stored data goes through util_mem_equal_ct().

   MD4 lives only in OpenSSL's legacy provider. It is loaded once
   (pthread_once) into a private OSSL_LIB_CTX, so that the process-wide
   default context keeps its implicit default provider. */

#include "auth/password-private.h"

#include "lib/str.h"
#include "lib/util.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Generated salts: 8 bytes for {SSHA*}/{SMD5} (as Sora), 16 characters
   for PBKDF2 (as Dovecot), 16 bytes for SCRAM. */
#define PASSWORD_SSHA_SALT_BYTES 8
#define PASSWORD_PBKDF2_SALT_CHARS 16
#define PASSWORD_PBKDF2_KEY_BYTES 20
#define PASSWORD_SCRAM_SALT_BYTES 16
#define PASSWORD_CRAM_MD5_BYTES 32
#define PASSWORD_OTP_SEQ_MAX 99999
#define PASSWORD_OTP_SEED_MAX 16

struct password_part {
	const void *data;
	size_t len;
};

static pthread_once_t password_md4_once = PTHREAD_ONCE_INIT;
static EVP_MD *password_md4_md;

static void password_md4_load(void)
{
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

	if (ctx == NULL)
		return;
	if (OSSL_PROVIDER_load(ctx, "legacy") != NULL)
		password_md4_md = EVP_MD_fetch(ctx, "MD4", NULL);
	if (password_md4_md == NULL)
		OSSL_LIB_CTX_free(ctx);
	/* else ctx stays for the process lifetime, like the EVP_MD */
}

/* NULL when OpenSSL's legacy provider is not installed. */
static const EVP_MD *password_md4(void)
{
	if (pthread_once(&password_md4_once, password_md4_load) != 0)
		return NULL;
	return password_md4_md;
}

static const EVP_MD *password_scheme_md(enum password_scheme scheme)
{
	switch (scheme) {
	case PASSWORD_SCHEME_SHA512:
	case PASSWORD_SCHEME_SSHA512:
		return EVP_sha512();
	case PASSWORD_SCHEME_SHA256:
	case PASSWORD_SCHEME_SSHA256:
	case PASSWORD_SCHEME_SCRAM_SHA256:
		return EVP_sha256();
	case PASSWORD_SCHEME_SHA1:
	case PASSWORD_SCHEME_SSHA:
	case PASSWORD_SCHEME_SCRAM_SHA1:
		return EVP_sha1();
	case PASSWORD_SCHEME_SMD5:
	case PASSWORD_SCHEME_PLAIN_MD5:
	case PASSWORD_SCHEME_LDAP_MD5:
	case PASSWORD_SCHEME_DIGEST_MD5:
		return EVP_md5();
	case PASSWORD_SCHEME_PLAIN_MD4:
		return password_md4();
	default:
		return NULL;
	}
}

/* out = H(parts[0] || parts[1] || ...); out holds EVP_MAX_MD_SIZE bytes. */
static int password_digestv(const EVP_MD *md, const struct password_part *parts, size_t count,
			    unsigned char *out, size_t *out_len_r)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1;

	for (size_t i = 0; ok && i < count; i++)
		ok = EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1;
	EVP_MD_CTX_free(ctx); /* cleanses the state */
	*out_len_r = len;
	return ok ? 0 : -1;
}

static int password_digest2(const EVP_MD *md, const void *a, size_t a_len, const void *b,
			    size_t b_len, unsigned char *out, size_t *out_len_r)
{
	const struct password_part parts[] = { { a, a_len }, { b, b_len } };

	return password_digestv(md, parts, ARRAY_SIZE(parts), out, out_len_r);
}

/* Compare H(pw || salt) with want (want_len bytes). */
static int password_digest_compare(const EVP_MD *md, const struct password_input *in,
				   const unsigned char *salt, size_t salt_len,
				   const unsigned char *want, size_t want_len, bool *match_r,
				   const char **error_r)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	size_t len;

	if (md == NULL) {
		*error_r = "Digest not available (OpenSSL legacy provider missing?)";
		return -1;
	}
	if (password_digest2(md, in->pw, in->pw_len, salt, salt_len, digest, &len) < 0) {
		util_wipe(digest, sizeof(digest));
		*error_r = "Digest failed";
		return -1;
	}
	*match_r = util_mem_equal_ct(digest, len, want, want_len);
	util_wipe(digest, sizeof(digest));
	return 0;
}

int password_digest_verify(enum password_scheme scheme, const unsigned char *raw,
			   size_t raw_len, const struct password_input *in, bool *match_r,
			   const char **error_r)
{
	return password_digest_compare(password_scheme_md(scheme), in, NULL, 0, raw, raw_len,
				       match_r, error_r);
}

/* base64(H(pw || salt) || salt); the digest size tells where the salt starts. */
int password_salted_verify(enum password_scheme scheme, const unsigned char *raw,
			   size_t raw_len, const struct password_input *in, bool *match_r,
			   const char **error_r)
{
	const EVP_MD *md = password_scheme_md(scheme);
	size_t dlen = (size_t)EVP_MD_get_size(md);

	if (raw_len <= dlen) {
		*error_r = "Salted hash too short";
		return -1;
	}
	return password_digest_compare(md, in, raw + dlen, raw_len - dlen, raw, dlen, match_r,
				       error_r);
}

/* Dovecot's {MD5}: an MD5-CRYPT string, or else a PLAIN-MD5 digest. */
int password_md5_verify(enum password_scheme scheme, const unsigned char *raw, size_t raw_len,
			const struct password_input *in, bool *match_r, const char **error_r)
{
	unsigned char digest[16 + 2];
	size_t len;
	int ret;

	(void)scheme;
	if (raw_len >= 3 && memcmp(raw, "$1$", 3) == 0)
		return password_crypt_verify(PASSWORD_SCHEME_MD5_CRYPT, raw, raw_len, in, match_r,
					     error_r);
	if (raw_len == 32)
		ret = password_hex_decode((const char *)raw, raw_len, digest, &len);
	else if (raw_len == 24)
		ret = password_base64_decode((const char *)raw, raw_len, digest, &len);
	else
		ret = -1;
	if (ret < 0 || len != 16) {
		*error_r = "Not an MD5-CRYPT or PLAIN-MD5 hash";
		return -1;
	}
	return password_digest_compare(EVP_md5(), in, NULL, 0, digest, 16, match_r, error_r);
}

/* RFC 2831: MD5("user:realm:password"). Dovecot reads the login name as
   user@realm and splits at the last '@' (so user@domain@realm works). */
int password_digest_md5_verify(enum password_scheme scheme, const unsigned char *raw,
			       size_t raw_len, const struct password_input *in, bool *match_r,
			       const char **error_r)
{
	const char *at = strrchr(in->username, '@');
	size_t user_len = at == NULL ? strlen(in->username) : (size_t)(at - in->username);
	const char *realm = at == NULL ? "" : at + 1;
	const struct password_part parts[] = {
		{ in->username, user_len }, { ":", 1 }, { realm, strlen(realm) },
		{ ":", 1 },                 { in->pw, in->pw_len },
	};
	unsigned char digest[EVP_MAX_MD_SIZE];
	size_t len;

	(void)scheme;
	if (password_digestv(EVP_md5(), parts, ARRAY_SIZE(parts), digest, &len) < 0) {
		util_wipe(digest, sizeof(digest));
		*error_r = "Digest failed";
		return -1;
	}
	*match_r = util_mem_equal_ct(digest, len, raw, raw_len);
	util_wipe(digest, sizeof(digest));
	return 0;
}

static void password_put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* The CRAM-MD5 "context" (Dovecot's hmac_md5_get_cram_context): the MD5
   states A..D (little-endian) after the HMAC-MD5 outer pad block, then
   after the inner pad block. The raw MD5 state is only reachable through
   the deprecated MD5_* API; EVP hides it. */
static int password_cram_md5_context(const char *pw, size_t pw_len,
				     unsigned char out[PASSWORD_CRAM_MD5_BYTES])
{
	static const unsigned char pads[2] = { 0x5c, 0x36 };
	unsigned char key[64] = { 0 }, block[64];
	MD5_CTX ctx;
	int ret = 0;

	if (pw_len > sizeof(key)) {
		size_t len;

		if (password_digest2(EVP_md5(), pw, pw_len, NULL, 0, key, &len) < 0)
			ret = -1;
	} else {
		memcpy(key, pw, pw_len);
	}
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(pads); i++) {
		for (size_t j = 0; j < sizeof(block); j++)
			block[j] = key[j] ^ pads[i];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		if (MD5_Init(&ctx) != 1 || MD5_Update(&ctx, block, sizeof(block)) != 1) {
			ret = -1;
			break;
		}
#pragma GCC diagnostic pop
		password_put_le32(out + 16 * i, ctx.A);
		password_put_le32(out + 16 * i + 4, ctx.B);
		password_put_le32(out + 16 * i + 8, ctx.C);
		password_put_le32(out + 16 * i + 12, ctx.D);
	}
	util_wipe(key, sizeof(key));
	util_wipe(block, sizeof(block));
	util_wipe(&ctx, sizeof(ctx));
	return ret;
}

int password_cram_md5_verify(enum password_scheme scheme, const unsigned char *raw,
			     size_t raw_len, const struct password_input *in, bool *match_r,
			     const char **error_r)
{
	unsigned char context[PASSWORD_CRAM_MD5_BYTES];

	(void)scheme;
	if (password_cram_md5_context(in->pw, in->pw_len, context) < 0) {
		util_wipe(context, sizeof(context));
		*error_r = "MD5 failed";
		return -1;
	}
	*match_r = util_mem_equal_ct(context, sizeof(context), raw, raw_len);
	util_wipe(context, sizeof(context));
	return 0;
}

/* Splits s at sep into exactly count fields (count - 1 separators). */
static int password_split(struct slice s, char sep, struct slice *fields, size_t count)
{
	for (size_t i = 0; i + 1 < count; i++) {
		ssize_t pos = slice_find(s, sep);

		if (pos < 0)
			return -1;
		fields[i] = slice_from(s.ptr, (size_t)pos);
		s = slice_from(s.ptr + pos + 1, s.len - (size_t)pos - 1);
	}
	if (slice_find(s, sep) >= 0)
		return -1;
	fields[count - 1] = s;
	return 0;
}

/* Iteration counts for PBKDF2 and SCRAM: 1..INT_MAX (OpenSSL takes int). */
static int password_parse_rounds(struct slice s, uint32_t *rounds_r)
{
	if (str_to_u32(s, rounds_r) < 0 || *rounds_r == 0 || *rounds_r > INT_MAX)
		return -1;
	return 0;
}

/* "$1$<salt>$<rounds>$<hex>": PBKDF2-HMAC-SHA1(pw, salt as text, rounds),
   20 bytes. The password is at most INT_MAX bytes for OpenSSL; a longer
   one cannot have been hashed and does not match. */
int password_pbkdf2_verify(enum password_scheme scheme, const unsigned char *raw,
			   size_t raw_len, const struct password_input *in, bool *match_r,
			   const char **error_r)
{
	unsigned char want[PASSWORD_PBKDF2_KEY_BYTES], key[PASSWORD_PBKDF2_KEY_BYTES];
	struct slice s = slice_from((const char *)raw, raw_len), f[3];
	uint32_t rounds;
	size_t len;

	(void)scheme;
	if (s.len < 3 || memcmp(s.ptr, "$1$", 3) != 0 ||
	    password_split(slice_from(s.ptr + 3, s.len - 3), '$', f, 3) < 0 ||
	    password_parse_rounds(f[1], &rounds) < 0 || f[2].len != 2 * sizeof(want) ||
	    password_hex_decode(f[2].ptr, f[2].len, want, &len) < 0 || f[0].len > INT_MAX) {
		*error_r = "Invalid PBKDF2 hash";
		return -1;
	}
	if (in->pw_len > INT_MAX) {
		*match_r = false;
		return 0;
	}
	if (PKCS5_PBKDF2_HMAC(in->pw, (int)in->pw_len, (const unsigned char *)f[0].ptr,
			      (int)f[0].len, (int)rounds, EVP_sha1(), sizeof(key), key) != 1) {
		util_wipe(key, sizeof(key));
		*error_r = "PBKDF2 failed";
		return -1;
	}
	*match_r = util_mem_equal_ct(key, sizeof(key), want, sizeof(want));
	util_wipe(key, sizeof(key));
	return 0;
}

/* RFC 5802 §3: SaltedPassword = Hi(pw, salt, i), ClientKey = HMAC(SaltedPassword,
   "Client Key"), StoredKey = H(ClientKey), ServerKey = HMAC(SaltedPassword,
   "Server Key"). The password is used as given (no SASLprep), as Dovecot. */
static int password_scram_keys(const EVP_MD *md, const char *pw, size_t pw_len,
			       const unsigned char *salt, size_t salt_len, uint32_t iterations,
			       unsigned char *stored_key, unsigned char *server_key)
{
	unsigned char salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
	int dlen = EVP_MD_get_size(md);
	unsigned int len;
	size_t stored_len;
	int ret = -1;

	if (pw_len <= INT_MAX && salt_len <= INT_MAX &&
	    PKCS5_PBKDF2_HMAC(pw, (int)pw_len, salt, (int)salt_len, (int)iterations, md, dlen,
			      salted) == 1 &&
	    HMAC(md, salted, dlen, (const unsigned char *)"Client Key", 10, client_key, &len) !=
		    NULL &&
	    password_digest2(md, client_key, len, NULL, 0, stored_key, &stored_len) == 0 &&
	    HMAC(md, salted, dlen, (const unsigned char *)"Server Key", 10, server_key, &len) !=
		    NULL)
		ret = 0;
	util_wipe(salted, sizeof(salted));
	util_wipe(client_key, sizeof(client_key));
	return ret;
}

/* "<iterations>,<base64 salt>,<base64 StoredKey>,<base64 ServerKey>" */
int password_scram_verify(enum password_scheme scheme, const unsigned char *raw,
			  size_t raw_len, const struct password_input *in, bool *match_r,
			  const char **error_r)
{
	const EVP_MD *md = password_scheme_md(scheme);
	size_t dlen = (size_t)EVP_MD_get_size(md), salt_len, stored_len, server_len;
	unsigned char stored_want[EVP_MAX_MD_SIZE + 2], server_want[EVP_MAX_MD_SIZE + 2];
	unsigned char stored_key[EVP_MAX_MD_SIZE], server_key[EVP_MAX_MD_SIZE];
	struct slice f[4];
	unsigned char *salt;
	uint32_t iterations;
	int ret = 0;

	if (password_split(slice_from((const char *)raw, raw_len), ',', f, 4) < 0 ||
	    password_parse_rounds(f[0], &iterations) < 0 || f[2].len > sizeof(stored_want) ||
	    f[3].len > sizeof(server_want) ||
	    password_base64_decode(f[2].ptr, f[2].len, stored_want, &stored_len) < 0 ||
	    password_base64_decode(f[3].ptr, f[3].len, server_want, &server_len) < 0 ||
	    stored_len != dlen || server_len != dlen) {
		*error_r = "Invalid SCRAM hash";
		return -1;
	}
	salt = xmalloc(f[1].len / 4 * 3 + 3);
	if (password_base64_decode(f[1].ptr, f[1].len, salt, &salt_len) < 0 || salt_len == 0) {
		*error_r = "Invalid SCRAM salt";
		ret = -1;
	} else if (password_scram_keys(md, in->pw, in->pw_len, salt, salt_len, iterations,
				       stored_key, server_key) < 0) {
		/* only an over-long password gets here short of OpenSSL failing */
		*match_r = false;
	} else {
		/* both compared, whatever the first gives */
		bool stored_ok = util_mem_equal_ct(stored_key, dlen, stored_want, dlen);
		bool server_ok = util_mem_equal_ct(server_key, dlen, server_want, dlen);

		*match_r = stored_ok && server_ok;
	}
	util_wipe(stored_key, sizeof(stored_key));
	util_wipe(server_key, sizeof(server_key));
	free(salt);
	return ret;
}

/* RFC 2289 folding of a digest to 64 bits. MD4/MD5 (§6): XOR the two
   halves. SHA1 (appendix A): XOR the big-endian words w0^w2^w4 and w1^w3,
   each written out least significant byte first. */
static void password_otp_fold(const EVP_MD *md, const unsigned char *d, unsigned char out[8])
{
	if (EVP_MD_get_size(md) == 20) {
		for (size_t i = 0; i < 4; i++) {
			out[3 - i] = d[i] ^ d[i + 8] ^ d[i + 16];
			out[7 - i] = d[i + 4] ^ d[i + 12];
		}
	} else {
		for (size_t i = 0; i < 8; i++)
			out[i] = d[i] ^ d[i + 8];
	}
}

/* One-time password state "<algo> <seq> <seed> <hex 8 bytes>": the key is
   fold(H(lower(seed) || pw)), then seq times fold(H(key)). */
static int password_otp_key(const EVP_MD *md, struct slice seed, const struct password_input *in,
			    uint32_t seq, unsigned char key[8])
{
	char seed_lower[PASSWORD_OTP_SEED_MAX];
	unsigned char digest[EVP_MAX_MD_SIZE];
	size_t len;
	int ret = 0;

	for (size_t i = 0; i < seed.len; i++) {
		char c = seed.ptr[i];

		seed_lower[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	if (password_digest2(md, seed_lower, seed.len, in->pw, in->pw_len, digest, &len) < 0)
		ret = -1;
	else
		password_otp_fold(md, digest, key);
	for (uint32_t i = 0; ret == 0 && i < seq; i++) {
		if (password_digest2(md, key, 8, NULL, 0, digest, &len) < 0)
			ret = -1;
		else
			password_otp_fold(md, digest, key);
	}
	util_wipe(digest, sizeof(digest));
	return ret;
}

static bool password_otp_seed_valid(struct slice seed)
{
	if (seed.len == 0 || seed.len > PASSWORD_OTP_SEED_MAX)
		return false;
	for (size_t i = 0; i < seed.len; i++) {
		char c = seed.ptr[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

int password_otp_verify(enum password_scheme scheme, const unsigned char *raw, size_t raw_len,
			const struct password_input *in, bool *match_r, const char **error_r)
{
	unsigned char want[8], key[8];
	const EVP_MD *md = NULL;
	struct slice f[4];
	uint32_t seq;
	size_t len;

	(void)scheme;
	if (password_split(slice_from((const char *)raw, raw_len), ' ', f, 4) == 0) {
		if (slice_eq_ci(f[0], "md4"))
			md = password_md4();
		else if (slice_eq_ci(f[0], "md5"))
			md = EVP_md5();
		else if (slice_eq_ci(f[0], "sha1"))
			md = EVP_sha1();
	}
	if (md == NULL || str_to_u32(f[1], &seq) < 0 || seq > PASSWORD_OTP_SEQ_MAX ||
	    !password_otp_seed_valid(f[2]) || f[3].len != 2 * sizeof(want) ||
	    password_hex_decode(f[3].ptr, f[3].len, want, &len) < 0) {
		*error_r = "Invalid OTP state (or MD4 not available)";
		return -1;
	}
	if (password_otp_key(md, f[2], in, seq, key) < 0) {
		util_wipe(key, sizeof(key));
		*error_r = "Digest failed";
		return -1;
	}
	*match_r = util_mem_equal_ct(key, sizeof(key), want, sizeof(want));
	util_wipe(key, sizeof(key));
	return 0;
}

int password_plain_verify(enum password_scheme scheme, const unsigned char *raw, size_t raw_len,
			  const struct password_input *in, bool *match_r, const char **error_r)
{
	(void)scheme;
	(void)error_r;
	*match_r = util_mem_equal_ct(raw, raw_len, in->pw, in->pw_len);
	return 0;
}

/* "<N>-<stored>": when stored is exactly N bytes long it may be a password
   cut to N by an old system, so only the first N bytes of the given
   password count. N = 0 would let every password in and is refused. */
int password_plain_trunc_verify(enum password_scheme scheme, const unsigned char *raw,
				size_t raw_len, const struct password_input *in, bool *match_r,
				const char **error_r)
{
	struct slice s = slice_from((const char *)raw, raw_len);
	ssize_t dash = slice_find(s, '-');
	const unsigned char *stored;
	size_t stored_len;
	uint32_t n;

	(void)scheme;
	if (dash <= 0 || str_to_u32(slice_from(s.ptr, (size_t)dash), &n) < 0 || n == 0) {
		*error_r = "Invalid PLAIN-TRUNC hash (want <length>-<password>)";
		return -1;
	}
	stored = raw + dash + 1;
	stored_len = raw_len - (size_t)dash - 1;
	if (stored_len == n && in->pw_len >= n)
		*match_r = util_mem_equal_ct(stored, n, in->pw, n);
	else
		*match_r = util_mem_equal_ct(stored, stored_len, in->pw, in->pw_len);
	return 0;
}

int password_plain_hash(enum password_scheme scheme, const char *pw, size_t pw_len,
			const struct password_params *params, char **hash_r,
			const char **error_r)
{
	(void)params;
	(void)error_r;
	*hash_r = password_stored_new(scheme, pw, pw_len);
	return 0;
}

/* {SHA*}, {LDAP-MD5}: base64(H(pw)); {PLAIN-MD5}: hex(H(pw));
   {SSHA*}, {SMD5}: base64(H(pw || salt) || salt); {CRAM-MD5}: hex(context). */
int password_digest_hash(enum password_scheme scheme, const char *pw, size_t pw_len,
			 const struct password_params *params, char **hash_r,
			 const char **error_r)
{
	unsigned char raw[EVP_MAX_MD_SIZE + PASSWORD_SSHA_SALT_BYTES];
	char body[PASSWORD_BASE64_LEN(sizeof(raw)) + 1];
	const EVP_MD *md = password_scheme_md(scheme);
	size_t len = 0, salt_len = 0, body_len;
	int ret = 0;

	(void)params;
	if (scheme == PASSWORD_SCHEME_CRAM_MD5) {
		len = PASSWORD_CRAM_MD5_BYTES;
		ret = password_cram_md5_context(pw, pw_len, raw);
	} else if (md == NULL) {
		ret = -1;
	} else if (password_scheme_raw_len(scheme) == 0) {
		/* salted: the salt goes after the digest */
		salt_len = PASSWORD_SSHA_SALT_BYTES;
		len = (size_t)EVP_MD_get_size(md);
		if (password_random(raw + len, salt_len, error_r) < 0)
			return -1;
		ret = password_digest2(md, pw, pw_len, raw + len, salt_len, raw, &len);
	} else {
		ret = password_digest2(md, pw, pw_len, NULL, 0, raw, &len);
	}
	if (ret < 0) {
		util_wipe(raw, sizeof(raw));
		*error_r = "Digest failed";
		return -1;
	}
	if (scheme == PASSWORD_SCHEME_PLAIN_MD5 || scheme == PASSWORD_SCHEME_CRAM_MD5) {
		password_hex_encode(raw, len, body);
		body_len = 2 * len;
	} else {
		body_len = password_base64_encode(raw, len + salt_len, body);
	}
	*hash_r = password_stored_new(scheme, body, body_len);
	util_wipe(raw, sizeof(raw));
	util_wipe(body, sizeof(body));
	return 0;
}

int password_pbkdf2_hash(enum password_scheme scheme, const char *pw, size_t pw_len,
			 const struct password_params *params, char **hash_r,
			 const char **error_r)
{
	static const char salt_chars[] =
		"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[PASSWORD_PBKDF2_SALT_CHARS], key[PASSWORD_PBKDF2_KEY_BYTES];
	char salt[PASSWORD_PBKDF2_SALT_CHARS + 1], hex[2 * sizeof(key) + 1];
	char body[3 + sizeof(salt) + 11 + sizeof(hex) + 1];
	int n;

	if (pw_len > INT_MAX) {
		*error_r = "Password too long for PBKDF2";
		return -1;
	}
	if (password_random(rnd, sizeof(rnd), error_r) < 0)
		return -1;
	/* 64 characters: 6 random bits each, no modulo bias */
	for (size_t i = 0; i < sizeof(rnd); i++)
		salt[i] = salt_chars[rnd[i] & 63];
	salt[sizeof(rnd)] = '\0';
	if (PKCS5_PBKDF2_HMAC(pw, (int)pw_len, (const unsigned char *)salt,
			      PASSWORD_PBKDF2_SALT_CHARS, (int)params->pbkdf2_rounds, EVP_sha1(),
			      sizeof(key), key) != 1) {
		util_wipe(key, sizeof(key));
		*error_r = "PBKDF2 failed";
		return -1;
	}
	password_hex_encode(key, sizeof(key), hex);
	util_wipe(key, sizeof(key));
	n = snprintf(body, sizeof(body), "$1$%s$%u$%s", salt, params->pbkdf2_rounds, hex);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		*error_r = "PBKDF2 hash too long";
		return -1;
	}
	*hash_r = password_stored_new(scheme, body, (size_t)n);
	return 0;
}

int password_scram_hash(enum password_scheme scheme, const char *pw, size_t pw_len,
			const struct password_params *params, char **hash_r,
			const char **error_r)
{
	const EVP_MD *md = password_scheme_md(scheme);
	size_t dlen = (size_t)EVP_MD_get_size(md);
	unsigned char salt[PASSWORD_SCRAM_SALT_BYTES];
	unsigned char stored_key[EVP_MAX_MD_SIZE], server_key[EVP_MAX_MD_SIZE];
	char salt64[PASSWORD_BASE64_LEN(sizeof(salt)) + 1];
	char stored64[PASSWORD_BASE64_LEN(EVP_MAX_MD_SIZE) + 1];
	char server64[PASSWORD_BASE64_LEN(EVP_MAX_MD_SIZE) + 1];
	char body[11 + sizeof(salt64) + sizeof(stored64) + sizeof(server64)];
	int n;

	if (password_random(salt, sizeof(salt), error_r) < 0)
		return -1;
	if (password_scram_keys(md, pw, pw_len, salt, sizeof(salt), params->scram_iterations,
				stored_key, server_key) < 0) {
		util_wipe(stored_key, sizeof(stored_key));
		util_wipe(server_key, sizeof(server_key));
		*error_r = "SCRAM key derivation failed";
		return -1;
	}
	password_base64_encode(salt, sizeof(salt), salt64);
	password_base64_encode(stored_key, dlen, stored64);
	password_base64_encode(server_key, dlen, server64);
	util_wipe(stored_key, sizeof(stored_key));
	util_wipe(server_key, sizeof(server_key));
	n = snprintf(body, sizeof(body), "%u,%s,%s,%s", params->scram_iterations, salt64, stored64,
		     server64);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		*error_r = "SCRAM hash too long";
		return -1;
	}
	*hash_r = password_stored_new(scheme, body, (size_t)n);
	return 0;
}
