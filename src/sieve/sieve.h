#ifndef SORA_SIEVE_SIEVE_H
#define SORA_SIEVE_SIEVE_H

/* Sieve (RFC 5228 and extensions): compile a script once, run it against a
   parsed message, get back the list of actions to perform. The engine
   performs nothing itself: no storage, no network. Delivery (src/deliver)
   turns actions into stores, relay-queue entries and replies; ManageSieve
   uses sieve_compile() to validate PUTSCRIPT / CHECKSCRIPT.

   Thread-safe: a compiled script is read-only and may be run by several
   threads at once. Bounded: script size, nesting depth, variable size,
   action count and run time are limited (struct sieve_limits), so a
   hostile script or message cannot stall delivery. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sieve_script;

#define SIEVE_ERROR_MAX 512

struct sieve_error {
	unsigned int line;   /* 1-based; 0 when not tied to a position */
	unsigned int column; /* 1-based */
	char msg[SIEVE_ERROR_MAX]; /* "line 3, column 7: unknown command \"filinto\"" */
};

struct sieve_limits {
	size_t max_script_size;       /* 0 = 1 MiB */
	unsigned int max_nesting;     /* 0 = 32 */
	size_t max_variable_size;     /* 0 = 4096 (RFC 5229 minimum) */
	unsigned int max_actions;     /* 0 = 32 */
	unsigned int max_redirects;   /* 0 = 4 */
	uint64_t max_execution_ms;    /* 0 = 2000; clamped to 100 ms – 60 s */
};

/* Every extension the engine implements, space-separated, in the order
   ManageSieve lists them in its "SIEVE" capability. */
const char *sieve_extensions_all(void);
/* Sora's default enabled set ([sieve] enabled_extensions = []): Sora's 19
   minus editheader. The Pigeonhole extensions we add (reject ereject
   include duplicate environment ihave vacation-seconds special-use
   mailboxid) and editheader must be listed in enabled_extensions. */
const char *sieve_extensions_default(void);
/* false when name is not an extension this engine implements. */
bool sieve_extension_known(const char *name);

/* Parses and validates text (len bytes, need not be NUL-terminated).
   enabled: NULL-terminated list of extensions a `require` may name (NULL
   = sieve_extensions_default()). 0 with *script_r set, or -1 with err
   filled: syntax errors, unknown commands/tests/tags, wrong argument
   types, `require` of a disabled or unknown extension, limits. */
int sieve_compile(const char *text, size_t len, const char *const *enabled,
		  const struct sieve_limits *limits, struct sieve_script **script_r,
		  struct sieve_error *err);
/* Drops a reference (scripts from the cache are shared); accepts NULL. */
void sieve_script_free(struct sieve_script **script);

/* sieve_compile() through a process-wide cache keyed by SHA-256 of the
   text, the enabled set and the limits (thread-safe, 128 scripts, least
   recently used evicted). Errors are not cached. Free the script with
   sieve_script_free() as usual. */
int sieve_compile_cached(const char *text, size_t len, const char *const *enabled,
			 const struct sieve_limits *limits, struct sieve_script **script_r,
			 struct sieve_error *err);
/* Empties the cache (tests, shutdown). */
void sieve_cache_clear(void);

/* ---- running ---------------------------------------------------------- */

/* The message and its envelope as delivery sees it. */
struct sieve_message {
	const char *data;          /* the whole message, headers + body */
	size_t len;
	const char *envelope_from; /* MAIL FROM, "" for the null sender */
	const char *envelope_to;   /* RCPT TO as given, +detail kept */
	const char *auth_user;     /* "" when none */
	int64_t now;               /* Unix seconds, for currentdate / vacation */
	const char *local_tz;      /* currentdate zone, e.g. "+0000"; NULL = UTC */
};

/* What the engine asks of its host while running. Every callback may be
   NULL (then: mailboxexists false, duplicate false, no addresses). */
