#ifndef SORA_SIEVE_SIEVE_PRIVATE_H
#define SORA_SIEVE_SIEVE_PRIVATE_H

/* Shared between the files of src/sieve: the AST the parser builds, the
   validated form the interpreter walks, the match engine and the message
   view. Everything of a script lives in its arena and is read-only after
   sieve_compile(), so one compiled script may run in several threads. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/str.h"
#include "sieve.h"

enum sv_ext {
	EXT_FILEINTO,
	EXT_REJECT,
	EXT_EREJECT,
	EXT_ENVELOPE,
	EXT_ENCODED_CHARACTER,
	EXT_VACATION,
	EXT_VACATION_SECONDS,
	EXT_SUBADDRESS,
	EXT_CMP_OCTET,
	EXT_CMP_ASCIICASE,
	EXT_CMP_NUMERIC,
	EXT_CMP_UNICODE,
	EXT_RELATIONAL,
	EXT_REGEX,
	EXT_IMAP4FLAGS,
	EXT_COPY,
	EXT_INCLUDE,
	EXT_BODY,
	EXT_VARIABLES,
	EXT_ENVIRONMENT,
	EXT_MAILBOX,
	EXT_DATE,
	EXT_INDEX,
	EXT_IHAVE,
	EXT_DUPLICATE,
	EXT_SPECIAL_USE,
	EXT_MAILBOXID,
	EXT_EDITHEADER,
	EXT_COUNT
};
#define EXT_BIT(e) (UINT64_C(1) << (e))
#define EXT_NONE EXT_COUNT /* "needs no extension" in tables */

extern const char *const sv_ext_names[EXT_COUNT];
/* index into sv_ext_names, or -1 */
int sv_ext_lookup(const char *name, size_t len);

/* ---- AST ---- */

enum sv_argk { SV_ARG_NUM, SV_ARG_STR, SV_ARG_LIST, SV_ARG_TAG };

struct sv_str {
	const char *s; /* NUL-terminated (scripts may not hold NUL) */
	size_t len;
	bool has_var;  /* contains "${": expanded at run time with variables */
};

struct sv_arg {
	enum sv_argk kind;
	unsigned int line, col;
	uint64_t num;      /* NUM */
	const char *tag;   /* TAG, without ':' */
	struct sv_str *strs; /* STR (n == 1) and LIST */
	size_t n;
};

enum sv_cmd {
	CMD_UNKNOWN,
	/* commands */
	CMD_REQUIRE, CMD_IF, CMD_ELSIF, CMD_ELSE, CMD_STOP, CMD_KEEP, CMD_DISCARD,
	CMD_REDIRECT, CMD_FILEINTO, CMD_REJECT, CMD_EREJECT, CMD_VACATION,
	CMD_SETFLAG, CMD_ADDFLAG, CMD_REMOVEFLAG, CMD_SET, CMD_ADDHEADER,
	CMD_DELETEHEADER, CMD_INCLUDE, CMD_RETURN, CMD_GLOBAL, CMD_ERROR,
	/* tests */
	TEST_FIRST,
	TEST_ADDRESS = TEST_FIRST, TEST_ALLOF, TEST_ANYOF, TEST_ENVELOPE, TEST_EXISTS,
	TEST_FALSE, TEST_TRUE, TEST_HEADER, TEST_NOT, TEST_SIZE, TEST_BODY, TEST_DATE,
	TEST_CURRENTDATE, TEST_STRING, TEST_HASFLAG, TEST_MAILBOXEXISTS,
	TEST_SPECIALUSE_EXISTS, TEST_MAILBOXIDEXISTS, TEST_DUPLICATE,
	TEST_ENVIRONMENT, TEST_IHAVE, TEST_VALID_EXT_LIST,
};

enum sv_match { MATCH_IS, MATCH_CONTAINS, MATCH_MATCHES, MATCH_REGEX, MATCH_COUNT, MATCH_VALUE };
enum sv_relop { REL_GT, REL_GE, REL_LT, REL_LE, REL_EQ, REL_NE };
enum sv_cmp { CMP_OCTET, CMP_ASCIICASE, CMP_NUMERIC, CMP_UNICODE };
enum sv_addrpart { AP_ALL, AP_LOCALPART, AP_DOMAIN, AP_USER, AP_DETAIL };
enum sv_transform { BT_TEXT, BT_RAW, BT_CONTENT };
enum sv_zone { ZONE_LOCAL, ZONE_GIVEN, ZONE_ORIGINAL };

enum sv_setmod {
	MOD_LOWER = 1 << 0, MOD_UPPER = 1 << 1, MOD_LOWERFIRST = 1 << 2,
	MOD_UPPERFIRST = 1 << 3, MOD_QUOTEWILDCARD = 1 << 4, MOD_QUOTEREGEX = 1 << 5,
	MOD_LENGTH = 1 << 6,
};

