#ifndef SORA_AUTH_PASSWORD_H
#define SORA_AUTH_PASSWORD_H

/* Password schemes: create and verify stored password hashes.

   Stored strings use Dovecot's formats, so that a passdb exported from
   Dovecot (or written by `doveadm pw`) keeps working:
     "{SCHEME}data"        SCHEME matched case-insensitively
     "{SCHEME.HEX}data"    data hex-encoded instead of the scheme's default
     "{SCHEME.B64}data"    ... or base64 (".BASE64" too)
     "$2b$12$..."          a bare crypt(3) string ("$2a$", "$2y$", "$6$", "$5$",
                           "$1$", "$y$", ...), and a bare "$argon2id$..." string
   Anything else is an unknown scheme.

   password_hash() writes bcrypt as "{BLF-CRYPT}$2b$<cost>$...", every other
   scheme as "{NAME}data" with NAME from password_scheme_name().

   Pure: no I/O besides OpenSSL's RAND_bytes for salts, no logging. All
   functions are thread-safe (PLAIN-MD4 loads OpenSSL's legacy provider into
   a private library context once, under pthread_once).

   Passwords are byte strings. A password containing a NUL byte never
   matches any stored string (crypt(3) would silently cut it there); the
   scheme's work is still done, so it takes as long as a wrong password.
   crypt(3) schemes take at most CRYPT_MAX_PASSPHRASE_SIZE - 1 (511) bytes:
   password_hash() refuses longer ones and password_verify() never matches
   them. bcrypt itself only looks at the first 72 bytes. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum password_scheme {
	PASSWORD_SCHEME_BLF_CRYPT,    /* bcrypt; CLI name "bcrypt" too */
	PASSWORD_SCHEME_SHA512_CRYPT, /* $6$ */
	PASSWORD_SCHEME_SHA256_CRYPT, /* $5$ */
	PASSWORD_SCHEME_MD5_CRYPT,    /* $1$ */
	PASSWORD_SCHEME_DES_CRYPT,    /* 13-character DES crypt; verify only */
	PASSWORD_SCHEME_CRYPT,        /* any crypt(3) string; verify only */
	PASSWORD_SCHEME_MD5,          /* MD5-CRYPT, or PLAIN-MD5 without "$1$"; verify only */
	PASSWORD_SCHEME_ARGON2ID,
	PASSWORD_SCHEME_ARGON2I,
	PASSWORD_SCHEME_SSHA512,
	PASSWORD_SCHEME_SSHA256,
	PASSWORD_SCHEME_SSHA,
	PASSWORD_SCHEME_SMD5,
	PASSWORD_SCHEME_SHA512,
	PASSWORD_SCHEME_SHA256,
	PASSWORD_SCHEME_SHA1,         /* also "SHA" */
	PASSWORD_SCHEME_PLAIN_MD5,
	PASSWORD_SCHEME_LDAP_MD5,
	PASSWORD_SCHEME_PLAIN_MD4,    /* verify only */
	PASSWORD_SCHEME_DIGEST_MD5,   /* needs the user name; verify only */
	PASSWORD_SCHEME_CRAM_MD5,     /* also "HMAC-MD5" */
	PASSWORD_SCHEME_PBKDF2,
	PASSWORD_SCHEME_SCRAM_SHA1,
	PASSWORD_SCHEME_SCRAM_SHA256,
	PASSWORD_SCHEME_OTP,          /* verify only */
	PASSWORD_SCHEME_PLAIN,        /* also "CLEAR", "CLEARTEXT" */
	PASSWORD_SCHEME_PLAIN_TRUNC,  /* "<N>-<password>"; verify only */
	PASSWORD_SCHEME_COUNT
};

/* Defaults used for a zero field (an all-zero struct means "defaults"). */
#define PASSWORD_BCRYPT_COST_DEFAULT 12
#define PASSWORD_SHA_CRYPT_ROUNDS_DEFAULT 5000
#define PASSWORD_ARGON2ID_MEMORY_KIB_DEFAULT 65536 /* 64 MiB */
#define PASSWORD_ARGON2ID_TIME_DEFAULT 3
#define PASSWORD_ARGON2I_MEMORY_KIB_DEFAULT 32768 /* 32 MiB, as Dovecot */
#define PASSWORD_ARGON2I_TIME_DEFAULT 4
#define PASSWORD_ARGON2_PARALLELISM_DEFAULT 1
#define PASSWORD_PBKDF2_ROUNDS_DEFAULT 5000
#define PASSWORD_SCRAM_ITERATIONS_DEFAULT 4096

