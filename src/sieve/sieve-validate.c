/* Validator: which commands and tests exist, which tagged and positional
   arguments each takes (RFC 5228 and the extension RFCs), and which
   extension must be required for it. Also sieve_compile(), the extension
   lists and the compiled-script cache. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/utf8.h"
#include "sieve-private.h"

/* In the order ManageSieve lists them ("SIEVE" capability). */
const char *const sv_ext_names[EXT_COUNT] = {
	[EXT_FILEINTO] = "fileinto",
	[EXT_REJECT] = "reject",
	[EXT_EREJECT] = "ereject",
	[EXT_ENVELOPE] = "envelope",
	[EXT_ENCODED_CHARACTER] = "encoded-character",
	[EXT_VACATION] = "vacation",
	[EXT_VACATION_SECONDS] = "vacation-seconds",
	[EXT_SUBADDRESS] = "subaddress",
	[EXT_CMP_OCTET] = "comparator-i;octet",
	[EXT_CMP_ASCIICASE] = "comparator-i;ascii-casemap",
	[EXT_CMP_NUMERIC] = "comparator-i;ascii-numeric",
	[EXT_CMP_UNICODE] = "comparator-i;unicode-casemap",
	[EXT_RELATIONAL] = "relational",
	[EXT_REGEX] = "regex",
	[EXT_IMAP4FLAGS] = "imap4flags",
	[EXT_COPY] = "copy",
	[EXT_INCLUDE] = "include",
	[EXT_BODY] = "body",
	[EXT_VARIABLES] = "variables",
	[EXT_ENVIRONMENT] = "environment",
	[EXT_MAILBOX] = "mailbox",
	[EXT_DATE] = "date",
	[EXT_INDEX] = "index",
	[EXT_IHAVE] = "ihave",
	[EXT_DUPLICATE] = "duplicate",
	[EXT_SPECIAL_USE] = "special-use",
	[EXT_MAILBOXID] = "mailboxid",
	[EXT_EDITHEADER] = "editheader",
};

/* Sora's default enabled set ([sieve] enabled_extensions = []): the 19
   extensions of its engine minus editheader. What we implement beyond
   Sora (reject, include, duplicate, ...) is one config line away. */
static bool ext_in_default(int e)
{
	switch (e) {
	case EXT_REJECT:
	case EXT_EREJECT:
	case EXT_VACATION_SECONDS:
	case EXT_INCLUDE:
	case EXT_ENVIRONMENT:
	case EXT_IHAVE:
	case EXT_DUPLICATE:
	case EXT_SPECIAL_USE:
	case EXT_MAILBOXID:
	case EXT_EDITHEADER:
		return false;
	default:
		return true;
	}
}

static char ext_all_str[1024], ext_default_str[1024];
static pthread_once_t ext_once = PTHREAD_ONCE_INIT;

static void ext_strings_init(void)
{
	size_t a = 0, d = 0;

	for (int i = 0; i < EXT_COUNT; i++) {
		size_t n = strlen(sv_ext_names[i]);

		if (a > 0)
			ext_all_str[a++] = ' ';
		memcpy(ext_all_str + a, sv_ext_names[i], n);
		a += n;
		if (!ext_in_default(i))
			continue;
		if (d > 0)
			ext_default_str[d++] = ' ';
		memcpy(ext_default_str + d, sv_ext_names[i], n);
		d += n;
	}
	ext_all_str[a] = '\0';
	ext_default_str[d] = '\0';
}

const char *sieve_extensions_all(void)
{
	(void)pthread_once(&ext_once, ext_strings_init);
	return ext_all_str;
}

const char *sieve_extensions_default(void)
{
	(void)pthread_once(&ext_once, ext_strings_init);
	return ext_default_str;
}

int sv_ext_lookup(const char *name, size_t len)
{
	for (int i = 0; i < EXT_COUNT; i++) {
		if (strlen(sv_ext_names[i]) == len && memcmp(sv_ext_names[i], name, len) == 0)
			return i;
	}
	return -1;
}

bool sieve_extension_known(const char *name)
{
	return name != NULL && sv_ext_lookup(name, strlen(name)) >= 0;
}

static uint64_t ext_mask(const char *const *enabled)
{
	uint64_t m = 0;

	if (enabled == NULL) {
		for (int e = 0; e < EXT_COUNT; e++) {
			if (ext_in_default(e))
				m |= EXT_BIT(e);
		}
		return m;
	}
	for (size_t i = 0; enabled[i] != NULL; i++) {
		int e = sv_ext_lookup(enabled[i], strlen(enabled[i]));

		if (e >= 0)
			m |= EXT_BIT(e);
	}
	/* the two comparators every implementation has (RFC 5228 §2.7.3) */
	return m | EXT_BIT(EXT_CMP_OCTET) | EXT_BIT(EXT_CMP_ASCIICASE);
}

void sv_limits_norm(const struct sieve_limits *in, struct sieve_limits *out)
{
	struct sieve_limits z = { 0 };

	if (in == NULL)
		in = &z;
	*out = *in;
	if (out->max_script_size == 0)
		out->max_script_size = 1024 * 1024;
	if (out->max_nesting == 0)
		out->max_nesting = 32;
	if (out->max_variable_size == 0)
		out->max_variable_size = 4096;
	if (out->max_actions == 0)
		out->max_actions = 32;
	if (out->max_redirects == 0)
		out->max_redirects = 4;
	if (out->max_execution_ms == 0)
		out->max_execution_ms = 2000;
	if (out->max_execution_ms < 100)
		out->max_execution_ms = 100;
	if (out->max_execution_ms > 60000)
		out->max_execution_ms = 60000;
}

/* ---- command table ---- */

enum {
	TG_CMP = 1 << 0, TG_MATCH = 1 << 1, TG_ADDR = 1 << 2, TG_INDEX = 1 << 3,
	TG_ZONE = 1 << 4, TG_OZONE = 1 << 5, TG_BODY = 1 << 6, TG_COPY = 1 << 7,
	TG_FLAGS = 1 << 8, TG_MBOX = 1 << 9, TG_SIZE = 1 << 10, TG_VAC = 1 << 11,
	TG_SET = 1 << 12, TG_DUP = 1 << 13, TG_INC = 1 << 14, TG_ADDLAST = 1 << 15,
	TG_DELIDX = 1 << 16,
};

