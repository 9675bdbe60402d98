#include "managesieve-scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/arena.h"
#include "../lib/util.h"
#include "../lib/utf8.h"
#include "../store/store.h"

static void ok(struct msieve_result *r)
{
	*r = (struct msieve_result){ .status = MSIEVE_OK };
}

static void no(struct msieve_result *r, const char *code, const char *text)
{
	*r = (struct msieve_result){ .status = MSIEVE_NO, .code = code };
	snprintf(r->text, sizeof(r->text), "%s", text);
}

/* A store failure: NOT_FOUND and EXISTS are the client's, the rest ours. */
static void store_failed(struct msieve_result *r, const struct store_error *err)
{
	switch (err->code) {
	case STORE_NOT_FOUND:
		no(r, "NONEXISTENT", "There is no script by that name");
		break;
	case STORE_EXISTS:
		no(r, "ALREADYEXISTS", "A script by that name already exists");
		break;
	case STORE_INVALID:
		no(r, NULL, err->msg);
		break;
	default:
		*r = (struct msieve_result){ .status = MSIEVE_TEMPFAIL };
		snprintf(r->text, sizeof(r->text), "%s: %s", store_err_name(err->code), err->msg);
		break;
	}
}

bool msieve_name_valid(const char *name, size_t len, const char **why_r)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i = 0;

	if (len == 0) {
		*why_r = "Script name is empty";
		return false;
	}
	if (len > STORE_SIEVE_NAME_MAX) {
		*why_r = "Script name is too long";
		return false;
	}
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (n == 0) {
			*why_r = "Script name is not valid UTF-8";
			return false;
		}
		/* RFC 5804 §1.6: no Cc, no line or paragraph separator */
		if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) {
			*why_r = "Script name contains a forbidden character";
			return false;
		}
		i += n;
	}
	return true;
}

static uint64_t max_size(const struct msieve_settings *set)
{
	return set->max_script_size != 0 ? set->max_script_size : MSIEVE_MAX_SCRIPT_SIZE_DEFAULT;
}

static uint32_t max_scripts(const struct msieve_settings *set)
{
	return set->max_scripts != 0 ? set->max_scripts : MSIEVE_MAX_SCRIPTS_DEFAULT;
}

static bool name_ok(const char *name, struct msieve_result *r)
{
	const char *why;

	if (msieve_name_valid(name, strlen(name), &why))
		return true;
	no(r, NULL, why);
	return false;
}

void msieve_script_check(const struct msieve_settings *set, const char *text, size_t len,
			 struct msieve_result *r)
{
	struct sieve_limits limits = { .max_script_size = (size_t)max_size(set) };
	struct sieve_script *script = NULL;
	struct sieve_error err = { 0 };

	if (len > max_size(set)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "Script is larger than %llu bytes",
			 (unsigned long long)max_size(set));
		no(r, "QUOTA/MAXSIZE", msg);
		return;
	}
	/* the store keeps text; RFC 5228 §2.1 scripts are UTF-8 */
	if (memchr(text, '\0', len) != NULL) {
		no(r, NULL, "Script contains a NUL byte");
		return;
	}
	if (sieve_compile(text, len, set->extensions, &limits, &script, &err) < 0) {
		no(r, NULL, err.msg[0] != '\0' ? err.msg : "Script does not compile");
		return;
	}
	sieve_script_free(&script);
	ok(r);
}

/* QUOTA/MAXSCRIPTS when name is new and the account is full. */
static bool count_ok(struct store *st, int64_t account_id, const struct msieve_settings *set,
		     const char *name, struct msieve_result *r)
{
	struct arena *a = arena_new(4096);
	struct store_sieve_script *list;
	struct store_error err;
	size_t count;
	bool exists = false, fits;

	if (store_sieve_list(st, account_id, a, &list, &count, &err) < 0) {
		store_failed(r, &err);
		arena_free(&a);
		return false;
	}
	for (size_t i = 0; i < count; i++)
		exists = exists || strcmp(list[i].name, name) == 0;
	fits = exists || count < max_scripts(set);
	arena_free(&a);
	if (!fits) {
		char msg[96];

		snprintf(msg, sizeof(msg), "At most %u scripts per account", max_scripts(set));
		no(r, "QUOTA/MAXSCRIPTS", msg);
	}
	return fits;
}

void msieve_script_put(struct store *st, int64_t account_id, const struct msieve_settings *set,
		       const char *name, const char *text, size_t len, struct msieve_result *r)
{
	struct store_error err;
	char *copy;

	if (!name_ok(name, r))
		return;
	msieve_script_check(set, text, len, r);
	if (r->status != MSIEVE_OK || !count_ok(st, account_id, set, name, r))
		return;
	/* text has no NUL (checked): the store takes a C string */
	copy = xstrndup(text, len);
	if (store_sieve_put(st, account_id, name, copy, &err) < 0)
		store_failed(r, &err);
	else
		ok(r);
	free(copy);
}

void msieve_script_havespace(struct store *st, int64_t account_id,
			     const struct msieve_settings *set, const char *name, uint64_t size,
			     struct msieve_result *r)
{
	if (!name_ok(name, r))
		return;
	if (size > max_size(set)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "Script is larger than %llu bytes",
			 (unsigned long long)max_size(set));
		no(r, "QUOTA/MAXSIZE", msg);
		return;
	}
	if (count_ok(st, account_id, set, name, r))
		ok(r);
}

void msieve_script_activate(struct store *st, int64_t account_id, const char *name,
			    struct msieve_result *r)
{
	struct store_error err;

	if (name[0] != '\0' && !name_ok(name, r))
		return;
	if (store_sieve_activate(st, account_id, name[0] != '\0' ? name : NULL, &err) < 0)
		store_failed(r, &err);
	else
		ok(r);
}

void msieve_script_delete(struct store *st, int64_t account_id, const char *name,
			  struct msieve_result *r)
{
	struct store_error err;

	if (!name_ok(name, r))
		return;
	if (store_sieve_delete(st, account_id, name, &err) == 0) {
		ok(r);
	} else if (err.code == STORE_INVALID) {
		/* the name is valid (checked above): it is the active script */
		no(r, "ACTIVE", "You may not delete an active script");
	} else {
		store_failed(r, &err);
	}
}

void msieve_script_rename(struct store *st, int64_t account_id, const char *old_name,
			  const char *new_name, struct msieve_result *r)
{
	struct store_error err;

	if (!name_ok(old_name, r) || !name_ok(new_name, r))
		return;
	if (store_sieve_rename(st, account_id, old_name, new_name, &err) < 0)
		store_failed(r, &err);
	else
		ok(r);
}

void msieve_script_get(struct store *st, int64_t account_id, const char *name, struct arena *a,
		       const char **content_r, struct msieve_result *r)
{
	struct store_sieve_script script;
	struct store_error err;

	if (!name_ok(name, r))
		return;
	if (store_sieve_get(st, account_id, name, a, &script, &err) < 0) {
		store_failed(r, &err);
		return;
	}
	*content_r = script.content != NULL ? script.content : "";
	ok(r);
}

void msieve_script_list(struct store *st, int64_t account_id, struct arena *a,
			struct store_sieve_script **scripts_r, size_t *count_r,
			struct msieve_result *r)
{
	struct store_error err;

	if (store_sieve_list(st, account_id, a, scripts_r, count_r, &err) < 0)
		store_failed(r, &err);
	else
		ok(r);
}
