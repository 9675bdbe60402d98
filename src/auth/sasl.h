#ifndef SORA_AUTH_SASL_H
#define SORA_AUTH_SASL_H

/* SASL mechanism decoding and login-name analysis, protocol-independent.

   Pure: no I/O, no logging, memory only from the arena the caller gives.
   The protocol layer (IMAP AUTHENTICATE, POP3 AUTH, ManageSieve
   AUTHENTICATE) frames challenges and responses ("+ ", "334 ", quoted
   strings) and strips CRLF; this module sees base64 text only.

   Mechanisms:
     PLAIN  RFC 4616: one response, base64 of "authzid NUL authcid NUL passwd".
     LOGIN  draft-murchison-sasl-login: challenge "Username:", response the
            user name; challenge "Password:", response the password; each
            base64-encoded.

   An exchange:

	x = sasl_exchange_new(cmd_arena, SASL_MECH_PLAIN, NULL);
	ret = sasl_exchange_start(x, has_ir ? &ir : NULL, &challenge, &res, &err);
	while (ret == 0) {
		send "+ " challenge, read one line into response;
		ret = sasl_exchange_step(x, response, &challenge, &res, &err);
	}
	ret == 1: authenticate res.authcid / res.password (authzid "" = none),
		  then sasl_result_wipe(&res);
	ret == -1: err.code says which reply (see enum sasl_error_code).

   Secrets: the decoded password lives in the arena until
   sasl_result_wipe(); every error path wipes what it decoded. The base64
   text the caller passed in (its line buffer) still encodes the password:
   the caller wipes that buffer (buf_wipe()). No SASLprep (RFC 4013) is
   applied; names and passwords are compared as the bytes sent. */

#include <stdbool.h>
#include <stddef.h>

#include "../lib/arena.h"
#include "../lib/str.h"

/* Largest authzid, authcid and password accepted by default (RFC 4616
   asks servers to accept at least 255 octets each). */
#define SASL_FIELD_MAX_DEFAULT 255
/* Longest address (RFC 5321 path minus the angle brackets). */
#define SASL_ADDRESS_MAX 254
/* Longest login name with a master suffix, after trimming. */
#define SASL_LOGIN_NAME_MAX 512

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_COUNT
};

/* "PLAIN", "LOGIN". */
const char *sasl_mech_name(enum sasl_mech mech);
/* ASCII case-insensitive. 0 with *mech_r set, or -1: not supported. */
int sasl_mech_parse(struct slice name, enum sasl_mech *mech_r);

enum sasl_error_code {
	SASL_ERR_NONE,
	/* The client answered a challenge with "*" (RFC 9051 6.2.2, RFC 5034
	   4, RFC 5804 2.1): IMAP tagged BAD, POP3 -ERR, ManageSieve NO. */
	SASL_ERR_CANCELLED,
	/* The response is not canonical base64: IMAP BAD, POP3 -ERR. */
	SASL_ERR_SYNTAX,
	/* Decoded, but no valid credentials: a PLAIN message without two NULs,
	   a NUL in the password, a field over the limit, invalid UTF-8, an
	   empty user name or password. Answer like a failed login. */
	SASL_ERR_INVALID,
	/* The caller stepped an exchange that had already finished. */
	SASL_ERR_STATE,
};

struct sasl_error {
	enum sasl_error_code code;
	const char *msg; /* static, never holds client data */
};

struct sasl_limits {
	size_t max_field_len; /* 0: SASL_FIELD_MAX_DEFAULT */
};

/* What a finished exchange yields. All strings are NUL-terminated, valid
   UTF-8 without NUL, and live in the exchange's arena. */
struct sasl_result {
	const char *authzid; /* "" when the client sent none (LOGIN: always) */
	size_t authzid_len;
	const char *authcid; /* never empty */
	size_t authcid_len;
	const char *password; /* never empty */
	size_t password_len;

	/* private: the arena bytes that held the password */
	char *secret;
	size_t secret_size;
};

/* Zeroes the password bytes in the arena (and every decoded byte that
   shared their buffer) and clears *res. Call it before the arena goes;
   accepts an all-zero or already wiped result. The identities are
   separate copies: take them before wiping if they must be kept. */
void sasl_result_wipe(struct sasl_result *res);

struct sasl_exchange;

/* limits NULL: defaults. The exchange and its results live in a. */
struct sasl_exchange *sasl_exchange_new(struct arena *a, enum sasl_mech mech,
					const struct sasl_limits *limits);