struct cmd_spec {
	const char *name;
	enum sv_cmd id;
	bool is_test;
	enum sv_ext ext, ext2; /* both must be required (EXT_NONE = none) */
	const char *pos;       /* S string, L string list, N number; '?' = rest optional */
	unsigned int tags;
	int tests;             /* 0 none, 1 one test, 2 test list */
	bool block;
};

static const struct cmd_spec cmd_specs[] = {
	{ "require", CMD_REQUIRE, false, EXT_NONE, EXT_NONE, "L", 0, 0, false },
	{ "if", CMD_IF, false, EXT_NONE, EXT_NONE, "", 0, 1, true },
	{ "elsif", CMD_ELSIF, false, EXT_NONE, EXT_NONE, "", 0, 1, true },
	{ "else", CMD_ELSE, false, EXT_NONE, EXT_NONE, "", 0, 0, true },
	{ "stop", CMD_STOP, false, EXT_NONE, EXT_NONE, "", 0, 0, false },
	{ "keep", CMD_KEEP, false, EXT_NONE, EXT_NONE, "", TG_FLAGS, 0, false },
	{ "discard", CMD_DISCARD, false, EXT_NONE, EXT_NONE, "", 0, 0, false },
	{ "redirect", CMD_REDIRECT, false, EXT_NONE, EXT_NONE, "S", TG_COPY, 0, false },
	{ "fileinto", CMD_FILEINTO, false, EXT_FILEINTO, EXT_NONE, "S",
	  TG_COPY | TG_FLAGS | TG_MBOX, 0, false },
	{ "reject", CMD_REJECT, false, EXT_REJECT, EXT_NONE, "S", 0, 0, false },
	{ "ereject", CMD_EREJECT, false, EXT_EREJECT, EXT_NONE, "S", 0, 0, false },
	{ "vacation", CMD_VACATION, false, EXT_VACATION, EXT_NONE, "S", TG_VAC, 0, false },
	{ "setflag", CMD_SETFLAG, false, EXT_IMAP4FLAGS, EXT_NONE, "L?L", 0, 0, false },
	{ "addflag", CMD_ADDFLAG, false, EXT_IMAP4FLAGS, EXT_NONE, "L?L", 0, 0, false },
	{ "removeflag", CMD_REMOVEFLAG, false, EXT_IMAP4FLAGS, EXT_NONE, "L?L", 0, 0, false },
	{ "set", CMD_SET, false, EXT_VARIABLES, EXT_NONE, "SS", TG_SET, 0, false },
	{ "addheader", CMD_ADDHEADER, false, EXT_EDITHEADER, EXT_NONE, "SS", TG_ADDLAST, 0, false },
	{ "deleteheader", CMD_DELETEHEADER, false, EXT_EDITHEADER, EXT_NONE, "S?L",
	  TG_DELIDX | TG_CMP | TG_MATCH, 0, false },
	{ "include", CMD_INCLUDE, false, EXT_INCLUDE, EXT_NONE, "S", TG_INC, 0, false },
	{ "return", CMD_RETURN, false, EXT_INCLUDE, EXT_NONE, "", 0, 0, false },
	{ "global", CMD_GLOBAL, false, EXT_INCLUDE, EXT_VARIABLES, "L", 0, 0, false },
	{ "error", CMD_ERROR, false, EXT_IHAVE, EXT_NONE, "S", 0, 0, false },

	{ "address", TEST_ADDRESS, true, EXT_NONE, EXT_NONE, "LL",
	  TG_CMP | TG_MATCH | TG_ADDR | TG_INDEX, 0, false },
	{ "allof", TEST_ALLOF, true, EXT_NONE, EXT_NONE, "", 0, 2, false },
	{ "anyof", TEST_ANYOF, true, EXT_NONE, EXT_NONE, "", 0, 2, false },
	{ "envelope", TEST_ENVELOPE, true, EXT_ENVELOPE, EXT_NONE, "LL",
	  TG_CMP | TG_MATCH | TG_ADDR, 0, false },
	{ "exists", TEST_EXISTS, true, EXT_NONE, EXT_NONE, "L", 0, 0, false },
	{ "false", TEST_FALSE, true, EXT_NONE, EXT_NONE, "", 0, 0, false },
	{ "true", TEST_TRUE, true, EXT_NONE, EXT_NONE, "", 0, 0, false },
	{ "header", TEST_HEADER, true, EXT_NONE, EXT_NONE, "LL", TG_CMP | TG_MATCH | TG_INDEX,
	  0, false },
	{ "not", TEST_NOT, true, EXT_NONE, EXT_NONE, "", 0, 1, false },
	{ "size", TEST_SIZE, true, EXT_NONE, EXT_NONE, "N", TG_SIZE, 0, false },
	{ "body", TEST_BODY, true, EXT_BODY, EXT_NONE, "L", TG_CMP | TG_MATCH | TG_BODY, 0, false },
	{ "date", TEST_DATE, true, EXT_DATE, EXT_NONE, "SSL",
	  TG_CMP | TG_MATCH | TG_ZONE | TG_OZONE | TG_INDEX, 0, false },
	{ "currentdate", TEST_CURRENTDATE, true, EXT_DATE, EXT_NONE, "SL",
	  TG_CMP | TG_MATCH | TG_ZONE, 0, false },
	{ "string", TEST_STRING, true, EXT_VARIABLES, EXT_NONE, "LL", TG_CMP | TG_MATCH, 0, false },
	{ "hasflag", TEST_HASFLAG, true, EXT_IMAP4FLAGS, EXT_NONE, "L?L", TG_CMP | TG_MATCH, 0,
	  false },
	{ "mailboxexists", TEST_MAILBOXEXISTS, true, EXT_MAILBOX, EXT_NONE, "L", 0, 0, false },
	{ "specialuse_exists", TEST_SPECIALUSE_EXISTS, true, EXT_SPECIAL_USE, EXT_NONE, "L?L", 0,
	  0, false },
	{ "mailboxidexists", TEST_MAILBOXIDEXISTS, true, EXT_MAILBOXID, EXT_NONE, "L", 0, 0,
	  false },
	{ "duplicate", TEST_DUPLICATE, true, EXT_DUPLICATE, EXT_NONE, "", TG_DUP, 0, false },
	{ "environment", TEST_ENVIRONMENT, true, EXT_ENVIRONMENT, EXT_NONE, "SL",
	  TG_CMP | TG_MATCH, 0, false },
	{ "ihave", TEST_IHAVE, true, EXT_IHAVE, EXT_NONE, "L", 0, 0, false },
};

static const struct cmd_spec *spec_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmd_specs); i++) {
		if (strcasecmp(cmd_specs[i].name, name) == 0) /* identifiers ignore case */
			return &cmd_specs[i];
	}
	return NULL;
}

