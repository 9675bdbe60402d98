#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/password.h"
#include "lib/util.h"

#define USER "user@example.com"

/* Appendix A of the dependency evaluation: Dovecot 2.3.19 `doveadm pw`,
   libxcrypt, libsodium and libargon2 output for the password "secret"
   (user "user@example.com"; only DIGEST-MD5 uses it). */
static const struct {
	const char *name;
	const char *stored;
} vectors[] = {
	{ "SHA1",
	  "{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ=" },
	{ "SSHA512",
	  "{SSHA512}aGuMrEMGi6onmwqe1nusjHfTEWDBWJ6mi7jgmo/NAQWVisJzsnpZKYeQZCTTT8UyTU6"
	  "chXA6SsnsAloMvYN+iEMqQjA=" },
	{ "SCRAM-SHA-256",
	  "{SCRAM-SHA-256}4096,n6DBVP8uRsoiUYT9e+cQaA==,Vi5gRdsa4R9C+ri2Dgu87CkmbGkM20K"
	  "eTy0g+gzljpg=,T1qgaNrGU7Z6A4l9NfJwiOrmFf9p1S0/0Ot9bWrnl9s=" },
	{ "BLF-CRYPT",
	  "{BLF-CRYPT}$2y$05$XDVMlpnUHQ5Njg94zKknAuJh07lognODeyxFOzRxQmAK3Wapc90H2" },
	{ "PLAIN",
	  "{PLAIN}secret" },
	{ "HMAC-MD5",
	  "{HMAC-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56" },
	{ "OTP",
	  "{OTP}sha1 1024 d06658623dfce055 88e1d8182a66c65c" },
	{ "SHA512",
	  "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192"
	  "CF5bDufKRpayrW/isg==" },
	{ "SHA",
	  "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=" },
	{ "DES-CRYPT",
	  "{DES-CRYPT}MUFSrs82sgdZg" },
	{ "CRYPT",
	  "{CRYPT}$2y$05$dHxFFGxmtWNMDPQxHkbYMugZUhb1UiMxIcXdokjCRAAAHXZGAWwdm" },
	{ "SSHA",
	  "{SSHA}whRp6GjhZVDV2woti//3HotL8W2QI2Tt" },
	{ "MD5-CRYPT",
	  "{MD5-CRYPT}$1$QZjsLnZ3$P5I5KJkpBMVAybruW5MQS." },
	{ "PLAIN-MD4",
	  "{PLAIN-MD4}67d3dafef63ff00603aeef3769cfbf0d" },
	{ "PLAIN-MD5",
	  "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69" },
	{ "SCRAM-SHA-1",
	  "{SCRAM-SHA-1}4096,BPi2d8UfnNt3CNx2VOvZVA==,Q6HDpSGC6gFxToOVhIKubhytNvE=,Rfls"
	  "Dr9ZXqhhvGVzODIHVgn7m3M=" },
	{ "SHA512-CRYPT",
	  "{SHA512-CRYPT}$6$MZ6PcBldRVakQda4$lvf3dXDh0jyl6ZkDt0AEaAPiC513EOJ0FPW567gPQe"
	  "XFhB6tuWJemsacwZGBNd9Eq5hbmlC8z5FuSWqQpJgH10" },
	{ "CLEAR",
	  "{CLEAR}secret" },
	{ "CLEARTEXT",
	  "{CLEARTEXT}secret" },
	{ "ARGON2I",
	  "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$LrdDTlOTk3VfwuXtTD532g$LG3auvfikXTC9+"
	  "c86Ew/uK/RVECtWsWPmgFDeahGHIY" },
	{ "ARGON2ID",
	  "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$4bg/BFrk22IIJcrOEB0M5Q$ZYehbeFPj6po"
	  "YhUsSsEuj8QYUruotg+w15ViR8Afi60" },
	{ "SSHA256",
	  "{SSHA256}OV97XSbLeLj8YBsMLRyKUC2pJ+WqIG9RmXE8nFL9LngI/+14" },
	{ "MD5",
	  "{MD5}$1$j64i0TMJ$9KWdRXlCbxnFZF5OlX01m/" },
	{ "PBKDF2",
	  "{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$5000$651e22ee1b2d9d8062820280ba3118faef00d61c" },
	{ "SHA256",
	  "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" },
	{ "CRAM-MD5",
	  "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56" },
	{ "PLAIN-TRUNC",
	  "{PLAIN-TRUNC}6-secret" },
	{ "PLAIN-TRUNC(truncated)",
	  "{PLAIN-TRUNC}3-sec" },
	{ "SHA256-CRYPT",
	  "{SHA256-CRYPT}$5$7fmNfxKfAcVHnhXX$zA3WzZvVS159BELr6.vbI0IvNKdmpVNInFDs13z87R"
	  "B" },
	{ "SMD5",
	  "{SMD5}NYRf78DllFKC3Eboy695/zafknM=" },
	{ "DIGEST-MD5",
	  "{DIGEST-MD5}30969131580e626606ce70ceaab77719" },
	{ "LDAP-MD5",
	  "{LDAP-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==" },
	{ "SHA512.HEX",
	  "{SHA512.HEX}bd2b1aaf7ef4f09be9f52ce2d8d599674d81aa9d6a4421696dc4d93dd0619d68"
	  "2ce56b4d64a9ef097761ced99e0f67265b5f76085e5b0ee7ca4696b2ad6fe2b2" },
	{ "SSHA256.HEX",
	  "{SSHA256.HEX}f159d641e38115c68e62cd44c64ea39302eca78cb6a34e6153278571e6bdee5"
	  "ae4588b6a" },
	{ "SSHA512.HEX",
	  "{SSHA512.HEX}16512689cb67196e13b93572f68b02f573e885e1643a1a9e6b64068b7411bac"
	  "c5fa7447ab94ed9c9a794946f1dc57b5348aa91cc6a5076375b611ca2fa5184971e8e2915" },
	{ "SHA256.B64",
	  "{SHA256.B64}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" },
	{ "BLF-CRYPT(-r 10)",
	  "{BLF-CRYPT}$2y$10$FtOGQT0zagDcVR85mKV7ceIpcNEy/1dR3i4NSX2MJimTK6xVmKtB6" },
	{ "SHA512-CRYPT(-r 10000)",
	  "{SHA512-CRYPT}$6$rounds=10000$7ugLhEqszxm2pawZ$m20hmNPNQpezuKT4AuGeHtafXZW8t"
	  "4w37RsuMvyrIEI9fGd3dMZMbCpzKBm1aFLE7vk/gq8JHcWlCwxnKHWZ00" },
	{ "PBKDF2(-r 10000)",
	  "{PBKDF2}$1$/8l3O3mrqNpKvcQU$10000$5db4c71c5990c6a76d0c25d09952845027bd5ec5" },
	{ "XCRYPT $2b$ cost=12",
	  "{CRYPT}$2b$12$hR6GKlgWh9v5vSRYtlHa8eimCnOQwHbOMmE4HwYs/OoYWK0RqwNnC" },
	{ "XCRYPT $2b$ cost=10",
	  "{CRYPT}$2b$10$DBkSCvYw.Rpeo1giFvhcBuv4H8MCzKIj/l1BZjwWr9AJH1889xJFS" },
	{ "XCRYPT $2y$ cost=10",
	  "{CRYPT}$2y$10$mgef6b.ARLfLr3yBCUxyJ.Zx8eT/o/wgwdolCzzk1bL5R5wrvoWl6" },
	{ "XCRYPT $6$ cost=0",
	  "{CRYPT}$6$oFV5oh4ps8brMqcb$MIdnOgPHesaHuBP3TGgxzx9nCBv44eoKIDtJWisgLA0ybFUZj"
	  "y2Q2co4PPw0EpFPdU5gUYpqQNe1OMtOi0FwK." },
	{ "XCRYPT $6$ cost=100000",
	  "{CRYPT}$6$rounds=100000$YIBp4QJqATesb2pQ$7/gYi0E1NU/BUvWD2TxOz/FBV.dv/dClbmd"
	  "WRs0i55AzHGJ9zeB6yelyzt2qozG50kM5h2PJAY9ovVWjp1lrL0" },
	{ "XCRYPT $5$ cost=0",
	  "{CRYPT}$5$lv5AchJ5Ak5hszQp$50.BE/io0hEEDjeF6wKoWccYcd/QXxQpxxtyda0WfE0" },
	{ "XCRYPT $1$ cost=0",
	  "{CRYPT}$1$c.fzV4Cb$H2Ufi1VH8d.ll87iGpT.X1" },
	{ "XCRYPT $y$ cost=0",
	  "{CRYPT}$y$j9T$TsVoSBBgUXQG9lG9TcnhK0$OSIr2GIi94MICKLG53MTAjAHylp.KAOoj9dRtUt"
	  "FKfD" },
	{ "XCRYPT $y$ cost=7",
	  "{CRYPT}$y$jBT$ycpq8qA9bIdNYlF5fBCkU/$D4EhN8NrvM8jUwFTbaKxfPzS3tOxFcve7ZGSXv3"
	  "KCn9" },
	{ "XCRYPT $gy$ cost=0",
	  "{CRYPT}$gy$j9T$/hk7Ls2KEKuLo5mZ3aF6I1$1A.6/Io1i3Po57hPERHiL8.tH84QwSvzv6tzYq"
	  "TiQK9" },
	{ "XCRYPT $7$ cost=0",
	  "{CRYPT}$7$CU..../....WaMrM0z6Nw25ySFAw6ymr.$2R4vdRctgSEJdT4ytfZ9Egkud3OUa.WK"
	  "thrOWe5V.S9" },
	{ "LIBSODIUM crypto_pwhash_str (argon2id interactive)",
	  "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$WFnQbkn8hCXHKF3fW8uQaw$fVI3JBR+JaV1"
	  "j22pXRDulam9Kbza83aCPpOTSdenw5U" },
	{ "LIBARGON2 argon2id_hash_encoded(t=3,m=65536,p=1)",
	  "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$Zm8G/iA18XpCW9MM86OygA$y2XwWeIOaqT1"
	  "NcegKZyou5az/K9jc/sfCzbfnPbfTo4" },
	{ "LIBARGON2 argon2i_hash_encoded(t=4,m=32768,p=1)",
	  "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$Zm8G/iA18XpCW9MM86OygA$I0Z7nhQvYb8lut"
	  "dqiNYZVbCTFBhVpi+2pfhZDao1168" },
};

