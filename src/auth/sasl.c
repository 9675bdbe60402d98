/* SASL PLAIN and LOGIN, and login-name analysis.

   Ownership: an exchange and everything it hands out live in the arena the
   caller gave. Decoded bytes that hold a password are in a buffer of their
   own, recorded in the result (secret/secret_size) for sasl_result_wipe();
   every error path wipes such a buffer before it returns. The identities
   are copied out of that buffer, so wiping never clears them. */

#include "sasl.h"
#include "../lib/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/base64.h"
#include "../lib/util.h"

enum sasl_state {
	SASL_STATE_INIT,
	SASL_STATE_PLAIN_RESPONSE, /* empty challenge sent */
	SASL_STATE_LOGIN_USER,     /* "Username:" sent */
	SASL_STATE_LOGIN_PASS,     /* "Password:" sent */
	SASL_STATE_DONE,
};

struct sasl_exchange {
	struct arena *arena;
	enum sasl_mech mech;
	enum sasl_state state;
	size_t max_field;
	const char *login_user; /* LOGIN: decoded user name */
	size_t login_user_len;
};

static const char *const sasl_mech_names[] = { "PLAIN", "LOGIN" };
static_assert(ARRAY_SIZE(sasl_mech_names) == SASL_MECH_COUNT, "sasl_mech_names out of sync");

/* draft-murchison-sasl-login section 2: base64 "Username:" and "Password:" */
#define SASL_LOGIN_USER_CHALLENGE "VXNlcm5hbWU6"
#define SASL_LOGIN_PASS_CHALLENGE "UGFzc3dvcmQ6"

const char *sasl_mech_name(enum sasl_mech mech)
{
	return (unsigned)mech < SASL_MECH_COUNT ? sasl_mech_names[mech] : "?";
}

int sasl_mech_parse(struct slice name, enum sasl_mech *mech_r)
{
	for (size_t i = 0; i < SASL_MECH_COUNT; i++) {
		if (name.len == strlen(sasl_mech_names[i]) &&
		    slice_eq_ci(name, sasl_mech_names[i])) {
			*mech_r = (enum sasl_mech)i;
			return 0;
		}
	}
	return -1;
}

static int sasl_fail(struct sasl_error *err_r, enum sasl_error_code code, const char *msg)
{
	*err_r = (struct sasl_error){ .code = code, .msg = msg };
	return -1;
}

static size_t sasl_max_field(const struct sasl_limits *limits)
{
	return limits == NULL || limits->max_field_len == 0 ? SASL_FIELD_MAX_DEFAULT :
							       limits->max_field_len;
}

bool sasl_utf8_valid(const void *data, size_t len)
{
	return utf8_is_valid(data, len);
}

void sasl_result_wipe(struct sasl_result *res)
{
	if (res == NULL)
		return;
	util_wipe(res->secret, res->secret_size);
	*res = (struct sasl_result){ 0 };
}

/* Decode base64 into a fresh arena buffer of max_out + 1 bytes (NUL
   terminated). The buffer is wiped on failure. */
static int sasl_decode(struct arena *a, struct slice b64, size_t max_out, char **out_r,
		       size_t *out_len_r, struct sasl_error *err_r)
{
	char *out;
	size_t size;

	if (b64.len % 4 != 0)
		return sasl_fail(err_r, SASL_ERR_SYNTAX, "Invalid base64 data");
	if (BASE64_DECODED_MAX(b64.len) > max_out + 2) {
		/* over the limit even with padding taken off: not decoded */
		return sasl_fail(err_r, SASL_ERR_INVALID, "Response too long");
	}
	size = BASE64_DECODED_MAX(b64.len) + 1;
	out = arena_alloc(a, size);
	if (base64_decode(b64.ptr, b64.len, out, out_len_r) < 0) {
		util_wipe(out, size);
		return sasl_fail(err_r, SASL_ERR_SYNTAX, "Invalid base64 data");
	}
	if (*out_len_r > max_out) {
		util_wipe(out, size);
		return sasl_fail(err_r, SASL_ERR_INVALID, "Response too long");
	}
	out[*out_len_r] = '\0';
	*out_r = out;
	return 0;
}