struct vctx {
	struct sieve_script *s;
	struct sieve_error *err;
	uint64_t req; /* extensions usable here (required, or ihave-guarded) */
};

static int verr(struct vctx *v, unsigned int line, unsigned int col, const char *fmt, ...)
	PRINTF_FMT(4, 5);
static int verr(struct vctx *v, unsigned int line, unsigned int col, const char *fmt, ...)
{
	char msg[SIEVE_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	sv_error(v->err, line, col, "%s", msg);
	return -1;
}

static bool has(const struct vctx *v, enum sv_ext e)
{
	return (v->req & EXT_BIT(e)) != 0;
}

static int need_ext(struct vctx *v, const struct sv_arg *a, const char *what, enum sv_ext e)
{
	if (has(v, e))
		return 0;
	return verr(v, a->line, a->col, "%s requires the \"%s\" extension (add it to require)",
		    what, sv_ext_names[e]);
}

static bool is_const(const struct vctx *v, const struct sv_str *s)
{
	return !(s->has_var && has(v, EXT_VARIABLES));
}

static bool valid_header_name(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 32 || c >= 127 || c == ':')
			return false;
	}
	return true;
}

/* RFC 5228 §5.1: address applies to headers that hold addresses. The
   list is Pigeonhole's, so that the same scripts compile. */
static bool address_header(const char *s)
{
	static const char *const names[] = {
		"from", "to", "cc", "bcc", "sender", "resent-from", "resent-to", "resent-cc",
		"resent-bcc", "resent-sender", "reply-to", "resent-reply-to", "errors-to",
		"return-receipt-to", "delivered-to", "x-original-to", "x-beenthere",
		"mail-followup-to", "mail-reply-to", "apparently-to",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcasecmp(names[i], s) == 0)
			return true;
	}
	return false;
}

static bool valid_identifier(const char *s, size_t len)
{
	if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
			  s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* addr-spec of a redirect: local@domain without spaces or angle brackets
   (a quoted local part may hold anything but CR/LF); a name-addr
   ("Name <a@b>") stands for its addr-spec (RFC 5228 §4.2: an RFC 5322
   address) */
static bool valid_address(const char *s, size_t len)
{
	const char *lt = memchr(s, '<', len);

	if (lt != NULL && len > 0 && s[len - 1] == '>' &&
	    memchr(lt + 1, '<', (size_t)(s + len - lt - 1)) == NULL)
		return valid_address(lt + 1, (size_t)(s + len - 1 - (lt + 1)));
	const char *at = NULL;
	size_t i = 0;

	if (len > 0 && s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\')
				i++;
			if (i < len && (s[i] == '\r' || s[i] == '\n'))
				return false;
		}
		if (i >= len)
			return false;
		i++;
		if (i >= len || s[i] != '@' || i == 2)
			return false;
		at = s + i;
	} else {
		for (; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '@') {
				at = s + i;
				break;
			}
			if (c <= 32 || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
			    c == ';' || c == ':' || c == '"' || c == '[' || c == ']' || c == '\\')
				return false;
		}
		if (at == NULL || at == s)
			return false;
	}
	size_t dlen = len - (size_t)(at + 1 - s);
	const char *d = at + 1;

	if (dlen == 0 || d[0] == '.' || d[dlen - 1] == '.')
		return false;
	for (size_t j = 0; j < dlen; j++) {
		unsigned char c = (unsigned char)d[j];

		if (c <= 32 || c == '@' || c == '<' || c == '>' || c == ',' || c == ';' ||
		    c == '(' || c == ')' || c == '"' || c == '\\' || (c == '.' && d[j + 1] == '.'))
			return false;
	}
	return true;
}

static int cmp_lookup(const char *name, enum sv_cmp *cmp_r, enum sv_ext *ext_r)
{
	static const struct {
		const char *name;
		enum sv_cmp cmp;
		enum sv_ext ext;
	} cmps[] = {
		{ "i;octet", CMP_OCTET, EXT_CMP_OCTET },
		{ "i;ascii-casemap", CMP_ASCIICASE, EXT_CMP_ASCIICASE },
		{ "i;ascii-numeric", CMP_NUMERIC, EXT_CMP_NUMERIC },
		{ "i;unicode-casemap", CMP_UNICODE, EXT_CMP_UNICODE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cmps); i++) {
		if (strcasecmp(cmps[i].name, name) == 0) {
			*cmp_r = cmps[i].cmp;
			*ext_r = cmps[i].ext;
			return 0;
		}
	}
	return -1;
}

static int relop_lookup(const char *s, enum sv_relop *op_r)
{
	static const char *const ops[] = { "gt", "ge", "lt", "le", "eq", "ne" };

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		if (strcasecmp(ops[i], s) == 0) {
			*op_r = (enum sv_relop)i;
			return 0;
		}
	}
	return -1;
}

/* the argument after a tag: kind 'S', 'L' or 'N' */
static int tag_param(struct vctx *v, struct sv_node *n, size_t *i, char kind,
		     const struct sv_arg **arg_r)
{
	const struct sv_arg *t = &n->args[*i];
	const struct sv_arg *a;

	if (*i + 1 >= n->nargs)
		return verr(v, t->line, t->col, "tag :%s needs an argument", t->tag);
	a = &n->args[++*i];
	if (kind == 'N' && a->kind != SV_ARG_NUM)
		return verr(v, a->line, a->col, "tag :%s expects a number", t->tag);
	if (kind == 'S' && a->kind != SV_ARG_STR)
		return verr(v, a->line, a->col, "tag :%s expects a string", t->tag);
	if (kind == 'L' && a->kind != SV_ARG_STR && a->kind != SV_ARG_LIST)
		return verr(v, a->line, a->col, "tag :%s expects a string list", t->tag);
	*arg_r = a;
	return 0;
}