struct sieve_env {
	void *ctx;
	/* RFC 5490 mailboxexists / specialuse_exists */
	bool (*mailbox_exists)(void *ctx, const char *name);
	/* RFC 7352 duplicate: true when id was seen within seconds; the
	   engine calls it once per test and the host records id. */
	bool (*duplicate_check)(void *ctx, const char *id, uint64_t seconds);
	/* The account's own addresses (vacation: is the message addressed to
	   us? may :from be used?). NULL-terminated, lower-case. */
	const char *const *own_addresses;
	/* environment extension (RFC 5183) "domain", "host", "name", ... */
	const char *env_domain, *env_host;
	/* include (RFC 6609): fetch a personal or global script's text; NULL
	   when none. The engine compiles it with the same limits. */
	const char *(*include_fetch)(void *ctx, const char *name, bool global, size_t *len_r);
	/* RFC 8579 specialuse_exists: mailbox NULL = any mailbox has flag */
	bool (*specialuse_exists)(void *ctx, const char *mailbox, const char *flag);
	/* RFC 9042 mailboxidexists */
	bool (*mailboxid_exists)(void *ctx, const char *id);
};

enum sieve_action_type {
	SIEVE_ACT_KEEP,       /* store in INBOX (explicit or implicit keep) */
	SIEVE_ACT_FILEINTO,   /* store in mailbox */
	SIEVE_ACT_DISCARD,    /* cancels implicit keep; nothing stored */
	SIEVE_ACT_REDIRECT,   /* send to address (relay) */
	SIEVE_ACT_VACATION,   /* send an auto-reply */
	SIEVE_ACT_REJECT,     /* refuse: LMTP 550 with reason (reject/ereject) */
};

struct sieve_action {
	enum sieve_action_type type;
	/* KEEP / FILEINTO */
	const char *mailbox;       /* FILEINTO: UTF-8 name; KEEP: "INBOX" */
	bool create;               /* :create (RFC 5490) */
	const char *special_use;   /* :specialuse "\\Junk" (RFC 8579), or NULL */
	const char *mailboxid;     /* :mailboxid (RFC 9042), or NULL */
	const char *const *flags;  /* imap4flags, NULL-terminated; NULL = none */
	/* REDIRECT */
	const char *address;
	bool copy;                 /* :copy (RFC 3894) */
	/* VACATION (RFC 5230/6131): the host builds the MIME reply */
	const char *vacation_reason;   /* body text, or full MIME with :mime */
	bool vacation_mime;
	const char *vacation_subject;  /* NULL = "Auto: " + original subject */
	const char *vacation_from;     /* NULL = the recipient */
	const char *vacation_handle;   /* NULL = derived from reason/subject/from */
	uint64_t vacation_seconds;     /* :days * 86400 or :seconds; default 7 days */
	const char *vacation_to;       /* who gets the reply (return path) */
	/* REJECT / EREJECT */
	const char *reason;
	bool ereject;
	/* VACATION :addresses (more of the user's addresses), NULL-terminated,
	   or NULL */
	const char *const *vacation_addresses;
};

/* Header edits (editheader, RFC 5293) to apply to the stored copies, in
   order; never touching Received or Auto-Submitted. */
struct sieve_header_edit {
	bool add;          /* addheader; false = deleteheader */
	bool last;         /* addheader :last */
	const char *name;
	const char *value; /* add: value; delete: NULL = every occurrence,
			      else the occurrence(s) whose raw unfolded value
			      equals this (the engine already applied :index and
			      match patterns) */
	unsigned int index;  /* deleteheader :index n (0 = any) */
	bool index_last;
};

struct sieve_result {
	struct sieve_action *actions; /* in order, duplicates collapsed */
	size_t action_count;
	struct sieve_header_edit *edits;
	size_t edit_count;
	bool implicit_keep;  /* implicit keep still in force (already in actions as KEEP) */
	bool failed;         /* run-time error or limit hit: actions = one KEEP */
	char error[SIEVE_ERROR_MAX]; /* why, when failed (for the log) */
	struct sieve_result_mem *mem; /* owned; free with sieve_result_free() */
};

/* Runs script on msg. Never fails in a way that loses mail: on a run-time
   error or limit, result->failed is set and the only action is KEEP
   (RFC 5228 §2.10.6). */
void sieve_execute(const struct sieve_script *script, const struct sieve_message *msg,
		   const struct sieve_env *env, const struct sieve_limits *limits,
		   struct sieve_result *result);
void sieve_result_free(struct sieve_result *result);

#endif
