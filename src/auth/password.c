/* Password schemes: names, parsing of stored strings, encodings, dispatch.

   A stored string is split into scheme + encoding + body here, the body is
   decoded (hex, base64 or as is) into "raw" bytes, and the scheme's verify
   function in password-crypt.c or password-digest.c compares. Decoded
   buffers may hold a plaintext password ({PLAIN.B64}) and are wiped.

   Threads: no mutable state here; see password-digest.c for the one-time
   MD4 provider load. */

#include "auth/password-private.h"

#include "lib/str.h"
#include "lib/util.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* Longest "NAME.ENCODING" between the braces that can be valid. */
#define PASSWORD_SCHEME_NAME_MAX 32

struct password_scheme_def {
	const char *name;
	enum password_encoding encoding; /* when no ".HEX"/".B64" suffix */
	size_t raw_len;                  /* fixed decoded length, 0 = any */
	password_verify_func *verify;
	password_hash_func *hash;        /* NULL: verify only */
};

static const struct password_scheme_def password_schemes[PASSWORD_SCHEME_COUNT] = {
	[PASSWORD_SCHEME_BLF_CRYPT] = { "BLF-CRYPT", PASSWORD_ENC_NONE, 0,
					password_crypt_verify, password_crypt_hash },
	[PASSWORD_SCHEME_SHA512_CRYPT] = { "SHA512-CRYPT", PASSWORD_ENC_NONE, 0,
					   password_crypt_verify, password_crypt_hash },
	[PASSWORD_SCHEME_SHA256_CRYPT] = { "SHA256-CRYPT", PASSWORD_ENC_NONE, 0,
					   password_crypt_verify, password_crypt_hash },
	[PASSWORD_SCHEME_MD5_CRYPT] = { "MD5-CRYPT", PASSWORD_ENC_NONE, 0,
					password_crypt_verify, password_crypt_hash },
	[PASSWORD_SCHEME_DES_CRYPT] = { "DES-CRYPT", PASSWORD_ENC_NONE, 0,
					password_crypt_verify, NULL },
	[PASSWORD_SCHEME_CRYPT] = { "CRYPT", PASSWORD_ENC_NONE, 0, password_crypt_verify, NULL },
	[PASSWORD_SCHEME_MD5] = { "MD5", PASSWORD_ENC_NONE, 0, password_md5_verify, NULL },
	[PASSWORD_SCHEME_ARGON2ID] = { "ARGON2ID", PASSWORD_ENC_NONE, 0,
				       password_argon2_verify, password_argon2_hash },
	[PASSWORD_SCHEME_ARGON2I] = { "ARGON2I", PASSWORD_ENC_NONE, 0,
				      password_argon2_verify, password_argon2_hash },
	[PASSWORD_SCHEME_SSHA512] = { "SSHA512", PASSWORD_ENC_BASE64, 0,
				      password_salted_verify, password_digest_hash },
	[PASSWORD_SCHEME_SSHA256] = { "SSHA256", PASSWORD_ENC_BASE64, 0,
				      password_salted_verify, password_digest_hash },
	[PASSWORD_SCHEME_SSHA] = { "SSHA", PASSWORD_ENC_BASE64, 0,
				   password_salted_verify, password_digest_hash },
	[PASSWORD_SCHEME_SMD5] = { "SMD5", PASSWORD_ENC_BASE64, 0,
				   password_salted_verify, password_digest_hash },
	[PASSWORD_SCHEME_SHA512] = { "SHA512", PASSWORD_ENC_BASE64, 64,
				     password_digest_verify, password_digest_hash },
	[PASSWORD_SCHEME_SHA256] = { "SHA256", PASSWORD_ENC_BASE64, 32,
				     password_digest_verify, password_digest_hash },
	[PASSWORD_SCHEME_SHA1] = { "SHA1", PASSWORD_ENC_BASE64, 20,
				   password_digest_verify, password_digest_hash },
	[PASSWORD_SCHEME_PLAIN_MD5] = { "PLAIN-MD5", PASSWORD_ENC_HEX, 16,
					password_digest_verify, password_digest_hash },
	[PASSWORD_SCHEME_LDAP_MD5] = { "LDAP-MD5", PASSWORD_ENC_BASE64, 16,
				       password_digest_verify, password_digest_hash },
	[PASSWORD_SCHEME_PLAIN_MD4] = { "PLAIN-MD4", PASSWORD_ENC_HEX, 16,
					password_digest_verify, NULL },
	[PASSWORD_SCHEME_DIGEST_MD5] = { "DIGEST-MD5", PASSWORD_ENC_HEX, 16,
					 password_digest_md5_verify, NULL },
	[PASSWORD_SCHEME_CRAM_MD5] = { "CRAM-MD5", PASSWORD_ENC_HEX, 32,
				       password_cram_md5_verify, password_digest_hash },
	[PASSWORD_SCHEME_PBKDF2] = { "PBKDF2", PASSWORD_ENC_NONE, 0,
				     password_pbkdf2_verify, password_pbkdf2_hash },
	[PASSWORD_SCHEME_SCRAM_SHA1] = { "SCRAM-SHA-1", PASSWORD_ENC_NONE, 0,
					 password_scram_verify, password_scram_hash },
	[PASSWORD_SCHEME_SCRAM_SHA256] = { "SCRAM-SHA-256", PASSWORD_ENC_NONE, 0,
					   password_scram_verify, password_scram_hash },
	[PASSWORD_SCHEME_OTP] = { "OTP", PASSWORD_ENC_NONE, 0, password_otp_verify, NULL },
	[PASSWORD_SCHEME_PLAIN] = { "PLAIN", PASSWORD_ENC_NONE, 0,
				    password_plain_verify, password_plain_hash },
	[PASSWORD_SCHEME_PLAIN_TRUNC] = { "PLAIN-TRUNC", PASSWORD_ENC_NONE, 0,
					  password_plain_trunc_verify, NULL },
};