/* one tagged argument; *i may advance past its parameter */
static int do_tag(struct vctx *v, struct sv_node *n, const struct cmd_spec *sp, size_t *i,
		  unsigned int *seen)
{
	const struct sv_arg *t = &n->args[*i];
	const char *tag = t->tag;
	struct sv_opts *o = &n->o;
	const struct sv_arg *p;
	unsigned int tg = sp->tags;

#define ONCE(bit)                                                                              \
	do {                                                                                   \
		if ((*seen & (bit)) != 0)                                                      \
			return verr(v, t->line, t->col, "conflicting or repeated tag :%s", tag); \
		*seen |= (bit);                                                                \
	} while (0)

	if ((tg & TG_CMP) && strcasecmp(tag, "comparator") == 0) {
		enum sv_ext e;

		ONCE(TG_CMP);
		if (tag_param(v, n, i, 'S', &p) < 0)
			return -1;
		if (cmp_lookup(p->strs[0].s, &o->cmp, &e) < 0)
			return verr(v, p->line, p->col, "unknown comparator \"%s\"", p->strs[0].s);
		if (!has(v, e))
			return verr(v, p->line, p->col,
				    "comparator \"%s\" requires \"%s\" in require", p->strs[0].s,
				    sv_ext_names[e]);
		return 0;
	}
	if (tg & TG_MATCH) {
		static const struct {
			const char *name;
			enum sv_match m;
			enum sv_ext ext;
		} mts[] = {
			{ "is", MATCH_IS, EXT_NONE },
			{ "contains", MATCH_CONTAINS, EXT_NONE },
			{ "matches", MATCH_MATCHES, EXT_NONE },
			{ "regex", MATCH_REGEX, EXT_REGEX },
			{ "count", MATCH_COUNT, EXT_RELATIONAL },
			{ "value", MATCH_VALUE, EXT_RELATIONAL },
		};

		for (size_t k = 0; k < ARRAY_SIZE(mts); k++) {
			if (strcasecmp(tag, mts[k].name) != 0)
				continue;
			ONCE(TG_MATCH);
			if (mts[k].ext != EXT_NONE &&
			    need_ext(v, t, "match type", mts[k].ext) < 0)
				return -1;
			o->match = mts[k].m;
			if (o->match == MATCH_COUNT || o->match == MATCH_VALUE) {
				if (tag_param(v, n, i, 'S', &p) < 0)
					return -1;
				if (!is_const(v, &p->strs[0]) ||
				    relop_lookup(p->strs[0].s, &o->relop) < 0)
					return verr(v, p->line, p->col,
						    "invalid relational operator \"%s\"",
						    p->strs[0].s);
			}
			return 0;
		}
	}
	if (tg & TG_ADDR) {
		static const struct {
			const char *name;
			enum sv_addrpart ap;
			enum sv_ext ext;
		} aps[] = {
			{ "all", AP_ALL, EXT_NONE },
			{ "localpart", AP_LOCALPART, EXT_NONE },
			{ "domain", AP_DOMAIN, EXT_NONE },
			{ "user", AP_USER, EXT_SUBADDRESS },
			{ "detail", AP_DETAIL, EXT_SUBADDRESS },
		};

		for (size_t k = 0; k < ARRAY_SIZE(aps); k++) {
			if (strcasecmp(tag, aps[k].name) != 0)
				continue;
			ONCE(TG_ADDR);
			if (aps[k].ext != EXT_NONE && need_ext(v, t, "address part", aps[k].ext) < 0)
				return -1;
			o->addrpart = aps[k].ap;
			return 0;
		}
	}
	if ((tg & TG_INDEX) && strcasecmp(tag, "index") == 0) {
		ONCE(TG_INDEX);
		if (need_ext(v, t, ":index", EXT_INDEX) < 0 || tag_param(v, n, i, 'N', &p) < 0)
			return -1;
		if (p->num == 0 || p->num > UINT32_MAX)
			return verr(v, p->line, p->col, ":index must be between 1 and %u", UINT32_MAX);
		o->index = (unsigned int)p->num;
		return 0;
	}
	if ((tg & (TG_INDEX | TG_DELIDX | TG_ADDLAST | TG_DUP)) && strcasecmp(tag, "last") == 0) {
		ONCE(1u << 30);
		if ((tg & TG_INDEX) && need_ext(v, t, ":last", EXT_INDEX) < 0)
			return -1;
		o->last = true;
		return 0;
	}
	if ((tg & TG_DELIDX) && strcasecmp(tag, "index") == 0) {
		ONCE(TG_DELIDX);
		if (tag_param(v, n, i, 'N', &p) < 0)
			return -1;
		if (p->num == 0 || p->num > UINT32_MAX)
			return verr(v, p->line, p->col, ":index must be between 1 and %u", UINT32_MAX);
		o->index = (unsigned int)p->num;
		return 0;
	}
	if ((tg & TG_ZONE) && strcasecmp(tag, "zone") == 0) {
		int m;

		ONCE(TG_ZONE);
		if (tag_param(v, n, i, 'S', &p) < 0)
			return -1;
		(void)m; /* an invalid zone is not an error (run time: the original zone) */
		o->zone_kind = ZONE_GIVEN;
		o->zone = p;
		return 0;
	}
	if ((tg & TG_OZONE) && strcasecmp(tag, "originalzone") == 0) {
		ONCE(TG_ZONE);
		o->zone_kind = ZONE_ORIGINAL;
		return 0;
	}
	if (tg & TG_BODY) {
		if (strcasecmp(tag, "raw") == 0 || strcasecmp(tag, "text") == 0) {
			ONCE(TG_BODY);
			o->transform = strcasecmp(tag, "raw") == 0 ? BT_RAW : BT_TEXT;
			return 0;
		}
		if (strcasecmp(tag, "content") == 0) {
			ONCE(TG_BODY);
			if (tag_param(v, n, i, 'L', &p) < 0)
				return -1;
			o->transform = BT_CONTENT;
			o->content_types = p;
			return 0;
		}
	}
	if ((tg & TG_COPY) && strcasecmp(tag, "copy") == 0) {
		ONCE(TG_COPY);
		if (need_ext(v, t, ":copy", EXT_COPY) < 0)
			return -1;
		o->copy = true;
		return 0;
	}
	if ((tg & TG_FLAGS) && strcasecmp(tag, "flags") == 0) {
		ONCE(TG_FLAGS);
		if (need_ext(v, t, ":flags", EXT_IMAP4FLAGS) < 0 || tag_param(v, n, i, 'L', &p) < 0)
			return -1;
		o->flags = p;
		return 0;
	}
	if (tg & TG_MBOX) {
		if (strcasecmp(tag, "create") == 0) {
			ONCE(1u << 20);
			if (need_ext(v, t, ":create", EXT_MAILBOX) < 0)
				return -1;
			o->create = true;
			return 0;
		}
		if (strcasecmp(tag, "specialuse") == 0) {
			ONCE(1u << 21);
			if (need_ext(v, t, ":specialuse", EXT_SPECIAL_USE) < 0 ||
			    tag_param(v, n, i, 'S', &p) < 0)
				return -1;
			o->specialuse = p;
			return 0;
		}
		if (strcasecmp(tag, "mailboxid") == 0) {
			ONCE(1u << 22);
			if (need_ext(v, t, ":mailboxid", EXT_MAILBOXID) < 0 ||
			    tag_param(v, n, i, 'S', &p) < 0)
				return -1;
			o->mailboxid = p;
			return 0;
		}
	}
	if ((tg & TG_SIZE) && (strcasecmp(tag, "over") == 0 || strcasecmp(tag, "under") == 0)) {
		ONCE(TG_SIZE);
		o->over = strcasecmp(tag, "over") == 0;
		o->has_size_tag = true;
		return 0;
	}
	if (tg & TG_VAC) {
		if (strcasecmp(tag, "days") == 0 || strcasecmp(tag, "seconds") == 0) {
			bool secs = strcasecmp(tag, "seconds") == 0;

			ONCE(1u << 20);
			if (secs && need_ext(v, t, ":seconds", EXT_VACATION_SECONDS) < 0)
				return -1;
			if (tag_param(v, n, i, 'N', &p) < 0)
				return -1;
			o->has_seconds = true;
			o->seconds = secs ? p->num : (p->num > UINT64_MAX / 86400 ? UINT64_MAX
										 : p->num * 86400);
			return 0;
		}
		if (strcasecmp(tag, "subject") == 0) {
			ONCE(1u << 21);
			return tag_param(v, n, i, 'S', &o->subject);
		}
		if (strcasecmp(tag, "from") == 0) {
			ONCE(1u << 22);
			if (tag_param(v, n, i, 'S', &o->from) < 0)
				return -1;
			p = o->from;
			if (is_const(v, &p->strs[0]) && !valid_address(p->strs[0].s, p->strs[0].len) &&
			    strchr(p->strs[0].s, '<') == NULL)
				return verr(v, p->line, p->col, "invalid :from address \"%s\"",
					    p->strs[0].s);
			return 0;
		}
		if (strcasecmp(tag, "addresses") == 0) {
			ONCE(1u << 23);
			return tag_param(v, n, i, 'L', &o->addresses);
		}
		if (strcasecmp(tag, "mime") == 0) {
			ONCE(1u << 24);
			o->mime = true;
			return 0;
		}
		if (strcasecmp(tag, "handle") == 0) {
			ONCE(1u << 25);
			return tag_param(v, n, i, 'S', &o->handle);
		}
	}
	if (tg & TG_SET) {
		static const struct {
			const char *name;
			unsigned int mod, group;
		} mods[] = {
			{ "lower", MOD_LOWER, 1 }, { "upper", MOD_UPPER, 1 },
			{ "lowerfirst", MOD_LOWERFIRST, 2 }, { "upperfirst", MOD_UPPERFIRST, 2 },
			{ "quotewildcard", MOD_QUOTEWILDCARD, 3 }, { "quoteregex", MOD_QUOTEREGEX, 3 },
			{ "length", MOD_LENGTH, 4 },
		};

		for (size_t k = 0; k < ARRAY_SIZE(mods); k++) {
			if (strcasecmp(tag, mods[k].name) != 0)
				continue;
			if (mods[k].mod == MOD_QUOTEREGEX && need_ext(v, t, ":quoteregex", EXT_REGEX) < 0)
				return -1;
			/* RFC 5229 §4: modifiers of equal precedence exclude each other */
			ONCE(1u << (20 + mods[k].group));
			o->modifiers |= mods[k].mod;
			return 0;
		}
	}
	if (tg & TG_DUP) {
		if (strcasecmp(tag, "handle") == 0) {
			ONCE(1u << 20);
			return tag_param(v, n, i, 'S', &o->handle);
		}
		if (strcasecmp(tag, "header") == 0 || strcasecmp(tag, "uniqueid") == 0) {
			ONCE(1u << 21);
			if (strcasecmp(tag, "header") == 0) {
				if (tag_param(v, n, i, 'S', &o->header) < 0)
					return -1;
				if (is_const(v, &o->header->strs[0]) &&
				    !valid_header_name(o->header->strs[0].s, o->header->strs[0].len))
					return verr(v, o->header->line, o->header->col,
						    "invalid header name \"%s\"",
						    o->header->strs[0].s);
				return 0;
			}
			return tag_param(v, n, i, 'S', &o->uniqueid);
		}
		if (strcasecmp(tag, "seconds") == 0) {
			ONCE(1u << 22);
			if (tag_param(v, n, i, 'N', &p) < 0)
				return -1;
			o->has_seconds = true;
			o->seconds = p->num;
			return 0;
		}
	}
	if (tg & TG_INC) {
		if (strcasecmp(tag, "personal") == 0 || strcasecmp(tag, "global") == 0) {
			ONCE(1u << 20);
			o->global = strcasecmp(tag, "global") == 0;
			return 0;
		}
		if (strcasecmp(tag, "once") == 0) {
			ONCE(1u << 21);
			o->once = true;
			return 0;
		}
		if (strcasecmp(tag, "optional") == 0) {
			ONCE(1u << 22);
			o->optional = true;
			return 0;
		}
	}
#undef ONCE
	return verr(v, t->line, t->col, "unknown tag :%s for %s \"%s\"", tag,
		    sp->is_test ? "test" : "command", sp->name);
}