/* A user-supplied identity or password field: length, NUL, UTF-8. */
static int sasl_check_field(const char *p, size_t len, size_t max, bool may_be_empty,
			    const char *what_empty, struct sasl_error *err_r)
{
	if (len == 0 && !may_be_empty)
		return sasl_fail(err_r, SASL_ERR_INVALID, what_empty);
	if (len > max)
		return sasl_fail(err_r, SASL_ERR_INVALID, "Field too long");
	if (memchr(p, '\0', len) != NULL)
		return sasl_fail(err_r, SASL_ERR_INVALID, "NUL inside a field");
	if (!sasl_utf8_valid(p, len))
		return sasl_fail(err_r, SASL_ERR_INVALID, "Invalid UTF-8");
	return 0;
}

/* RFC 4616 section 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd.
   Copies identities into a, the password into a buffer of its own. */
static int sasl_plain_split(const char *msg, size_t len, size_t max, struct arena *a,
			    struct sasl_result *result_r, struct sasl_error *err_r)
{
	const char *nul1 = memchr(msg, '\0', len), *nul2, *pw;
	size_t zid_len, cid_len, pw_len;
	char *secret;

	if (nul1 == NULL)
		return sasl_fail(err_r, SASL_ERR_INVALID, "Missing NUL separator");
	zid_len = (size_t)(nul1 - msg);
	nul2 = memchr(nul1 + 1, '\0', len - zid_len - 1);
	if (nul2 == NULL)
		return sasl_fail(err_r, SASL_ERR_INVALID, "Missing NUL separator");
	cid_len = (size_t)(nul2 - nul1 - 1);
	pw = nul2 + 1;
	pw_len = len - zid_len - cid_len - 2;
	if (sasl_check_field(msg, zid_len, max, true, NULL, err_r) < 0 ||
	    sasl_check_field(nul1 + 1, cid_len, max, false, "Empty authentication identity",
			     err_r) < 0 ||
	    sasl_check_field(pw, pw_len, max, false, "Empty password", err_r) < 0)
		return -1;
	secret = arena_alloc(a, pw_len + 1);
	memcpy(secret, pw, pw_len);
	*result_r = (struct sasl_result){
		.authzid = arena_strndup(a, msg, zid_len),
		.authzid_len = zid_len,
		.authcid = arena_strndup(a, nul1 + 1, cid_len),
		.authcid_len = cid_len,
		.password = secret,
		.password_len = pw_len,
		.secret = secret,
		.secret_size = pw_len + 1,
	};
	return 0;
}

int sasl_plain_parse(struct slice message, const struct sasl_limits *limits, struct arena *a,
		     struct sasl_result *result_r, struct sasl_error *err_r)
{
	size_t max = sasl_max_field(limits);

	if (message.len > 3 * max + 2)
		return sasl_fail(err_r, SASL_ERR_INVALID, "Response too long");
	return sasl_plain_split(message.ptr, message.len, max, a, result_r, err_r);
}

int sasl_plain_decode(struct slice b64, const struct sasl_limits *limits, struct arena *a,
		      struct sasl_result *result_r, struct sasl_error *err_r)
{
	size_t max = sasl_max_field(limits), len, size;
	char *msg;
	int ret;

	if (sasl_decode(a, b64, 3 * max + 2, &msg, &len, err_r) < 0)
		return -1;
	size = BASE64_DECODED_MAX(b64.len) + 1;
	ret = sasl_plain_split(msg, len, max, a, result_r, err_r);
	util_wipe(msg, size);
	return ret;
}