static bool verify_ok(const char *stored, const char *pw, size_t len, const char *user)
{
	const char *error = NULL;
	bool match = true;

	assert_int_equal(password_verify(stored, pw, len, user, &match, &error), 0);
	return match;
}

static bool verify_str(const char *stored, const char *pw)
{
	return verify_ok(stored, pw, strlen(pw), USER);
}

/* Cheap parameters for round trips; the defaults get their own tests. */
static const struct password_params cheap = {
	.bcrypt_cost = 4,
	.sha_crypt_rounds = 1000,
	.argon2_memory_kib = 256,
	.argon2_time = 1,
	.pbkdf2_rounds = 100,
	.scram_iterations = 100,
};

static char *hash_ok(enum password_scheme s, const char *pw, const struct password_params *p)
{
	const char *error = NULL;
	char *hash = NULL;

	if (password_hash(s, pw, p, &hash, &error) != 0)
		fail_msg("%s: %s", password_scheme_name(s), error);
	assert_non_null(hash);
	return hash;
}

static void test_vectors_count(void **state)
{
	(void)state;
	assert_int_equal(ARRAY_SIZE(vectors), 53);
}

static void test_vectors_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		const char *error = NULL;
		bool match = false;

		if (password_verify(vectors[i].stored, "secret", 6, USER, &match, &error) != 0)
			fail_msg("%s: error %s", vectors[i].name, error);
		if (!match)
			fail_msg("%s: \"secret\" does not match", vectors[i].name);
	}
}

