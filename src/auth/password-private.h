#ifndef SORA_AUTH_PASSWORD_PRIVATE_H
#define SORA_AUTH_PASSWORD_PRIVATE_H

/* Shared between password.c (names, parsing of stored strings, encodings,
   dispatch), password-crypt.c (crypt(3) and Argon2) and password-digest.c
   (OpenSSL digests, PBKDF2, SCRAM, OTP, CRAM-MD5, plaintext). */

#include "auth/password.h"

#include <stdbool.h>
#include <stddef.h>

enum password_encoding {
	PASSWORD_ENC_NONE,
	PASSWORD_ENC_HEX,
	PASSWORD_ENC_BASE64,
};

/* The password being checked. pw need not be NUL-terminated. */
struct password_input {
	const char *pw;
	size_t pw_len;
	const char *username; /* never NULL here */
};

/* raw/raw_len: the stored data after the braces, decoded from its
   encoding; raw[raw_len] is always NUL. Same contract as password_verify()
   for the return value, *match_r and *error_r. */
typedef int password_verify_func(enum password_scheme scheme, const unsigned char *raw,
				 size_t raw_len, const struct password_input *in, bool *match_r,
				 const char **error_r);

/* Same contract as password_hash(); params are already defaulted and checked. */
typedef int password_hash_func(enum password_scheme scheme, const char *pw, size_t pw_len,
			       const struct password_params *params, char **hash_r,
			       const char **error_r);

/* password-crypt.c */
password_verify_func password_crypt_verify;
password_verify_func password_argon2_verify;
password_hash_func password_crypt_hash;
password_hash_func password_argon2_hash;
/* s is bcrypt ("$2a$", "$2b$", "$2y$") at min_cost or more, in a variant
   crypt_checksalt() calls current. */
bool password_bcrypt_is_current(const char *s, unsigned int min_cost);
/* One bcrypt computation at that cost; the result is thrown away. */
void password_bcrypt_burn(unsigned int cost);

/* password-digest.c */
password_verify_func password_digest_verify;  /* SHA*, PLAIN-MD5/MD4, LDAP-MD5 */
password_verify_func password_salted_verify;  /* SSHA*, SMD5 */
password_verify_func password_md5_verify;     /* {MD5}: MD5-CRYPT or PLAIN-MD5 */
password_verify_func password_digest_md5_verify;
password_verify_func password_cram_md5_verify;
password_verify_func password_pbkdf2_verify;
password_verify_func password_scram_verify;
password_verify_func password_otp_verify;
password_verify_func password_plain_verify;
password_verify_func password_plain_trunc_verify;
password_hash_func password_digest_hash;  /* SHA*, SSHA*, SMD5, *-MD5, CRAM-MD5 */
password_hash_func password_pbkdf2_hash;
password_hash_func password_scram_hash;
password_hash_func password_plain_hash;

/* password.c: encodings and helpers. */

/* Fixed decoded length of a scheme's data (digest schemes), else 0. */
size_t password_scheme_raw_len(enum password_scheme scheme);
/* The stored string "{NAME}" + body, malloc'ed with its exact size. */
char *password_stored_new(enum password_scheme scheme, const char *body, size_t body_len);
/* out must hold 2 * len + 1 bytes; lower-case, NUL-terminated. */
void password_hex_encode(const void *data, size_t len, char *out);
/* Hex digits of either case, even length. out holds len / 2 bytes. */
int password_hex_decode(const char *in, size_t len, unsigned char *out, size_t *out_len_r);
/* Standard alphabet with padding; out must hold
   PASSWORD_BASE64_LEN(len) + 1 bytes; NUL-terminated. Returns the length. */
#define PASSWORD_BASE64_LEN(n) (((n) + 2) / 3 * 4)
size_t password_base64_encode(const void *data, size_t len, char *out);
/* Standard alphabet; '=' padding optional but, when present, correct and
   only at the end; no whitespace; unused trailing bits zero. out holds
   len / 4 * 3 + 2 bytes. */
int password_base64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len_r);
/* RAND_bytes; -1 with *error_r when the generator fails. */
int password_random(void *buf, size_t len, const char **error_r);

#endif