char *sasl_plain_encode(struct arena *a, const char *authzid, const char *authcid,
			const char *password)
{
	size_t zl = strlen(authzid), cl = strlen(authcid), pl = strlen(password);
	size_t len = zl + cl + pl + 2;
	char *msg = xmalloc(len), *out = arena_alloc(a, BASE64_ENCODED_LEN(len) + 1);

	memcpy(msg, authzid, zl);
	msg[zl] = '\0';
	memcpy(msg + zl + 1, authcid, cl);
	msg[zl + 1 + cl] = '\0';
	memcpy(msg + zl + cl + 2, password, pl);
	(void)base64_encode(msg, len, out);
	util_wipe(msg, len);
	free(msg);
	return out;
}

struct sasl_exchange *sasl_exchange_new(struct arena *a, enum sasl_mech mech,
					const struct sasl_limits *limits)
{
	struct sasl_exchange *x = arena_alloc(a, sizeof(*x));

	*x = (struct sasl_exchange){
		.arena = a,
		.mech = mech,
		.state = SASL_STATE_INIT,
		.max_field = sasl_max_field(limits),
	};
	return x;
}

static int sasl_finish(struct sasl_exchange *x, int ret)
{
	if (ret != 0)
		x->state = SASL_STATE_DONE;
	return ret;
}

static int sasl_plain_response(struct sasl_exchange *x, struct slice b64,
			       struct sasl_result *result_r, struct sasl_error *err_r)
{
	struct sasl_limits limits = { .max_field_len = x->max_field };

	if (sasl_plain_decode(b64, &limits, x->arena, result_r, err_r) < 0)
		return -1;
	return 1;
}

static int sasl_login_user(struct sasl_exchange *x, struct slice b64, struct slice *challenge_r,
			   struct sasl_error *err_r)
{
	char *user;
	size_t len;

	if (sasl_decode(x->arena, b64, x->max_field, &user, &len, err_r) < 0)
		return -1;
	if (sasl_check_field(user, len, x->max_field, false, "Empty user name", err_r) < 0) {
		/* wiped too: users do type passwords into the user name field */
		util_wipe(user, BASE64_DECODED_MAX(b64.len) + 1);
		return -1;
	}
	x->login_user = user;
	x->login_user_len = len;
	x->state = SASL_STATE_LOGIN_PASS;
	*challenge_r = SLICE_LIT(SASL_LOGIN_PASS_CHALLENGE);
	return 0;
}

static int sasl_login_pass(struct sasl_exchange *x, struct slice b64,
			   struct sasl_result *result_r, struct sasl_error *err_r)
{
	char *pw;
	size_t len;

	if (sasl_decode(x->arena, b64, x->max_field, &pw, &len, err_r) < 0)
		return -1;
	if (sasl_check_field(pw, len, x->max_field, false, "Empty password", err_r) < 0) {
		util_wipe(pw, BASE64_DECODED_MAX(b64.len) + 1);
		return -1;
	}
	*result_r = (struct sasl_result){
		.authzid = "",
		.authcid = x->login_user,
		.authcid_len = x->login_user_len,
		.password = pw,
		.password_len = len,
		.secret = pw,
		.secret_size = BASE64_DECODED_MAX(b64.len) + 1,
	};
	return 1;
}

int sasl_exchange_start(struct sasl_exchange *x, const struct slice *ir,
			struct slice *challenge_r, struct sasl_result *result_r,
			struct sasl_error *err_r)
{
	struct slice resp = { 0 };

	if (x->state != SASL_STATE_INIT)
		return sasl_fail(err_r, SASL_ERR_STATE, "Exchange already started");
	/* RFC 4959: "=" is a zero-length initial response */
	if (ir != NULL)
		resp = ir->len == 1 && ir->ptr[0] == '=' ? SLICE_LIT("") : *ir;
	switch (x->mech) {
	case SASL_MECH_PLAIN:
		if (ir == NULL) {
			x->state = SASL_STATE_PLAIN_RESPONSE;
			*challenge_r = SLICE_LIT("");
			return 0;
		}
		return sasl_finish(x, sasl_plain_response(x, resp, result_r, err_r));
	case SASL_MECH_LOGIN:
		if (ir == NULL) {
			x->state = SASL_STATE_LOGIN_USER;
			*challenge_r = SLICE_LIT(SASL_LOGIN_USER_CHALLENGE);
			return 0;
		}
		return sasl_finish(x, sasl_login_user(x, resp, challenge_r, err_r));
	case SASL_MECH_COUNT:
		break;
	}
	x->state = SASL_STATE_DONE;
	return sasl_fail(err_r, SASL_ERR_STATE, "Unknown mechanism");
}