static int validate_cmds(struct vctx *v, struct sv_node *first, bool top);

static int validate_node(struct vctx *v, struct sv_node *n, bool want_test)
{
	const struct cmd_spec *sp = spec_find(n->name);
	unsigned int seen = 0;
	const char *pos;
	bool optional = false;

	if (sp == NULL || sp->is_test != want_test) {
		if (sp == NULL && spec_find(n->name) == NULL) {
			return verr(v, n->line, n->col, "unknown %s \"%s\"",
				    want_test ? "test" : "command", n->name);
		}
		return verr(v, n->line, n->col, "\"%s\" is a %s, not a %s", n->name,
			    sp->is_test ? "test" : "command", want_test ? "test" : "command");
	}
	n->id = sp->id;
	n->o.match = MATCH_IS;
	n->o.cmp = CMP_ASCIICASE;
	if (sp->ext != EXT_NONE && !has(v, sp->ext))
		return verr(v, n->line, n->col, "%s \"%s\" requires the \"%s\" extension",
			    want_test ? "test" : "command", n->name, sv_ext_names[sp->ext]);
	if (sp->ext2 != EXT_NONE && !has(v, sp->ext2))
		return verr(v, n->line, n->col, "%s \"%s\" requires the \"%s\" extension",
			    want_test ? "test" : "command", n->name, sv_ext_names[sp->ext2]);

	pos = sp->pos;
	for (size_t i = 0; i < n->nargs; i++) {
		struct sv_arg *a = &n->args[i];

		if (a->kind == SV_ARG_TAG) {
			if (n->npos > 0)
				return verr(v, a->line, a->col,
					    "tag :%s must come before the positional arguments",
					    a->tag);
			if (do_tag(v, n, sp, &i, &seen) < 0)
				return -1;
			continue;
		}
		if (*pos == '?') {
			optional = true;
			pos++;
		}
		if (*pos == '\0')
			return verr(v, a->line, a->col, "too many arguments for %s \"%s\"",
				    sp->is_test ? "test" : "command", n->name);
		if ((*pos == 'S' && a->kind != SV_ARG_STR) || (*pos == 'N' && a->kind != SV_ARG_NUM) ||
		    (*pos == 'L' && a->kind != SV_ARG_STR && a->kind != SV_ARG_LIST))
			return verr(v, a->line, a->col, "%s \"%s\": argument %zu must be a %s",
				    sp->is_test ? "test" : "command", n->name, n->npos + 1,
				    *pos == 'S' ? "string" : *pos == 'N' ? "number" : "string list");
		n->pos[n->npos++] = a;
		pos++;
	}
	if (*pos == '?')
		optional = true;
	if (*pos != '\0' && !optional)
		return verr(v, n->line, n->col, "missing argument for %s \"%s\"",
			    sp->is_test ? "test" : "command", n->name);
	/* "L?L": with one argument it is the second (the list), as in setflag */

	/* tests */
	if (sp->tests == 0 && n->ntests > 0)
		return verr(v, n->tests[0]->line, n->tests[0]->col, "\"%s\" takes no test", n->name);
	if (sp->tests == 1 && (n->ntests != 1 || n->test_list))
		return verr(v, n->line, n->col, "\"%s\" needs exactly one test", n->name);
	if (sp->tests == 2 && (!n->test_list || n->ntests == 0))
		return verr(v, n->line, n->col, "\"%s\" needs a test list", n->name);
	if (sp->block && !n->has_block)
		return verr(v, n->line, n->col, "\"%s\" needs a block", n->name);
	if (!sp->block && n->has_block)
		return verr(v, n->line, n->col, "\"%s\" takes no block", n->name);

	/* argument checks per command */
	struct sv_opts *o = &n->o;

	if (n->id == TEST_SIZE && !o->has_size_tag)
		return verr(v, n->line, n->col, "size test needs :over or :under");
	if (o->cmp == CMP_NUMERIC &&
	    (o->match == MATCH_CONTAINS || o->match == MATCH_MATCHES || o->match == MATCH_REGEX))
		return verr(v, n->line, n->col,
			    "comparator \"i;ascii-numeric\" does not support this match type");
	if (o->match == MATCH_REGEX) {
		const struct sv_arg *keys = n->pos[n->npos - 1];

		if (n->id == CMD_DELETEHEADER && n->npos < 2)
			keys = NULL;
		for (size_t k = 0; keys != NULL && k < keys->n; k++) {
			const char *error;

			if (!is_const(v, &keys->strs[k]))
				continue;
			if (!sv_regex_valid(keys->strs[k].s, keys->strs[k].len,
					    o->cmp != CMP_OCTET, &error))
				return verr(v, keys->line, keys->col, "invalid regular expression: %s",
					    error);
		}
	}
	switch (n->id) {
	case CMD_REQUIRE:
		return verr(v, n->line, n->col, "require is only allowed at the start of the script");
	case CMD_REDIRECT:
		/* blanks around the address are CFWS (a text: string ends in CRLF) */
		if (is_const(v, &n->pos[0]->strs[0]) &&
		    !valid_address(slice_trim(slice_from(n->pos[0]->strs[0].s,
							 n->pos[0]->strs[0].len)).ptr,
				   slice_trim(slice_from(n->pos[0]->strs[0].s,
							 n->pos[0]->strs[0].len)).len))
			return verr(v, n->pos[0]->line, n->pos[0]->col,
				    "invalid redirect address \"%s\"", n->pos[0]->strs[0].s);
		break;
	case CMD_FILEINTO:
		if (!utf8_is_valid(n->pos[0]->strs[0].s, n->pos[0]->strs[0].len))
			return verr(v, n->pos[0]->line, n->pos[0]->col,
				    "mailbox name is not valid UTF-8");
		break;
	case CMD_SET:
		if (!valid_identifier(n->pos[0]->strs[0].s, n->pos[0]->strs[0].len))
			return verr(v, n->pos[0]->line, n->pos[0]->col, "invalid variable name \"%s\"",
				    n->pos[0]->strs[0].s);
		break;
	case CMD_GLOBAL:
		for (size_t k = 0; k < n->pos[0]->n; k++) {
			if (!valid_identifier(n->pos[0]->strs[k].s, n->pos[0]->strs[k].len))
				return verr(v, n->pos[0]->line, n->pos[0]->col,
					    "invalid variable name \"%s\"", n->pos[0]->strs[k].s);
		}
		break;
	case CMD_SETFLAG: case CMD_ADDFLAG: case CMD_REMOVEFLAG: case TEST_HASFLAG:
		if (n->npos == 2) {
			if (!has(v, EXT_VARIABLES))
				return verr(v, n->pos[0]->line, n->pos[0]->col,
					    "a variable name needs the \"variables\" extension");
			for (size_t k = 0; k < n->pos[0]->n; k++) {
				if (!valid_identifier(n->pos[0]->strs[k].s, n->pos[0]->strs[k].len))
					return verr(v, n->pos[0]->line, n->pos[0]->col,
						    "invalid variable name \"%s\"",
						    n->pos[0]->strs[k].s);
			}
		}
		break;
	case CMD_INCLUDE: {
		const struct sv_str *nm = &n->pos[0]->strs[0];

		if (!is_const(v, nm))
			return verr(v, n->pos[0]->line, n->pos[0]->col,
				    "include needs a constant script name");
		if (nm->len == 0 || strchr(nm->s, '/') != NULL || nm->len > 255 ||
		    !utf8_is_valid(nm->s, nm->len))
			return verr(v, n->pos[0]->line, n->pos[0]->col, "invalid script name \"%s\"",
				    nm->s);
		break;
	}
	case TEST_HEADER: case TEST_ADDRESS: case TEST_EXISTS: case TEST_DATE:
	case CMD_ADDHEADER: case CMD_DELETEHEADER: {
		const struct sv_arg *h = n->pos[0];

		for (size_t k = 0; k < h->n; k++) {
			if (is_const(v, &h->strs[k]) && !valid_header_name(h->strs[k].s, h->strs[k].len))
				return verr(v, h->line, h->col, "invalid header name \"%s\"",
					    h->strs[k].s);
			if (n->id == TEST_ADDRESS && is_const(v, &h->strs[k]) &&
			    !address_header(h->strs[k].s))
				return verr(v, h->line, h->col,
					    "header \"%s\" holds no addresses: not allowed in the "
					    "address test", h->strs[k].s);
		}
		if (n->id == CMD_DELETEHEADER && o->last && o->index == 0)
			return verr(v, n->line, n->col, ":last needs :index");
		if (n->id == CMD_ADDHEADER && !utf8_is_valid(n->pos[1]->strs[0].s,
							     n->pos[1]->strs[0].len))
			return verr(v, n->pos[1]->line, n->pos[1]->col,
				    "header value is not valid UTF-8");
		break;
	}
	case TEST_ENVELOPE: {
		const struct sv_arg *h = n->pos[0];

		for (size_t k = 0; k < h->n; k++) {
			if (!is_const(v, &h->strs[k]))
				continue;
			if (strcasecmp(h->strs[k].s, "from") != 0 &&
			    strcasecmp(h->strs[k].s, "to") != 0 && strcasecmp(h->strs[k].s, "auth") != 0)
				return verr(v, h->line, h->col, "unknown envelope part \"%s\"",
					    h->strs[k].s);
		}
		break;
	}
	default:
		break;
	}

	for (size_t k = 0; k < n->ntests; k++) {
		if (validate_node(v, n->tests[k], true) < 0)
			return -1;
	}
	return 0;
}