/* Tagged arguments after validation. */
struct sv_opts {
	enum sv_match match;
	enum sv_relop relop;
	enum sv_cmp cmp;
	enum sv_addrpart addrpart;
	enum sv_transform transform;
	enum sv_zone zone_kind;
	const struct sv_arg *zone, *content_types;
	unsigned int index;
	bool last, copy, create, over, has_size_tag, mime, once, optional, global;
	bool has_seconds;
	uint64_t seconds;
	const struct sv_arg *flags, *specialuse, *mailboxid, *subject, *from, *addresses,
		*handle, *header, *uniqueid;
	unsigned int modifiers;
};

struct sv_node {
	const char *name;
	unsigned int line, col;
	struct sv_arg *args;
	size_t nargs;
	struct sv_node **tests;
	size_t ntests;
	bool test_list;         /* tests were given as ( ... ) */
	bool has_block;
	struct sv_node *block;  /* first command of the block */
	struct sv_node *next;
	/* filled by the validator */
	enum sv_cmd id;
	struct sv_opts o;
	const struct sv_arg *pos[4]; /* positional arguments */
	size_t npos;
	bool dead; /* inside `if ihave` of an unknown extension: never runs */
};

struct sieve_script {
	struct arena *arena;
	struct sv_node *root;
	uint64_t enabled;  /* extensions a require may name */
	uint64_t required; /* what the script required */
	struct sieve_limits limits;
	atomic_uint refs;
};

/* Effective limits (zeros replaced by defaults, time clamped). */
void sv_limits_norm(const struct sieve_limits *in, struct sieve_limits *out);

/* ---- parser (sieve-parse.c) ---- */
int sv_parse(struct arena *a, const char *text, size_t len, unsigned int max_nesting,
	     struct sv_node **root_r, struct sieve_error *err);
void sv_error(struct sieve_error *err, unsigned int line, unsigned int col, const char *fmt,
	      ...) PRINTF_FMT(4, 5);

/* ---- validator (sieve-validate.c) ---- */
int sv_validate(struct sieve_script *s, struct sieve_error *err);

/* ---- matching (sieve-match.c) ---- */

struct sv_run;

/* Compare a and b with a comparator: <0, 0, >0. */
int sv_cmp_order(enum sv_cmp cmp, struct slice a, struct slice b);
/* RFC 5231 relational result of order */
bool sv_relop_holds(enum sv_relop op, int order);
/* One value against one key (is/contains/matches/regex/value). captures
   (10 slots) is filled on success with :matches / :regex when not NULL;
   -1 = run-time error (time limit, bad regex). */
int sv_match_one(struct sv_run *r, const struct sv_opts *o, struct slice value, struct slice key,
		 struct arena *a, const char **captures, int *ncap);
/* Whether a :regex key compiles (validator, constant keys). */
bool sv_regex_valid(const char *pattern, size_t len, bool icase, const char **error_r);
/* i;unicode-casemap folded copy (NFKD + casefold) */
struct slice sv_unicode_fold(struct slice s, struct arena *a);
bool sv_deadline_passed(struct sv_run *r);
void sv_run_fail(struct sv_run *r, const char *fmt, ...) PRINTF_FMT(2, 3);

/* ---- message view (sieve-msg.c) ---- */

struct sv_field {
	const char *name;  /* as written */
	const char *value; /* unfolded as Dovecot does (folding blank = one
			      space), outer blanks trimmed, not decoded */
	const char *raw;   /* CRLFs removed, blanks kept, outer blanks trimmed:
			      what deleteheader edits name (sieve.h) */
};

struct sv_msgview {
	struct sv_field *fields;
	size_t count, cap;
	const char *body; /* raw body after the blank line */
	size_t body_len;
};

void sv_msg_index(struct sv_msgview *v, const char *data, size_t len, struct arena *a);
struct mime_part;
/* The MIME structure for the body test, parsed once per run (NULL when
   the message cannot be parsed). */
const struct mime_part *sv_msg_structure(const char *data, size_t len, struct arena *a);
/* Decoded text of body parts matching content types (text_only: :text).
   Each element of *parts_r is one part; at most max_bytes in total. */
size_t sv_msg_body_parts(const char *data, size_t len, const struct mime_part *root,
			 const struct sv_str *types, size_t ntypes, bool text_only,
			 size_t max_bytes, struct arena *a, struct slice **parts_r);
/* Split "local@domain" style address into parts; false when the part
   does not exist (no detail). sep: subaddress separator. */
bool sv_address_part(const char *local, const char *domain, enum sv_addrpart part,
		     struct arena *a, const char **out_r);
/* RFC 5260 date part of t (UTC seconds) shown in zone tz (minutes east);
   NULL when part is unknown. */
const char *sv_date_part(int64_t t, int tz, const char *part, struct arena *a);
bool sv_date_part_known(const char *part);
/* "+hhmm" / "-hhmm" → minutes; -1 when invalid. */
int sv_zone_parse(const char *z, int *min_r);

#endif