int sasl_exchange_step(struct sasl_exchange *x, struct slice response,
		       struct slice *challenge_r, struct sasl_result *result_r,
		       struct sasl_error *err_r)
{
	if (x->state == SASL_STATE_INIT || x->state == SASL_STATE_DONE)
		return sasl_fail(err_r, SASL_ERR_STATE, "No challenge outstanding");
	/* RFC 9051 6.2.2, RFC 4954 4, RFC 5034 4: a lone "*" cancels */
	if (response.len == 1 && response.ptr[0] == '*') {
		x->state = SASL_STATE_DONE;
		return sasl_fail(err_r, SASL_ERR_CANCELLED, "Authentication cancelled");
	}
	switch (x->state) {
	case SASL_STATE_PLAIN_RESPONSE:
		return sasl_finish(x, sasl_plain_response(x, response, result_r, err_r));
	case SASL_STATE_LOGIN_USER:
		return sasl_finish(x, sasl_login_user(x, response, challenge_r, err_r));
	case SASL_STATE_LOGIN_PASS:
		return sasl_finish(x, sasl_login_pass(x, response, result_r, err_r));
	case SASL_STATE_INIT:
	case SASL_STATE_DONE:
		break;
	}
	return sasl_fail(err_r, SASL_ERR_STATE, "No challenge outstanding");
}

/* ---- login names ---- */

static bool sasl_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool sasl_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext plus '.', and UTF-8 (RFC 6531) */
static bool sasl_is_local_char(unsigned char c)
{
	return sasl_is_alnum(c) || c >= 0x80 ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

static bool sasl_is_domain_char(unsigned char c)
{
	return sasl_is_alnum(c) || c >= 0x80 || c == '-' || c == '_';
}

static bool sasl_domain_valid(const char *d, size_t len)
{
	bool label_empty = true;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label_empty)
				return false;
			label_empty = true;
		} else if (sasl_is_domain_char(c)) {
			label_empty = false;
		} else {
			return false;
		}
	}
	return !label_empty;
}

/* Name-wide checks of step 1: UTF-8, no control, space or quote. */
static int sasl_login_chars(struct slice s, const char **error_r)
{
	if (s.len == 0) {
		*error_r = "Empty login name";
		return -1;
	}
	if (s.len > SASL_LOGIN_NAME_MAX) {
		*error_r = "Login name too long";
		return -1;
	}
	if (!sasl_utf8_valid(s.ptr, s.len)) {
		*error_r = "Login name is not valid UTF-8";
		return -1;
	}
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];

		if (c < 0x20 || c == 0x7f || c == ' ' || c == '"') {
			*error_r = "Invalid character in login name";
			return -1;
		}
	}
	return 0;
}

static size_t sasl_count(struct slice s, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < s.len; i++)
		n += s.ptr[i] == c;
	return n;
}

/* Does s end in sep + master, with an address (one '@') before it? */
static bool sasl_has_master_suffix(struct slice s, char sep, const char *master, size_t mlen,
				   struct slice *target_r, struct slice *suffix_r)
{
	struct slice target;

	if (s.len <= mlen + 1 || s.ptr[s.len - mlen - 1] != sep)
		return false;
	if (!util_mem_equal_ct(s.ptr + s.len - mlen, mlen, master, mlen))
		return false;
	target = slice_from(s.ptr, s.len - mlen - 1);
	if (sasl_count(target, '@') != 1)
		return false;
	*target_r = target;
	*suffix_r = slice_from(s.ptr + s.len - mlen, mlen);
	return true;
}