/* extensions named by an `if ihave` test: true when all are usable */
static bool ihave_guard(struct vctx *v, const struct sv_node *n, uint64_t *add_r)
{
	const struct sv_arg *a;

	*add_r = 0;
	if (n->ntests != 1 || n->tests[0]->id != TEST_IHAVE)
		return true;
	a = n->tests[0]->pos[0];
	for (size_t k = 0; k < a->n; k++) {
		int e = sv_ext_lookup(a->strs[k].s, a->strs[k].len);

		if (e < 0 || (v->s->enabled & EXT_BIT(e)) == 0)
			return false;
		*add_r |= EXT_BIT(e);
	}
	return true;
}

static int validate_cmds(struct vctx *v, struct sv_node *first, bool top)
{
	enum sv_cmd prev = CMD_UNKNOWN;
	bool requires_ok = top;

	for (struct sv_node *n = first; n != NULL; n = n->next) {
		if (requires_ok && strcasecmp(n->name, "require") == 0) {
			n->id = CMD_REQUIRE;
			prev = CMD_REQUIRE;
			continue; /* handled by compile_requires */
		}
		requires_ok = false;
		if (validate_node(v, n, false) < 0)
			return -1;
		if ((n->id == CMD_ELSIF || n->id == CMD_ELSE) && prev != CMD_IF && prev != CMD_ELSIF)
			return verr(v, n->line, n->col, "\"%s\" without a preceding \"if\"", n->name);
		prev = n->id;
		if (n->has_block) {
			uint64_t add, saved = v->req;

			if (!ihave_guard(v, n, &add)) {
				n->dead = true; /* RFC 5463 §4: not validated, never runs */
				continue;
			}
			v->req |= add;
			if (validate_cmds(v, n->block, false) < 0)
				return -1;
			v->req = saved;
		}
	}
	return 0;
}