/* Largest Argon2 memory cost accepted for creating or verifying (1 GiB):
   a stored string asking for more is refused rather than allocated. */
#define PASSWORD_ARGON2_MEMORY_KIB_MAX (1024 * 1024)

/* Cost parameters for creating hashes. Zero fields take the defaults above;
   NULL params means all defaults. Ranges (checked by password_params_check):
   bcrypt_cost 4..31, sha_crypt_rounds 1000..999999999, argon2_memory_kib
   8 * parallelism..PASSWORD_ARGON2_MEMORY_KIB_MAX, argon2_time >= 1,
   argon2_parallelism 1..64, pbkdf2_rounds and scram_iterations 1..INT_MAX. */
struct password_params {
	uint32_t bcrypt_cost;
	uint32_t sha_crypt_rounds;   /* SHA512-CRYPT and SHA256-CRYPT */
	uint32_t argon2_memory_kib;  /* default depends on ARGON2ID / ARGON2I */
	uint32_t argon2_time;        /* default depends on ARGON2ID / ARGON2I */
	uint32_t argon2_parallelism;
	uint32_t pbkdf2_rounds;
	uint32_t scram_iterations;
};

/* Scheme by name, ASCII case-insensitive: every Dovecot name listed above
   ("BLF-CRYPT", "SSHA512", "SHA", "CLEARTEXT", ...) plus "bcrypt".
   0 and *scheme_r set, or -1 for an unknown name. */
int password_scheme_parse(const char *name, enum password_scheme *scheme_r);

/* Canonical upper-case name, as written between the braces. */
const char *password_scheme_name(enum password_scheme scheme);

/* Whether password_hash() can create this scheme. Not creatable: DES-CRYPT,
   CRYPT, MD5, PLAIN-MD4, DIGEST-MD5, OTP, PLAIN-TRUNC. */
bool password_scheme_can_create(enum password_scheme scheme);

/* 0, or -1 with *error_r (static) naming the first field out of range. */
int password_params_check(const struct password_params *params, const char **error_r);

/* Hash a NUL-terminated password with a fresh random salt. On 0, *hash_r
   is a malloc'ed NUL-terminated stored string the caller free()s. -1 with
   *error_r (static): scheme not creatable, params out of range, password too
   long for crypt(3), or a library failure (no randomness, out of memory). */
int password_hash(enum password_scheme scheme, const char *password,
		  const struct password_params *params, char **hash_r, const char **error_r);

/* Check password/password_len (need not be NUL-terminated) against a
   stored string. username is used only by DIGEST-MD5 (split at its last
   '@' into user and realm; NULL counts as ""). Returns 0 with *match_r set,
   or -1 with *error_r (static) and *match_r = false when the stored string
   cannot be used: unknown scheme or encoding, malformed data, Argon2 memory
   above the limit, or a library failure. Every comparison of a computed
   value with the stored one is constant-time. May take long: bcrypt at cost
   12 is ~0.2 s, Argon2ID at the defaults ~0.15 s and 64 MiB. */
int password_verify(const char *stored, const char *password, size_t password_len,
		    const char *username, bool *match_r, const char **error_r);

/* After a successful verify: should the password be hashed again with
   bcrypt at params->bcrypt_cost? True for every stored string that is not
   bcrypt (including unparsable ones), for a bcrypt cost below the
   configured one, and for bcrypt variants libxcrypt calls legacy ($2x$). */
bool password_needs_rehash(const char *stored, const struct password_params *params);

/* Burn the time of a bcrypt verify at params->bcrypt_cost, for an unknown
   user, so that it takes as long as a known user with a wrong password
   (stored as bcrypt at the configured cost). */
void password_verify_dummy(const struct password_params *params);

#endif