/* Step 2-4: split off a master suffix. */
static int sasl_login_split(struct slice s, const char *master, struct slice *target_r,
			    struct sasl_login_name *name_r, struct slice *suffix_r,
			    const char **error_r)
{
	size_t mlen = master == NULL ? 0 : strlen(master), ats;

	if (mlen > 0 && sasl_has_master_suffix(s, '@', master, mlen, target_r, suffix_r)) {
		name_r->form = SASL_MASTER_AT;
		name_r->is_master = true;
		return 0;
	}
	if (mlen > 0 && sasl_has_master_suffix(s, '~', master, mlen, target_r, suffix_r)) {
		name_r->form = SASL_MASTER_TILDE;
		name_r->is_master = true;
		return 0;
	}
	ats = sasl_count(s, '@');
	if (ats == 2) {
		const char *last = memrchr(s.ptr, '@', s.len);

		*target_r = slice_from(s.ptr, (size_t)(last - s.ptr));
		*suffix_r = slice_from(last + 1, s.len - target_r->len - 1);
		if (suffix_r->len == 0) {
			*error_r = "Empty master user name";
			return -1;
		}
		name_r->form = SASL_MASTER_AT;
		return 0;
	}
	if (ats != 1) {
		*error_r = ats == 0 ? "Login name is not an address" : "Too many '@' in login name";
		return -1;
	}
	*target_r = s;
	return 0;
}

static int sasl_address_parse(struct slice addr, struct arena *a, struct sasl_login_name *name_r,
			      const char **error_r)
{
	const char *at = memchr(addr.ptr, '@', addr.len);
	size_t local_len = (size_t)(at - addr.ptr), base_len;
	struct slice domain = slice_from(at + 1, addr.len - local_len - 1);
	const char *plus;
	char *out;

	if (addr.len > SASL_ADDRESS_MAX) {
		*error_r = "Address too long";
		return -1;
	}
	for (size_t i = 0; i < local_len; i++) {
		if (!sasl_is_local_char((unsigned char)addr.ptr[i])) {
			*error_r = "Invalid character in local part";
			return -1;
		}
	}
	if (!sasl_domain_valid(domain.ptr, domain.len)) {
		*error_r = "Invalid domain";
		return -1;
	}
	plus = memchr(addr.ptr, '+', local_len);
	base_len = plus == NULL ? local_len : (size_t)(plus - addr.ptr);
	if (base_len == 0) {
		*error_r = "Empty local part";
		return -1;
	}
	if (plus != NULL)
		name_r->detail = arena_strndup(a, plus + 1, local_len - base_len - 1);
	out = arena_alloc(a, base_len + 1 + domain.len + 1);
	memcpy(out, addr.ptr, base_len);
	out[base_len] = '@';
	memcpy(out + base_len + 1, domain.ptr, domain.len);
	for (char *p = out; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	name_r->address = out;
	return 0;
}

int sasl_login_name_parse(struct slice login, const char *master_username, struct arena *a,
			  struct sasl_login_name *name_r, const char **error_r)
{
	struct sasl_login_name name = { .form = SASL_MASTER_NONE };
	struct slice s = login, target, suffix = { 0 };

	while (s.len > 0 && sasl_is_space((unsigned char)s.ptr[0])) {
		s.ptr++;
		s.len--;
	}
	while (s.len > 0 && sasl_is_space((unsigned char)s.ptr[s.len - 1]))
		s.len--;
	if (sasl_login_chars(s, error_r) < 0 ||
	    sasl_login_split(s, master_username, &target, &name, &suffix, error_r) < 0 ||
	    sasl_address_parse(target, a, &name, error_r) < 0)
		return -1;
	if (name.form != SASL_MASTER_NONE)
		name.suffix = arena_strndup(a, suffix.ptr, suffix.len);
	*name_r = name;
	return 0;
}