/* Begin the exchange. ir is the initial response (RFC 4959 SASL-IR, POP3
   and ManageSieve equivalents) exactly as sent, "=" standing for an empty
   one; NULL when the client sent none.
     PLAIN without ir: *challenge_r = "" (an empty challenge), returns 0.
     PLAIN with ir:    decodes it; "=" is an empty message, so INVALID.
     LOGIN without ir: *challenge_r = base64 "Username:", returns 0.
     LOGIN with ir:    ir is the user name (as Cyrus SASL, Dovecot and
                       Postfix accept); *challenge_r = base64 "Password:".
   Returns 1 (done, *result_r set), 0 (send *challenge_r, base64 text, then
   call sasl_exchange_step() with the client's answer), or -1 with *err_r.
   After 1 or -1 the exchange is finished. */
int sasl_exchange_start(struct sasl_exchange *x, const struct slice *ir,
			struct slice *challenge_r, struct sasl_result *result_r,
			struct sasl_error *err_r);

/* One client response to the last challenge, without CRLF. "*" cancels.
   An empty line is an empty response ("=" is only for initial responses
   and is a SYNTAX error here). Same returns as sasl_exchange_start(). */
int sasl_exchange_step(struct sasl_exchange *x, struct slice response,
		       struct slice *challenge_r, struct sasl_result *result_r,
		       struct sasl_error *err_r);

/* One-shot PLAIN: decode base64 text, then sasl_plain_parse(). Returns 0 or
   -1 (SYNTAX for bad base64, INVALID otherwise). An empty input is an
   empty message (INVALID). */
int sasl_plain_decode(struct slice b64, const struct sasl_limits *limits, struct arena *a,
		      struct sasl_result *result_r, struct sasl_error *err_r);

/* PLAIN on an already decoded message (RFC 4616 section 2). The strings
   are copied into a; message is not modified (the caller wipes it). */
int sasl_plain_parse(struct slice message, const struct sasl_limits *limits, struct arena *a,
		     struct sasl_result *result_r, struct sasl_error *err_r);

/* The client side of PLAIN, for proxy -> backend logins with a master SASL
   user: base64("authzid NUL authcid NUL password") in a (authzid may be
   ""). NUL-terminated; the caller wipes it (strlen bytes) after sending.
   Intermediate copies are wiped here. */
char *sasl_plain_encode(struct arena *a, const char *authzid, const char *authcid,
			const char *password);

/* Login names and master users (sora-security §4.3, §4.4).

   A login name is an address, optionally followed by a master suffix:
     user@domain                 ordinary login
     user@domain@<master>        Sora HEAD form (separator '@')
     user@domain~<master>        seed-era form (separator '~')
   Parsing, in this order:
   1. Trim ASCII whitespace at both ends. Then reject: empty, longer than
      SASL_LOGIN_NAME_MAX, invalid UTF-8, any control character, space
      or '"' (no quoted local parts, so no '@' hides in quotes).
   2. master_username set (non-empty) and the name ends in "@<master>" or
      "~<master>" (byte-exact, constant-time), with an address of its own
      before that: a master login (is_master, form AT or TILDE). A name
      that is only the master name, or "x@<master>" (one '@'), is not.
   3. Otherwise two '@' (HEAD form, other suffix): as Sora, the suffix is
      reported (a proxy's lookup token) and the login is an ordinary one
      for the address before it (is_master false, form AT).
   4. Otherwise exactly one '@', or an error. A '~' after the '@' that is
      not a master suffix makes an invalid domain, so an error.
   The address before the suffix must then be a plain address: local part
   and domain non-empty, at most SASL_ADDRESS_MAX octets together; local
   part of atext characters ('.' and UTF-8 allowed, dot placement not
   checked); domain of letters, digits, '-', '_' and UTF-8 labels
   separated by single dots (no address literals). "+detail" (from the
   first '+' in the local part) is split off: "User+Box@Example.ORG"
   gives address "user@example.org" and detail "Box". The address is
   lower-cased in ASCII only (no Unicode case folding, unlike Sora's Go
   strings.ToLower). A local part that is only "+detail" is an error. */
enum sasl_master_form {
	SASL_MASTER_NONE,
	SASL_MASTER_AT,    /* user@domain@suffix */
	SASL_MASTER_TILDE, /* user@domain~suffix (always is_master) */
};

struct sasl_login_name {
	const char *address; /* target: lower-case, without +detail */
	const char *detail;  /* as written, "" for "user+@…"; NULL without '+' */
	const char *suffix;  /* after the separator, case kept; NULL for NONE */
	enum sasl_master_form form;
	bool is_master;      /* suffix is master_username: check the master password */
};

/* 0 with *name_r set (strings in a), or -1 with *error_r (static; never
   includes the name). master_username NULL or "": no master form. */
int sasl_login_name_parse(struct slice login, const char *master_username, struct arena *a,
			  struct sasl_login_name *name_r, const char **error_r);

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
   U+10FFFF). NUL is valid UTF-8; callers that forbid it check separately. */
bool sasl_utf8_valid(const void *data, size_t len);

#endif