static int compile_requires(struct vctx *v, struct sv_node *first)
{
	for (struct sv_node *n = first; n != NULL && strcasecmp(n->name, "require") == 0;
	     n = n->next) {
		if (n->nargs != 1 || (n->args[0].kind != SV_ARG_STR && n->args[0].kind != SV_ARG_LIST) ||
		    n->ntests > 0 || n->has_block)
			return verr(v, n->line, n->col, "require needs one string list");
		for (size_t k = 0; k < n->args[0].n; k++) {
			const struct sv_str *s = &n->args[0].strs[k];
			int e = sv_ext_lookup(s->s, s->len);

			if (e < 0 || (v->s->enabled & EXT_BIT(e)) == 0)
				return verr(v, n->args[0].line, n->args[0].col,
					    "unknown or disabled extension \"%s\"", s->s);
			v->req |= EXT_BIT(e);
		}
	}
	if (has(v, EXT_VACATION_SECONDS))
		v->req |= EXT_BIT(EXT_VACATION); /* RFC 6131 §2: implies vacation */
	return 0;
}

/* ---- encoded-character (RFC 5228 §2.4.2.4) ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	(void)buf_append(b, u, n);
}

/* one "${hex:...}" / "${unicode:...}" at s (len bytes available); returns
   bytes consumed (0 = not an encoding, copy literally), -1 on a bad code
   point */
static ssize_t encoded_one(const char *s, size_t len, struct buf *out)
{
	bool hex;
	size_t i;
	struct buf tmp;

	if (len > 6 && strncasecmp(s, "${hex:", 6) == 0) {
		hex = true;
		i = 6;
	} else if (len > 10 && strncasecmp(s, "${unicode:", 10) == 0) {
		hex = false;
		i = 10;
	} else {
		return 0;
	}
	buf_init(&tmp, 0);
	for (;;) {
		uint32_t v = 0;
		size_t digits = 0;

		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
			i++;
		if (i < len && s[i] == '}')
			break;
		while (i < len && hexval(s[i]) >= 0) {
			if (digits < 9)
				v = v * 16 + (uint32_t)hexval(s[i]);
			digits++;
			i++;
		}
		if (digits == 0 || i >= len ||
		    !(s[i] == ' ' || s[i] == '\t' || s[i] == '}' || s[i] == '\r' || s[i] == '\n')) {
			buf_free(&tmp);
			return 0; /* not a valid encoding: left as is */
		}
		if (hex) {
			if (digits > 2) {
				buf_free(&tmp);
				return 0;
			}
			unsigned char c = (unsigned char)v;

			(void)buf_append(&tmp, &c, 1);
		} else {
			if (digits > 8 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
				buf_free(&tmp);
				return -1;
			}
			put_utf8(&tmp, v);
		}
	}
	if (tmp.len > 0)
		(void)buf_append(out, tmp.data, tmp.len);
	buf_free(&tmp);
	return (ssize_t)i + 1;
}