/* Other Dovecot names for the same schemes, valid in stored strings. */
static const struct {
	const char *name;
	enum password_scheme scheme;
} password_scheme_aliases[] = {
	{ "SHA", PASSWORD_SCHEME_SHA1 },
	{ "CLEAR", PASSWORD_SCHEME_PLAIN },
	{ "CLEARTEXT", PASSWORD_SCHEME_PLAIN },
	{ "HMAC-MD5", PASSWORD_SCHEME_CRAM_MD5 },
};

/* A stored string taken apart (no decoding yet). */
struct password_stored {
	enum password_scheme scheme;
	enum password_encoding encoding;
	bool has_suffix; /* ".HEX"/".B64" given: no guessing */
	struct slice body;
};

static int password_scheme_lookup(struct slice name, enum password_scheme *scheme_r)
{
	for (size_t i = 0; i < ARRAY_SIZE(password_schemes); i++) {
		if (slice_eq_ci(name, password_schemes[i].name)) {
			*scheme_r = (enum password_scheme)i;
			return 0;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(password_scheme_aliases); i++) {
		if (slice_eq_ci(name, password_scheme_aliases[i].name)) {
			*scheme_r = password_scheme_aliases[i].scheme;
			return 0;
		}
	}
	return -1;
}

int password_scheme_parse(const char *name, enum password_scheme *scheme_r)
{
	struct slice s = slice_cstr(name);

	/* the CLI name of the default scheme; not valid between braces */
	if (slice_eq_ci(s, "bcrypt")) {
		*scheme_r = PASSWORD_SCHEME_BLF_CRYPT;
		return 0;
	}
	return password_scheme_lookup(s, scheme_r);
}

const char *password_scheme_name(enum password_scheme scheme)
{
	if ((unsigned int)scheme >= PASSWORD_SCHEME_COUNT)
		return "UNKNOWN";
	return password_schemes[scheme].name;
}

bool password_scheme_can_create(enum password_scheme scheme)
{
	return (unsigned int)scheme < PASSWORD_SCHEME_COUNT &&
	       password_schemes[scheme].hash != NULL;
}

size_t password_scheme_raw_len(enum password_scheme scheme)
{
	return password_schemes[scheme].raw_len;
}

/* "{NAME}body", "{NAME.ENC}body", or a bare "$..." crypt/Argon2 string. */
static int password_stored_parse(const char *stored, struct password_stored *st_r,
				 const char **error_r)
{
	struct slice all = slice_cstr(stored), name, enc;
	ssize_t brace, dot;

	if (all.len == 0) {
		*error_r = "Empty password hash";
		return -1;
	}
	if (stored[0] == '$') {
		/* bare modular-crypt string: bcrypt as Sora writes it,
		   anything crypt(3) knows, or an Argon2 PHC string */
		bool is_argon2 = strncmp(stored, "$argon2", 7) == 0;

		*st_r = (struct password_stored){
			.scheme = is_argon2 ? PASSWORD_SCHEME_ARGON2ID : PASSWORD_SCHEME_CRYPT,
			.encoding = PASSWORD_ENC_NONE,
			.body = all,
		};
		return 0;
	}
	brace = slice_find(all, '}');
	if (stored[0] != '{' || brace < 0 || brace > PASSWORD_SCHEME_NAME_MAX) {
		*error_r = "Unknown password scheme";
		return -1;
	}
	name = slice_from(stored + 1, (size_t)brace - 1);
	enc = slice_from(NULL, 0);
	dot = slice_find(name, '.');
	if (dot >= 0) {
		enc = slice_from(name.ptr + dot + 1, name.len - (size_t)dot - 1);
		name.len = (size_t)dot;
	}
	if (password_scheme_lookup(name, &st_r->scheme) < 0) {
		*error_r = "Unknown password scheme";
		return -1;
	}
	st_r->has_suffix = dot >= 0;
	if (dot < 0)
		st_r->encoding = password_schemes[st_r->scheme].encoding;
	else if (slice_eq_ci(enc, "HEX"))
		st_r->encoding = PASSWORD_ENC_HEX;
	else if (slice_eq_ci(enc, "B64") || slice_eq_ci(enc, "BASE64"))
		st_r->encoding = PASSWORD_ENC_BASE64;
	else {
		*error_r = "Unknown password encoding";
		return -1;
	}
	st_r->body = slice_from(stored + brace + 1, all.len - (size_t)brace - 1);
	return 0;
}

/* The raw bytes of the body. With PASSWORD_ENC_NONE they point into the
   stored string (NUL-terminated already); otherwise into *buf_r, which the
   caller wipes (*buf_size_r bytes) and frees. */
static int password_stored_decode(const struct password_stored *st, unsigned char **buf_r,
				  size_t *buf_size_r, const unsigned char **raw_r,
				  size_t *raw_len_r, const char **error_r)
{
	size_t want = password_scheme_raw_len(st->scheme);
	enum password_encoding encoding = st->encoding;
	unsigned char *buf;
	size_t len;
	int ret;

	*buf_r = NULL;
	*buf_size_r = 0;
	if (encoding == PASSWORD_ENC_NONE) {
		*raw_r = (const unsigned char *)st->body.ptr;
		*raw_len_r = st->body.len;
		return 0;
	}
	/* Dovecot: without a suffix, a digest of N bytes written as 2N
	   characters is hex, anything else base64 (the lengths never clash) */
	if (want != 0 && !st->has_suffix)
		encoding = st->body.len == want * 2 ? PASSWORD_ENC_HEX : PASSWORD_ENC_BASE64;

	buf = xmalloc(st->body.len + 1);
	if (encoding == PASSWORD_ENC_HEX)
		ret = password_hex_decode(st->body.ptr, st->body.len, buf, &len);
	else
		ret = password_base64_decode(st->body.ptr, st->body.len, buf, &len);
	buf[ret < 0 ? 0 : len] = '\0';
	*buf_r = buf;
	*buf_size_r = st->body.len + 1;
	if (ret < 0) {
		*error_r = encoding == PASSWORD_ENC_HEX ? "Invalid hex in password hash" :
							 "Invalid base64 in password hash";
		return -1;
	}
	if (want != 0 && len != want) {
		*error_r = "Password hash has the wrong length";
		return -1;
	}
	*raw_r = buf;
	*raw_len_r = len;
	return 0;
}

static void password_buf_free(unsigned char **buf, size_t size)
{
	if (*buf == NULL)
		return;
	util_wipe(*buf, size);
	free(*buf);
	*buf = NULL;
}

int password_verify(const char *stored, const char *password, size_t password_len,
		    const char *username, bool *match_r, const char **error_r)
{
	struct password_input in = {
		.pw = password == NULL ? "" : password,
		.pw_len = password == NULL ? 0 : password_len,
		.username = username == NULL ? "" : username,
	};
	struct password_stored st;
	const unsigned char *raw;
	unsigned char *buf;
	size_t buf_size, raw_len;
	bool match = false;
	int ret;

	*match_r = false;
	if (stored == NULL) {
		*error_r = "Empty password hash";
		return -1;
	}
	if (password_stored_parse(stored, &st, error_r) < 0)
		return -1;
	ret = password_stored_decode(&st, &buf, &buf_size, &raw, &raw_len, error_r);
	if (ret == 0)
		ret = password_schemes[st.scheme].verify(st.scheme, raw, raw_len, &in, &match,
							 error_r);
	password_buf_free(&buf, buf_size);
	if (ret < 0)
		return -1;
	/* the work is done either way: a NUL costs as much as a wrong password */
	*match_r = match && (in.pw_len == 0 || memchr(in.pw, '\0', in.pw_len) == NULL);
	return 0;
}

/* params with every zero field replaced by its default. */
static struct password_params password_params_fill(const struct password_params *params,
						   enum password_scheme scheme)
{
	bool is_argon2i = scheme == PASSWORD_SCHEME_ARGON2I;
	struct password_params p = params == NULL ? (struct password_params){ 0 } : *params;

	if (p.bcrypt_cost == 0)
		p.bcrypt_cost = PASSWORD_BCRYPT_COST_DEFAULT;
	if (p.sha_crypt_rounds == 0)
		p.sha_crypt_rounds = PASSWORD_SHA_CRYPT_ROUNDS_DEFAULT;
	if (p.argon2_memory_kib == 0)
		p.argon2_memory_kib = is_argon2i ? PASSWORD_ARGON2I_MEMORY_KIB_DEFAULT :
						   PASSWORD_ARGON2ID_MEMORY_KIB_DEFAULT;
	if (p.argon2_time == 0)
		p.argon2_time = is_argon2i ? PASSWORD_ARGON2I_TIME_DEFAULT :
					     PASSWORD_ARGON2ID_TIME_DEFAULT;
	if (p.argon2_parallelism == 0)
		p.argon2_parallelism = PASSWORD_ARGON2_PARALLELISM_DEFAULT;
	if (p.pbkdf2_rounds == 0)
		p.pbkdf2_rounds = PASSWORD_PBKDF2_ROUNDS_DEFAULT;
	if (p.scram_iterations == 0)
		p.scram_iterations = PASSWORD_SCRAM_ITERATIONS_DEFAULT;
	return p;
}

static int password_params_check_filled(const struct password_params *p, const char **error_r)
{
	if (p->bcrypt_cost < 4 || p->bcrypt_cost > 31)
		*error_r = "bcrypt cost must be 4..31";
	else if (p->sha_crypt_rounds < 1000 || p->sha_crypt_rounds > 999999999)
		*error_r = "SHA-crypt rounds must be 1000..999999999";
	else if (p->argon2_parallelism > 64)
		*error_r = "Argon2 parallelism must be 1..64";
	else if (p->argon2_memory_kib < 8 * p->argon2_parallelism ||
		 p->argon2_memory_kib > PASSWORD_ARGON2_MEMORY_KIB_MAX)
		*error_r = "Argon2 memory must be 8 KiB per lane..1 GiB";
	else if (p->pbkdf2_rounds > INT32_MAX)
		*error_r = "PBKDF2 rounds out of range";
	else if (p->scram_iterations > INT32_MAX)
		*error_r = "SCRAM iterations out of range";
	else
		return 0;
	return -1;
}

int password_params_check(const struct password_params *params, const char **error_r)
{
	struct password_params p = password_params_fill(params, PASSWORD_SCHEME_ARGON2ID);

	return password_params_check_filled(&p, error_r);
}

int password_hash(enum password_scheme scheme, const char *password,
		  const struct password_params *params, char **hash_r, const char **error_r)
{
	struct password_params p;

	if (!password_scheme_can_create(scheme)) {
		*error_r = "Password scheme cannot be used for new passwords";
		return -1;
	}
	p = password_params_fill(params, scheme);
	if (password_params_check_filled(&p, error_r) < 0)
		return -1;
	return password_schemes[scheme].hash(scheme, password, strlen(password), &p, hash_r,
					     error_r);
}

bool password_needs_rehash(const char *stored, const struct password_params *params)
{
	struct password_params p = password_params_fill(params, PASSWORD_SCHEME_BLF_CRYPT);
	struct password_stored st;
	const unsigned char *raw;
	unsigned char *buf;
	size_t buf_size, raw_len;
	const char *error;
	bool current;

	if (stored == NULL || password_stored_parse(stored, &st, &error) < 0)
		return true;
	if (st.scheme != PASSWORD_SCHEME_BLF_CRYPT && st.scheme != PASSWORD_SCHEME_CRYPT)
		return true;
	if (password_stored_decode(&st, &buf, &buf_size, &raw, &raw_len, &error) < 0) {
		password_buf_free(&buf, buf_size);
		return true;
	}
	current = strlen((const char *)raw) == raw_len &&
		  password_bcrypt_is_current((const char *)raw, p.bcrypt_cost);
	password_buf_free(&buf, buf_size);
	return !current;
}

void password_verify_dummy(const struct password_params *params)
{
	struct password_params p = password_params_fill(params, PASSWORD_SCHEME_BLF_CRYPT);

	password_bcrypt_burn(p.bcrypt_cost);
}

char *password_stored_new(enum password_scheme scheme, const char *body, size_t body_len)
{
	const char *name = password_schemes[scheme].name;
	size_t name_len = strlen(name);
	char *s = xmalloc(name_len + body_len + 3);

	s[0] = '{';
	memcpy(s + 1, name, name_len);
	s[name_len + 1] = '}';
	memcpy(s + name_len + 2, body, body_len);
	s[name_len + 2 + body_len] = '\0';
	return s;
}

int password_random(void *buf, size_t len, const char **error_r)
{
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
		*error_r = "No random bytes for the salt";
		return -1;
	}
	return 0;
}

void password_hex_encode(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int password_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int password_hex_decode(const char *in, size_t len, unsigned char *out, size_t *out_len_r)
{
	if (len % 2 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi = password_hex_value(in[i]), lo = password_hex_value(in[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*out_len_r = len / 2;
	return 0;
}

static const char password_base64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t password_base64_encode(const void *data, size_t len, char *out)
{
	const unsigned char *p = data;
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = password_base64_chars[v >> 18];
		out[o++] = password_base64_chars[(v >> 12) & 63];
		out[o++] = i + 1 < len ? password_base64_chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? password_base64_chars[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int password_base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Written out rather than EVP_DecodeBlock(), which needs its input in
   whole quads and counts '=' padding as decoded zero bytes. Strict: one
   encoding per byte string, so "...BfQ=" and "...BfR=" are not both valid. */
int password_base64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len_r)
{
	size_t pad = 0, n, o = 0;
	uint32_t acc = 0;
	unsigned int bits = 0;

	if (len > 0 && in[len - 1] == '=')
		pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
	if (pad > 0 && len % 4 != 0)
		return -1;
	n = len - pad;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = password_base64_value(in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* canonical only: the bits left over must be zero */
	if (acc != 0)
		return -1;
	*out_len_r = o;
	return 0;
}