static void test_vectors_wrong_password(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		if (verify_str(vectors[i].stored, "Secret"))
			fail_msg("%s: \"Secret\" matches", vectors[i].name);
		if (verify_str(vectors[i].stored, ""))
			fail_msg("%s: \"\" matches", vectors[i].name);
	}
}

static void test_digest_md5_username(void **state)
{
	const char *stored = "{DIGEST-MD5}30969131580e626606ce70ceaab77719";
	unsigned char digest[16];
	char hex[33], buf[64];
	const char *in = "user@example.com:realm:secret";

	(void)state;
	assert_true(verify_ok(stored, "secret", 6, "user@example.com"));
	assert_false(verify_ok(stored, "secret", 6, "other@example.com"));
	assert_false(verify_ok(stored, "secret", 6, "user@example.org"));
	assert_false(verify_ok(stored, "secret", 6, NULL));
	assert_false(verify_ok(stored, "secret", 6, "user"));

	/* split at the last '@': user "user@example.com", realm "realm" */
	assert_int_equal(EVP_Digest(in, strlen(in), digest, NULL, EVP_md5(), NULL), 1);
	for (size_t i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	snprintf(buf, sizeof(buf), "{DIGEST-MD5}%s", hex);
	assert_true(verify_ok(buf, "secret", 6, "user@example.com@realm"));
	assert_false(verify_ok(buf, "secret", 6, "user@example.com"));
}

static void test_scheme_names(void **state)
{
	static const struct {
		const char *name;
		enum password_scheme scheme;
	} names[] = {
		{ "bcrypt", PASSWORD_SCHEME_BLF_CRYPT },
		{ "BCRYPT", PASSWORD_SCHEME_BLF_CRYPT },
		{ "blf-crypt", PASSWORD_SCHEME_BLF_CRYPT },
		{ "ssha512", PASSWORD_SCHEME_SSHA512 },
		{ "SSHA256", PASSWORD_SCHEME_SSHA256 },
		{ "ssha", PASSWORD_SCHEME_SSHA },
		{ "sha512-crypt", PASSWORD_SCHEME_SHA512_CRYPT },
		{ "Sha256-Crypt", PASSWORD_SCHEME_SHA256_CRYPT },
		{ "md5-crypt", PASSWORD_SCHEME_MD5_CRYPT },
		{ "argon2id", PASSWORD_SCHEME_ARGON2ID },
		{ "argon2i", PASSWORD_SCHEME_ARGON2I },
		{ "pbkdf2", PASSWORD_SCHEME_PBKDF2 },
		{ "sha512", PASSWORD_SCHEME_SHA512 },
		{ "sha256", PASSWORD_SCHEME_SHA256 },
		{ "sha1", PASSWORD_SCHEME_SHA1 },
		{ "sha", PASSWORD_SCHEME_SHA1 },
		{ "plain", PASSWORD_SCHEME_PLAIN },
		{ "clear", PASSWORD_SCHEME_PLAIN },
		{ "cleartext", PASSWORD_SCHEME_PLAIN },
		{ "hmac-md5", PASSWORD_SCHEME_CRAM_MD5 },
		{ "scram-sha-256", PASSWORD_SCHEME_SCRAM_SHA256 },
		{ "plain-trunc", PASSWORD_SCHEME_PLAIN_TRUNC },
	};
	static const char *const bad[] = { "", "bcrypt2", "sha-512", "{SHA512}", "SHA512.HEX",
					   "argon2", "ssha512 " };
	enum password_scheme s;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (password_scheme_parse(names[i].name, &s) != 0)
			fail_msg("%s not parsed", names[i].name);
		assert_int_equal(s, names[i].scheme);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(password_scheme_parse(bad[i], &s), -1);
	/* every scheme has a distinct name that parses back to it */
	for (int i = 0; i < PASSWORD_SCHEME_COUNT; i++) {
		const char *name = password_scheme_name((enum password_scheme)i);

		assert_non_null(name);
		assert_int_equal(password_scheme_parse(name, &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(password_scheme_name(PASSWORD_SCHEME_BLF_CRYPT), "BLF-CRYPT");
	assert_false(password_scheme_can_create(PASSWORD_SCHEME_DES_CRYPT));
	assert_false(password_scheme_can_create(PASSWORD_SCHEME_DIGEST_MD5));
	assert_false(password_scheme_can_create(PASSWORD_SCHEME_OTP));
	assert_false(password_scheme_can_create(PASSWORD_SCHEME_COUNT));
	assert_true(password_scheme_can_create(PASSWORD_SCHEME_BLF_CRYPT));
}

/* Every creatable scheme: "{NAME}" prefix, right password matches, wrong
   ones do not, and two hashes of one password differ where salted. */
static void test_roundtrip(void **state)
{
	static const enum password_scheme unsalted[] = {
		PASSWORD_SCHEME_SHA512,    PASSWORD_SCHEME_SHA256,   PASSWORD_SCHEME_SHA1,
		PASSWORD_SCHEME_PLAIN_MD5, PASSWORD_SCHEME_LDAP_MD5, PASSWORD_SCHEME_CRAM_MD5,
		PASSWORD_SCHEME_PLAIN,
	};
	unsigned int created = 0;

	(void)state;
	for (int i = 0; i < PASSWORD_SCHEME_COUNT; i++) {
		enum password_scheme s = (enum password_scheme)i;
		char prefix[32], *h1, *h2;
		bool is_salted = true;

		if (!password_scheme_can_create(s)) {
			const char *error = NULL;
			char *hash = NULL;

			assert_int_equal(password_hash(s, "secret", NULL, &hash, &error), -1);
			assert_non_null(error);
			assert_null(hash);
			continue;
		}
		created++;
		h1 = hash_ok(s, "correct horse", &cheap);
		h2 = hash_ok(s, "correct horse", &cheap);
		snprintf(prefix, sizeof(prefix), "{%s}", password_scheme_name(s));
		if (strncmp(h1, prefix, strlen(prefix)) != 0)
			fail_msg("%s: no %s prefix", h1, prefix);
		if (!verify_str(h1, "correct horse") || !verify_str(h2, "correct horse"))
			fail_msg("%s: does not verify", h1);
		if (verify_str(h1, "correct horsE") || verify_str(h1, "") ||
		    verify_str(h1, "correct horse ") || verify_str(h1, "correct hors"))
			fail_msg("%s: wrong password matches", h1);
		for (size_t j = 0; j < ARRAY_SIZE(unsalted); j++)
			is_salted = is_salted && unsalted[j] != s;
		if (is_salted)
			assert_string_not_equal(h1, h2);
		else
			assert_string_equal(h1, h2);
		free(h1);
		free(h2);
	}
	assert_int_equal(created, 20);
}

static void test_roundtrip_empty_password(void **state)
{
	(void)state;
	for (int i = 0; i < PASSWORD_SCHEME_COUNT; i++) {
		char *h;

		if (!password_scheme_can_create((enum password_scheme)i))
			continue;
		h = hash_ok((enum password_scheme)i, "", &cheap);
		assert_true(verify_str(h, ""));
		assert_false(verify_str(h, "x"));
		free(h);
	}
}

static void test_bcrypt_cost(void **state)
{
	struct password_params p = { .bcrypt_cost = 10 };
	const char *error = NULL;
	char *h = NULL;

	(void)state;
	h = hash_ok(PASSWORD_SCHEME_BLF_CRYPT, "secret", NULL);
	assert_memory_equal(h, "{BLF-CRYPT}$2b$12$", 18);
	assert_int_equal(strlen(h), 11 + 60);
	assert_true(verify_str(h, "secret"));
	free(h);

	h = hash_ok(PASSWORD_SCHEME_BLF_CRYPT, "secret", &p);
	assert_memory_equal(h, "{BLF-CRYPT}$2b$10$", 18);
	assert_true(verify_str(h, "secret"));
	free(h);

	/* libxcrypt's own default would be 05: never used */
	p.bcrypt_cost = 0;
	h = hash_ok(PASSWORD_SCHEME_BLF_CRYPT, "secret", &p);
	assert_memory_equal(h, "{BLF-CRYPT}$2b$12$", 18);
	free(h);
	h = NULL;

	p.bcrypt_cost = 3;
	assert_int_equal(password_hash(PASSWORD_SCHEME_BLF_CRYPT, "x", &p, &h, &error), -1);
	p.bcrypt_cost = 32;
	assert_int_equal(password_hash(PASSWORD_SCHEME_BLF_CRYPT, "x", &p, &h, &error), -1);
	assert_null(h);
}

static void test_other_params_honoured(void **state)
{
	struct password_params p = cheap;
	char *h;

	(void)state;
	h = hash_ok(PASSWORD_SCHEME_SHA512_CRYPT, "secret", NULL);
	assert_memory_equal(h, "{SHA512-CRYPT}$6$", 17);
	assert_null(strstr(h, "rounds=")); /* 5000 is implicit */
	free(h);
	p.sha_crypt_rounds = 10000;
	h = hash_ok(PASSWORD_SCHEME_SHA256_CRYPT, "secret", &p);
	assert_memory_equal(h, "{SHA256-CRYPT}$5$rounds=10000$", 30);
	assert_true(verify_str(h, "secret"));
	free(h);

	h = hash_ok(PASSWORD_SCHEME_ARGON2ID, "secret", NULL);
	assert_memory_equal(h, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$", 41);
	assert_true(verify_str(h, "secret"));
	free(h);
	p.argon2_memory_kib = 1024;
	p.argon2_time = 2;
	p.argon2_parallelism = 2;
	h = hash_ok(PASSWORD_SCHEME_ARGON2I, "secret", &p);
	assert_memory_equal(h, "{ARGON2I}$argon2i$v=19$m=1024,t=2,p=2$", 38);
	assert_true(verify_str(h, "secret"));
	free(h);

	h = hash_ok(PASSWORD_SCHEME_PBKDF2, "secret", NULL);
	/* {PBKDF2}$1$<16 salt chars>$5000$<40 hex> */
	assert_int_equal(strlen(h), 8 + 3 + 16 + 1 + 4 + 1 + 40);
	assert_memory_equal(h + 8 + 3 + 16, "$5000$", 6);
	free(h);

	h = hash_ok(PASSWORD_SCHEME_SCRAM_SHA256, "secret", NULL);
	assert_memory_equal(h, "{SCRAM-SHA-256}4096,", 20);
	free(h);
}

static void test_params_check(void **state)
{
	const struct password_params bad[] = {
		{ .bcrypt_cost = 3 },
		{ .bcrypt_cost = 32 },
		{ .sha_crypt_rounds = 999 },
		{ .argon2_memory_kib = 7 },
		{ .argon2_memory_kib = PASSWORD_ARGON2_MEMORY_KIB_MAX + 1 },
		{ .argon2_memory_kib = 8, .argon2_parallelism = 2 },
		{ .argon2_parallelism = 65 },
		{ .pbkdf2_rounds = 0x80000000u },
		{ .scram_iterations = 0x80000000u },
	};
	const struct password_params zero = { 0 };
	const char *error = NULL;

	(void)state;
	assert_int_equal(password_params_check(NULL, &error), 0);
	assert_int_equal(password_params_check(&zero, &error), 0);
	assert_int_equal(password_params_check(&cheap, &error), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		error = NULL;
		assert_int_equal(password_params_check(&bad[i], &error), -1);
		assert_non_null(error);
	}
}

static void test_needs_rehash(void **state)
{
	const char *b12 = "{CRYPT}$2b$12$hR6GKlgWh9v5vSRYtlHa8eimCnOQwHbOMmE4HwYs/OoYWK0RqwNnC";
	const char *b10 = "{CRYPT}$2b$10$DBkSCvYw.Rpeo1giFvhcBuv4H8MCzKIj/l1BZjwWr9AJH1889xJFS";
	struct password_params p10 = { .bcrypt_cost = 10 }, p14 = { .bcrypt_cost = 14 };

	(void)state;
	assert_false(password_needs_rehash(b12, NULL));
	assert_false(password_needs_rehash(b12 + 7, NULL)); /* bare */
	assert_false(password_needs_rehash("{BLF-CRYPT}$2b$12$hR6GKlgWh9v5vSRYtlHa8eimCnOQw"
					   "HbOMmE4HwYs/OoYWK0RqwNnC",
					   NULL));
	assert_false(password_needs_rehash("{blf-crypt}$2y$12$x", NULL));
	assert_false(password_needs_rehash("$2a$13$x", NULL)); /* higher is fine */
	assert_true(password_needs_rehash(b10, NULL));
	assert_false(password_needs_rehash(b10, &p10));
	assert_true(password_needs_rehash(b12, &p14));
	assert_true(password_needs_rehash("$2x$12$x", NULL)); /* legacy variant */
	assert_true(password_needs_rehash("{SHA512-CRYPT}$6$MZ6PcBldRVakQda4$x", NULL));
	assert_true(password_needs_rehash("{SSHA512}aGuMrEMGi6onmwqe1nusjHfTEWDB", NULL));
	assert_true(password_needs_rehash("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$a$b", NULL));
	assert_true(password_needs_rehash("{PLAIN}secret", NULL));
	assert_true(password_needs_rehash("{PLAIN}$2b$12$x", NULL));
	assert_true(password_needs_rehash("{BLF-CRYPT}", NULL));
	assert_true(password_needs_rehash("garbage", NULL));
	assert_true(password_needs_rehash("", NULL));
	assert_true(password_needs_rehash(NULL, NULL));
}

/* Stored strings that cannot be used: -1 with an error, never a match. */
static void test_malformed_error(void **state)
{
	static const char *const bad[] = {
		"",
		"secret",
		"{",
		"{}",
		"{}secret",
		"{SHA256",
		"{UNKNOWN}secret",
		"{BCRYPT}$2b$04$......................",
		"{SHA256.XYZ}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
		"{SHA256.}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
		"{AVERYLONGSCHEMENAMETHATISNOTKNOWNATALL}x",
		"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1", /* truncated */
		"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unol", /* one byte short */
		"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols==", /* bad padding */
		"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=\n",
		"{SHA256}K7gNU3sdo+OL0wNh qoVWhr3g6s1xYv72ol/pe/Unols=",
		"{SHA256}=K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols",
		"{SHA256}",
		"{SHA1}!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"{SHA1.HEX}5en6G6MezRroT3XKqkdPOmY/BfQ=",
		"{SHA1}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f",  /* 39 hex */
		"{SSHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* digest only, no salt */
		"{SHA1}5en6G6MezRroT3XKqkdPOmY/BfR=", /* non-zero unused bits */
		"{SSHA512}",
		"{SMD5}AAAA",
		"{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee6",
		"{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee6g",
		"{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747",
		"{DIGEST-MD5}30969131580e626606ce70ceaab7771",
		"{MD5}xyz",
		"{MD5}",
		"{PBKDF2}",
		"{PBKDF2}$1$",
		"{PBKDF2}$2$NSl4rZ0y2IrDJcfQ$5000$651e22ee1b2d9d8062820280ba3118faef00d61c",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$0$651e22ee1b2d9d8062820280ba3118faef00d61c",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$-1$651e22ee1b2d9d8062820280ba3118faef00d61c",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$50x0$651e22ee1b2d9d8062820280ba3118faef00d61c",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$99999999999$651e22ee1b2d9d8062820280ba3118faef00d61c",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$5000$651e22ee1b2d9d8062820280ba3118faef00d61",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$5000$651e22ee1b2d9d8062820280ba3118faef00d61cx",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$5000$651e22ee1b2d9d8062820280ba3118faef00d61c$",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$5000",
		"{SCRAM-SHA-1}",
		"{SCRAM-SHA-1}4096,BPi2d8UfnNt3CNx2VOvZVA==,Q6HDpSGC6gFxToOVhIKubhytNvE=",
		"{SCRAM-SHA-1}0,BPi2d8UfnNt3CNx2VOvZVA==,Q6HDpSGC6gFxToOVhIKubhytNvE=,"
		"RflsDr9ZXqhhvGVzODIHVgn7m3M=",
		"{SCRAM-SHA-1}4096,,Q6HDpSGC6gFxToOVhIKubhytNvE=,RflsDr9ZXqhhvGVzODIHVgn7m3M=",
		"{SCRAM-SHA-1}4096,BPi2d8UfnNt3CNx2VOvZVA==,Q6HDpSGC6gFxToOVhIKubhytNv,"
		"RflsDr9ZXqhhvGVzODIHVgn7m3M=",
		"{SCRAM-SHA-256}4096,BPi2d8UfnNt3CNx2VOvZVA==,Q6HDpSGC6gFxToOVhIKubhytNvE=,"
		"RflsDr9ZXqhhvGVzODIHVgn7m3M=", /* SHA-1 sized keys */
		"{OTP}",
		"{OTP}sha1 1024 d06658623dfce055",
		"{OTP}sha3 1024 d06658623dfce055 88e1d8182a66c65c",
		"{OTP}sha1 999999999 d06658623dfce055 88e1d8182a66c65c",
		"{OTP}sha1 1024 d06658623dfce055 88e1d8182a66c65",
		"{OTP}sha1 1024 d0665862-dfce055 88e1d8182a66c65c",
		"{OTP}sha1 1024 d06658623dfce0550000 88e1d8182a66c65c",
		"{OTP}sha1  1024 d06658623dfce055 88e1d8182a66c65c",
		"{OTP}sha1 1024 d06658623dfce055 88e1d8182a66c65c ",
		"{ARGON2ID}",
		"{ARGON2ID}$argon2id$garbage",
		"{ARGON2ID}$argon2d$v=19$m=65536,t=3,p=1$4bg/BFrk22IIJcrOEB0M5Q$ZYehbeFPj6poYhU",
		"{ARGON2ID}$argon2id$v=19$m=4194304,t=1,p=1$4bg/BFrk22IIJcrOEB0M5Q$ZYehbeFPj6poYhUs"
		"SsEuj8QYUruotg+w15ViR8Afi60", /* 4 GiB: above the limit */
		"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$!!$ZYehbeFPj6poYhUsSsEuj8QYUruotg+w15ViR8A",
		"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$4bg/BFrk22IIJcrOEB0M5Q",
		"{ARGON2ID}$argon2id$v=19$m=65536,t=0,p=1$4bg/BFrk22IIJcrOEB0M5Q$ZYehbeFPj6poYhUsSsE"
		"uj8QYUruotg+w15ViR8Afi60",
		"$argon2id$v=19$m=99999999999,t=3,p=1$4bg/BFrk22IIJcrOEB0M5Q$ZYehbeFPj6poYhUsSsE",
		"{CRYPT}",
		"{CRYPT}*",
		"{CRYPT}!",
		"{CRYPT}!$2b$12$hR6GKlgWh9v5vSRYtlHa8eimCnOQwHbOMmE4HwYs/OoYWK0RqwNnC",
		"{CRYPT}$2b$",
		"{CRYPT}$2b$03$......................",
		"{BLF-CRYPT}$2b$12$hR6GKlgWh9v5vSRYtlHa8",
		"{CRYPT.HEX}2432",
		"$",
		"$9$xyz",
		"{PLAIN-TRUNC}secret",
		"{PLAIN-TRUNC}0-",
		"{PLAIN-TRUNC}-secret",
		"{PLAIN-TRUNC}x6-secret",
		"{PLAIN-TRUNC}99999999999-secret",
		"{PLAIN.HEX}zz",
		"{PLAIN.B64}c2VjcmV0=",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *error = NULL;
		bool match = true;

		if (password_verify(bad[i], "secret", 6, USER, &match, &error) != -1)
			fail_msg("%s: accepted (match=%d)", bad[i], match);
		assert_false(match);
		assert_non_null(error);
	}
}

/* Well-formed but not "secret": 0 and no match. */
static void test_malformed_no_match(void **state)
{
	static const char *const bad[] = {
		"{PLAIN}",
		"{PLAIN}secret\n",
		"{CRYPT}$2b$04$......................", /* a setting without a hash */
		"{CRYPT}MU",
		"{SHA512-CRYPT}$6$", /* empty salt */
		"{SSHA}whRp6GjhZVDV2woti//3HotL8W2QI2Tu",
		"{SHA1}5en6G6MezRroT3XKqkdPOmY/BfA=",
		"{PLAIN-TRUNC}6-Secret",
		"{PLAIN.HEX}7365637265",
		"{OTP}sha1 1023 d06658623dfce055 88e1d8182a66c65c",
		"{OTP}md5 1024 d06658623dfce055 88e1d8182a66c65c",
		"{PBKDF2}$1$NSl4rZ0y2IrDJcfQ$5001$651e22ee1b2d9d8062820280ba3118faef00d61c",
		"{PBKDF2}$1$$5000$651e22ee1b2d9d8062820280ba3118faef00d61c",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *error = NULL;
		bool match = true;
		int ret = password_verify(bad[i], "secret", 6, USER, &match, &error);

		if (ret != 0 || match)
			fail_msg("%s: ret %d match %d (%s)", bad[i], ret, match,
				 error == NULL ? "" : error);
	}
	/* padding is optional: the unpadded form of the right digest matches */
	assert_true(verify_str("{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ", "secret"));
}

static void test_encodings(void **state)
{
	static const char *const good[] = {
		"{sha256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
		"{SHA256.b64}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
		"{SHA256.BASE64}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
		/* hex without a suffix: guessed from the length, as Dovecot */
		"{SHA256}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
		"{SHA256.HEX}2BB80D537B1DA3E38BD30361AA855686BDE0EACD7162FEF6A25FE97BF527A25B",
		"{SHA1}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4",
		"{PLAIN-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
		"{PLAIN-MD5.B64}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
		"{LDAP-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69",
		"{MD5}5ebe2294ecd0e0f08eab7690d2a6ee69",
		"{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
		"{PLAIN.B64}c2VjcmV0",
		"{PLAIN.HEX}736563726574",
		"{Cleartext}secret",
		"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
		"{SSHA.HEX}c21469e868e16550d5db0a2d8bfff71e8b4bf16d902364ed",
		"$2y$05$XDVMlpnUHQ5Njg94zKknAuJh07lognODeyxFOzRxQmAK3Wapc90H2",
		"$6$MZ6PcBldRVakQda4$lvf3dXDh0jyl6ZkDt0AEaAPiC513EOJ0FPW567gPQeXFhB6tuWJemsacwZGBNd"
		"9Eq5hbmlC8z5FuSWqQpJgH10",
		"$1$QZjsLnZ3$P5I5KJkpBMVAybruW5MQS.",
		"$argon2i$v=19$m=32768,t=4,p=1$Zm8G/iA18XpCW9MM86OygA$I0Z7nhQvYb8lutdqiNYZVbCTFBhVpi"
		"+2pfhZDao1168",
		/* the PHC string decides the variant, whatever the braces say */
		"{ARGON2I}$argon2id$v=19$m=65536,t=3,p=1$4bg/BFrk22IIJcrOEB0M5Q$ZYehbeFPj6poYhUsSsEuj"
		"8QYUruotg+w15ViR8Afi60",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (!verify_str(good[i], "secret"))
			fail_msg("%s: does not match", good[i]);
		if (verify_str(good[i], "secreT"))
			fail_msg("%s: wrong password matches", good[i]);
	}
}

static void test_plain_trunc(void **state)
{
	(void)state;
	/* stored is exactly N long: only the first N bytes of the password count */
	assert_true(verify_str("{PLAIN-TRUNC}3-sec", "sec"));
	assert_true(verify_str("{PLAIN-TRUNC}3-sec", "secXYZ"));
	assert_false(verify_str("{PLAIN-TRUNC}3-sec", "se"));
	/* stored shorter than N: exact comparison */
	assert_true(verify_str("{PLAIN-TRUNC}8-secret", "secret"));
	assert_false(verify_str("{PLAIN-TRUNC}8-secret", "secret12"));
	assert_true(verify_str("{PLAIN-TRUNC}8-sec-ret", "sec-ret"));
}

static void test_long_password(void **state)
{
	size_t len = 4096;
	char *pw = malloc(len + 1);
	const char *error = NULL;
	char *h = NULL;

	(void)state;
	for (size_t i = 0; i < len; i++)
		pw[i] = (char)('a' + i % 26);
	pw[len] = '\0';
	for (int i = 0; i < PASSWORD_SCHEME_COUNT; i++) {
		enum password_scheme s = (enum password_scheme)i;
		bool is_crypt = s == PASSWORD_SCHEME_BLF_CRYPT ||
				s == PASSWORD_SCHEME_SHA512_CRYPT ||
				s == PASSWORD_SCHEME_SHA256_CRYPT || s == PASSWORD_SCHEME_MD5_CRYPT;

		if (!password_scheme_can_create(s))
			continue;
		if (is_crypt) {
			/* libxcrypt takes at most 511 bytes: refused, not cut */
			assert_int_equal(password_hash(s, pw, &cheap, &h, &error), -1);
			assert_null(h);
			pw[511] = '\0';
			h = hash_ok(s, pw, &cheap);
			assert_true(verify_ok(h, pw, 511, USER));
			pw[511] = (char)('a' + 511 % 26);
			/* longer than 511: never matches, even where the first
			   511 bytes (or bcrypt's 72) are right */
			assert_false(verify_ok(h, pw, 512, USER));
			assert_false(verify_ok(h, pw, len, USER));
			free(h);
			h = NULL;
			continue;
		}
		h = hash_ok(s, pw, &cheap);
		assert_true(verify_ok(h, pw, len, USER));
		assert_false(verify_ok(h, pw, len - 1, USER));
		pw[len - 1] ^= 1;
		assert_false(verify_ok(h, pw, len, USER));
		pw[len - 1] ^= 1;
		free(h);
		h = NULL;
	}
	free(pw);
}

/* The verify API takes a length; a NUL inside the password never matches
   (crypt(3) would otherwise compare only up to it). */
static void test_nul_in_password(void **state)
{
	static const char *const stored[] = {
		"{PLAIN}secret",
		"{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ=",
		"{BLF-CRYPT}$2y$05$XDVMlpnUHQ5Njg94zKknAuJh07lognODeyxFOzRxQmAK3Wapc90H2",
		"{DES-CRYPT}MUFSrs82sgdZg",
		"{PLAIN-TRUNC}3-sec",
	};
	char *h;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(stored); i++) {
		assert_true(verify_ok(stored[i], "secret", 6, USER));
		assert_false(verify_ok(stored[i], "secret\0x", 8, USER));
		assert_false(verify_ok(stored[i], "secret\0", 7, USER));
		assert_false(verify_ok(stored[i], "\0secret", 7, USER));
		/* not NUL-terminated: only the given length counts */
		assert_true(verify_ok(stored[i], "secretXYZ", 6, USER));
	}
	/* even a stored password that itself has a NUL */
	assert_false(verify_ok("{PLAIN.B64}c2VjAHJldA==", "sec\0ret", 7, USER));
	/* NULL password with length 0 is the empty password */
	assert_true(verify_ok("{PLAIN}", NULL, 0, USER));
	h = hash_ok(PASSWORD_SCHEME_SHA256, "", NULL);
	assert_true(verify_ok(h, NULL, 0, USER));
	free(h);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An unknown user costs what a wrong password costs. Loose bounds (best
   of 3) so that a busy machine does not make the test flaky. */
static void test_dummy_costs_like_verify(void **state)
{
	struct password_params p = { .bcrypt_cost = 9 };
	double t_verify = 1e9, t_dummy = 1e9;
	char *h = hash_ok(PASSWORD_SCHEME_BLF_CRYPT, "secret", &p);

	(void)state;
	for (int i = 0; i < 3; i++) {
		double t0 = now_s(), t1;

		assert_false(verify_str(h, "wrong"));
		t1 = now_s();
		password_verify_dummy(&p);
		t_verify = MIN(t_verify, t1 - t0);
		t_dummy = MIN(t_dummy, now_s() - t1);
	}
	free(h);
	if (t_dummy < t_verify / 2 || t_dummy > t_verify * 2)
		fail_msg("dummy %.4f s, verify %.4f s", t_dummy, t_verify);
	password_verify_dummy(NULL); /* default cost 12 */
}

static void *verify_thread(void *arg)
{
	static const char *const stored[] = {
		"{PLAIN-MD4}67d3dafef63ff00603aeef3769cfbf0d",
		"{OTP}sha1 1024 d06658623dfce055 88e1d8182a66c65c",
		"{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
		"{BLF-CRYPT}$2y$05$XDVMlpnUHQ5Njg94zKknAuJh07lognODeyxFOzRxQmAK3Wapc90H2",
		"{SHA512-CRYPT}$6$MZ6PcBldRVakQda4$lvf3dXDh0jyl6ZkDt0AEaAPiC513EOJ0FPW567gPQeXF"
		"hB6tuWJemsacwZGBNd9Eq5hbmlC8z5FuSWqQpJgH10",
		"{SCRAM-SHA-1}4096,BPi2d8UfnNt3CNx2VOvZVA==,Q6HDpSGC6gFxToOVhIKubhytNvE=,"
		"RflsDr9ZXqhhvGVzODIHVgn7m3M=",
	};
	intptr_t failures = 0;

	(void)arg;
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(stored); i++) {
			const char *error;
			bool match = false, wrong = true;

			if (password_verify(stored[i], "secret", 6, USER, &match, &error) != 0 ||
			    password_verify(stored[i], "secreT", 6, USER, &wrong, &error) != 0 ||
			    !match || wrong)
				failures++;
		}
	}
	return (void *)failures;
}

static void test_threads(void **state)
{
	pthread_t threads[4];

	(void)state;
	/* first use of MD4 (provider load) races between the threads */
	for (size_t i = 0; i < ARRAY_SIZE(threads); i++)
		assert_int_equal(pthread_create(&threads[i], NULL, verify_thread, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(threads); i++) {
		void *failures;

		assert_int_equal(pthread_join(threads[i], &failures), 0);
		assert_int_equal((intptr_t)failures, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_vectors_count),
		cmocka_unit_test(test_vectors_match),
		cmocka_unit_test(test_vectors_wrong_password),
		cmocka_unit_test(test_digest_md5_username),
		cmocka_unit_test(test_scheme_names),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_roundtrip_empty_password),
		cmocka_unit_test(test_bcrypt_cost),
		cmocka_unit_test(test_other_params_honoured),
		cmocka_unit_test(test_params_check),
		cmocka_unit_test(test_needs_rehash),
		cmocka_unit_test(test_malformed_error),
		cmocka_unit_test(test_malformed_no_match),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_plain_trunc),
		cmocka_unit_test(test_long_password),
		cmocka_unit_test(test_nul_in_password),
		cmocka_unit_test(test_dummy_costs_like_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