static int encode_str(struct vctx *v, struct sv_str *s, unsigned int line, unsigned int col)
{
	struct buf b;

	if (memmem(s->s, s->len, "${", 2) == NULL)
		return 0;
	buf_init(&b, 0);
	for (size_t i = 0; i < s->len;) {
		ssize_t n = s->s[i] == '$' ? encoded_one(s->s + i, s->len - i, &b) : 0;

		if (n < 0) {
			buf_free(&b);
			return verr(v, line, col, "invalid unicode code point in encoded character");
		}
		if (n == 0) {
			(void)buf_append(&b, s->s + i, 1);
			i++;
		} else {
			i += (size_t)n;
		}
	}
	s->s = arena_strndup(v->s->arena, b.data == NULL ? "" : b.data, b.len);
	s->len = b.len;
	s->has_var = memmem(s->s, s->len, "${", 2) != NULL;
	buf_free(&b);
	return 0;
}

static int encode_tree(struct vctx *v, struct sv_node *n)
{
	for (; n != NULL; n = n->next) {
		for (size_t i = 0; i < n->nargs; i++) {
			for (size_t k = 0; k < n->args[i].n; k++) {
				if (encode_str(v, &n->args[i].strs[k], n->args[i].line,
					       n->args[i].col) < 0)
					return -1;
			}
		}
		for (size_t k = 0; k < n->ntests; k++) {
			if (encode_tree(v, n->tests[k]) < 0)
				return -1;
		}
		if (encode_tree(v, n->block) < 0)
			return -1;
	}
	return 0;
}

int sv_validate(struct sieve_script *s, struct sieve_error *err)
{
	struct vctx v = { .s = s, .err = err };

	if (compile_requires(&v, s->root) < 0)
		return -1;
	v.req |= EXT_BIT(EXT_CMP_OCTET) | EXT_BIT(EXT_CMP_ASCIICASE);
	s->required = v.req;
	if (has(&v, EXT_ENCODED_CHARACTER) && encode_tree(&v, s->root) < 0)
		return -1;
	return validate_cmds(&v, s->root, true);
}

int sieve_compile(const char *text, size_t len, const char *const *enabled,
		  const struct sieve_limits *limits, struct sieve_script **script_r,
		  struct sieve_error *err)
{
	struct sieve_script *s;
	struct sieve_error dummy;

	if (err == NULL)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	s = xcalloc(1, sizeof(*s));
	sv_limits_norm(limits, &s->limits);
	s->enabled = ext_mask(enabled);
	atomic_init(&s->refs, 1);
	if (len > s->limits.max_script_size) {
		sv_error(err, 0, 0, "script too large (%zu bytes, limit %zu)", len,
			 s->limits.max_script_size);
		free(s);
		return -1;
	}
	s->arena = arena_new(16 * 1024);
	if (sv_parse(s->arena, text, len, s->limits.max_nesting, &s->root, err) < 0 ||
	    sv_validate(s, err) < 0) {
		arena_free(&s->arena);
		free(s);
		return -1;
	}
	*script_r = s;
	return 0;
}

void sieve_script_free(struct sieve_script **script)
{
	struct sieve_script *s = *script;

	*script = NULL;
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	arena_free(&s->arena);
	free(s);
}

/* ---- compiled-script cache ---- */

#define CACHE_SLOTS 128

struct cache_entry {
	unsigned char key[32];
	struct sieve_script *script;
	uint64_t used; /* LRU clock */
};

static struct cache_entry cache[CACHE_SLOTS];
static uint64_t cache_clock;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void cache_key(const char *text, size_t len, const char *const *enabled,
		      const struct sieve_limits *lim, unsigned char key[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 32;
	uint64_t mask = ext_mask(enabled);

	REQUIRE(md != NULL);
	REQUIRE(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
	REQUIRE(EVP_DigestUpdate(md, &mask, sizeof(mask)) == 1);
	REQUIRE(EVP_DigestUpdate(md, &lim->max_script_size, sizeof(lim->max_script_size)) == 1);
	REQUIRE(EVP_DigestUpdate(md, &lim->max_nesting, sizeof(lim->max_nesting)) == 1);
	REQUIRE(EVP_DigestUpdate(md, &lim->max_variable_size, sizeof(lim->max_variable_size)) == 1);
	REQUIRE(EVP_DigestUpdate(md, &lim->max_actions, sizeof(lim->max_actions)) == 1);
	REQUIRE(EVP_DigestUpdate(md, &lim->max_redirects, sizeof(lim->max_redirects)) == 1);
	REQUIRE(EVP_DigestUpdate(md, &lim->max_execution_ms, sizeof(lim->max_execution_ms)) == 1);
	REQUIRE(EVP_DigestUpdate(md, text, len) == 1);
	REQUIRE(EVP_DigestFinal_ex(md, key, &n) == 1);
	EVP_MD_CTX_free(md);
}

int sieve_compile_cached(const char *text, size_t len, const char *const *enabled,
			 const struct sieve_limits *limits, struct sieve_script **script_r,
			 struct sieve_error *err)
{
	struct sieve_limits lim;
	unsigned char key[32];
	struct sieve_script *s;
	size_t victim = 0;

	sv_limits_norm(limits, &lim);
	cache_key(text, len, enabled, &lim, key);
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].script != NULL && memcmp(cache[i].key, key, 32) == 0) {
			cache[i].used = ++cache_clock;
			atomic_fetch_add(&cache[i].script->refs, 1);
			*script_r = cache[i].script;
			pthread_mutex_unlock(&cache_lock);
			if (err != NULL)
				memset(err, 0, sizeof(*err));
			return 0;
		}
	}
	pthread_mutex_unlock(&cache_lock);

	/* compile outside the lock; a racing thread may insert the same key,
	   which only costs a duplicate slot */
	if (sieve_compile(text, len, enabled, &lim, &s, err) < 0)
		return -1;
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].script == NULL) {
			victim = i;
			break;
		}
		if (cache[i].used < cache[victim].used)
			victim = i;
	}
	if (cache[victim].script != NULL)
		sieve_script_free(&cache[victim].script);
	memcpy(cache[victim].key, key, 32);
	cache[victim].script = s;
	cache[victim].used = ++cache_clock;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&cache_lock);
	*script_r = s;
	return 0;
}

void sieve_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		sieve_script_free(&cache[i].script);
	pthread_mutex_unlock(&cache_lock);
}
