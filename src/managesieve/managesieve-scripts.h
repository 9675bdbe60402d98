#ifndef SORA_MANAGESIEVE_SCRIPTS_H
#define SORA_MANAGESIEVE_SCRIPTS_H

/* What PUTSCRIPT, CHECKSCRIPT, HAVESPACE, SETACTIVE, DELETESCRIPT,
   RENAMESCRIPT, GETSCRIPT and LISTSCRIPTS do to an account's scripts, as
   one code path for the ManageSieve server and `sora-admin sieve`:
   - names follow RFC 5804 §1.6 (non-empty UTF-8, no control characters,
     no U+2028/U+2029) and STORE_SIEVE_NAME_MAX;
   - a script is at most max_script_size bytes (Sora: 16 KiB), must compile
     with the Sieve engine restricted to the enabled extensions, and an
     account holds at most max_scripts scripts (Sora: 100);
   - at most one script is active (the store's partial unique index).
   The outcome is a struct msieve_result that maps one-to-one onto a
   ManageSieve reply: OK, NO with an RFC 5804 response code and the
   engine's or the store's text, or a temporary failure to log.

   Blocking (SQL, compiling): call from a worker thread or a CLI. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../sieve/sieve.h"

struct arena;
struct store;
struct store_sieve_script;

#define MSIEVE_MAX_SCRIPT_SIZE_DEFAULT (16 * 1024)
#define MSIEVE_MAX_SCRIPTS_DEFAULT 100

struct msieve_settings {
	/* NULL-terminated; NULL = the engine's default set */
	const char *const *extensions;
	uint64_t max_script_size; /* 0 = MSIEVE_MAX_SCRIPT_SIZE_DEFAULT */
	uint32_t max_scripts;     /* 0 = MSIEVE_MAX_SCRIPTS_DEFAULT */
};

enum msieve_status {
	MSIEVE_OK,
	MSIEVE_NO,       /* the client's request cannot be done: code + text */
	MSIEVE_TEMPFAIL, /* the store failed: text is for the log only */
};

struct msieve_result {
	enum msieve_status status;
	/* RFC 5804 §1.3 response code for NO, or NULL: "QUOTA/MAXSIZE",
	   "QUOTA/MAXSCRIPTS", "NONEXISTENT", "ALREADYEXISTS", "ACTIVE" */
	const char *code;
	char text[SIEVE_ERROR_MAX + 64];
};

/* RFC 5804 §1.6 script name; *why_r (static) when not valid. */
bool msieve_name_valid(const char *name, size_t len, const char **why_r);

void msieve_script_check(const struct msieve_settings *set, const char *text, size_t len,
			 struct msieve_result *r);
/* Name check, msieve_script_check(), the script-count quota, then store
   (replacing a script of that name; its active state is kept). */
void msieve_script_put(struct store *st, int64_t account_id, const struct msieve_settings *set,
		       const char *name, const char *text, size_t len, struct msieve_result *r);
/* RFC 5804 §2.5: would a script of this size under this name fit? */
void msieve_script_havespace(struct store *st, int64_t account_id,
			     const struct msieve_settings *set, const char *name, uint64_t size,
			     struct msieve_result *r);
/* name "" deactivates every script (RFC 5804 §2.8). */
void msieve_script_activate(struct store *st, int64_t account_id, const char *name,
			    struct msieve_result *r);
void msieve_script_delete(struct store *st, int64_t account_id, const char *name,
			  struct msieve_result *r);
void msieve_script_rename(struct store *st, int64_t account_id, const char *old_name,
			  const char *new_name, struct msieve_result *r);
/* *content_r lives in a. */
void msieve_script_get(struct store *st, int64_t account_id, const char *name, struct arena *a,
		       const char **content_r, struct msieve_result *r);
void msieve_script_list(struct store *st, int64_t account_id, struct arena *a,
			struct store_sieve_script **scripts_r, size_t *count_r,
			struct msieve_result *r);

#endif
