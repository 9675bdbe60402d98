/* The interpreter: RFC 5228 control flow and action semantics, with the
   extension tests and actions. It only builds a result; the host performs
   it. Every loop checks the deadline; a run-time error or a limit turns the
   result into a single KEEP (RFC 5228 §2.10.6), so mail is never lost. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/utf8.h"
#include "mime/mime.h"
#include "sieve-private.h"

#define MAX_INCLUDE_DEPTH 10
#define MAX_INCLUDES 64
#define MAX_VARIABLES 256
#define MAX_EXPANSION (1024 * 1024)
#define MAX_BODY_BYTES (1024 * 1024)
#define MAX_FLAGS_LEN 4096

enum ex { EX_OK, EX_STOP, EX_RETURN, EX_ERR };

struct var {
	char *name;
	char *val;
};

struct vartab {
	struct var *v;
	size_t n, cap;
};

struct frame {
	const struct sieve_script *script;
	struct vartab locals;
	char **globals; /* names declared global here */
	size_t nglobals;
	const char *match[10];
	bool has_match;
	const char *name; /* include name, "" for the main script */
	bool global_script;
	struct frame *parent;
};

struct sieve_result_mem {
	struct arena *a;
};

struct sv_run {
	const struct sieve_message *msg;
	const struct sieve_env *env;
	struct sieve_limits lim;
	struct arena *a;  /* scratch for the whole run: variables, expansions */
	struct arena *ta; /* values of one test or command, reset after each */
	struct arena *ra; /* result strings */
	uint64_t deadline;
	bool failed;
	char error[SIEVE_ERROR_MAX];

	struct sv_msgview hv;
	const struct mime_part *mime; /* body test: parsed once, in a */
	bool mime_done;
	struct vartab globals;
	const char *flags; /* imap4flags internal variable, space-separated */

	struct sieve_action *acts;
	size_t nacts, capacts;
	struct sieve_header_edit *edits;
	size_t nedits, capedits;
	bool keep_cancelled;
	unsigned int redirects, stores;
	bool has_vacation, has_reject, has_discard;

	unsigned int includes, depth;
	char **included; /* for :once, "p:" / "g:" + name */
	size_t nincluded;
	struct sieve_script **compiled;
	size_t ncompiled;
};

bool sv_deadline_passed(struct sv_run *r)
{
	if (r->failed)
		return true;
	if (util_now_ms() > r->deadline) {
		sv_run_fail(r, "execution time limit (%llu ms) exceeded",
			    (unsigned long long)r->lim.max_execution_ms);
		return true;
	}
	return false;
}

void sv_run_fail(struct sv_run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	if (vsnprintf(r->error, sizeof(r->error), fmt, ap) < 0)
		r->error[0] = '\0';
	va_end(ap);
	for (char *p = r->error; *p != '\0'; p++) { /* it goes to the log */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

static bool has_ext(const struct frame *f, enum sv_ext e)
{
	return (f->script->required & EXT_BIT(e)) != 0;
}

/* ---- variables ---- */

static char *lower_dup(struct arena *a, const char *s, size_t n)
{
	char *d = arena_strndup(a, s, n);

	for (size_t i = 0; i < n; i++) {
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (char)(d[i] + 32);
	}
	return d;
}

static struct vartab *var_table(struct sv_run *r, struct frame *f, const char *lname)
{
	for (size_t i = 0; i < f->nglobals; i++) {
		if (strcmp(f->globals[i], lname) == 0)
			return &r->globals;
	}
	return &f->locals;
}

static const char *var_get(struct sv_run *r, struct frame *f, const char *name, size_t len)
{
	char *lname = lower_dup(r->a, name, len);
	struct vartab *t = var_table(r, f, lname);

	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].name, lname) == 0)
			return t->v[i].val;
	}
	return "";
}

/* cut to max bytes on a UTF-8 character boundary */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static int var_set(struct sv_run *r, struct frame *f, const char *name, const char *val,
		   size_t len)
{
	char *lname = lower_dup(r->a, name, strlen(name));
	struct vartab *t = var_table(r, f, lname);
	char *v;

	len = utf8_cut(val, len, r->lim.max_variable_size);
	v = arena_strndup(r->a, val, len);
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].name, lname) == 0) {
			t->v[i].val = v;
			return 0;
		}
	}
	if (t->n >= MAX_VARIABLES) {
		sv_run_fail(r, "too many variables (limit %d)", MAX_VARIABLES);
		return -1;
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap == 0 ? 16 : t->cap * 2;
		struct var *nv = arena_alloc(r->a, ncap * sizeof(*nv));

		if (t->n > 0)
			memcpy(nv, t->v, t->n * sizeof(*nv));
		t->v = nv;
		t->cap = ncap;
	}
	t->v[t->n++] = (struct var){ .name = lname, .val = v };
	return 0;
}

static bool is_ident_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* RFC 5229 §3: "${name}" and "${N}"; anything else stays literal */
static struct slice expand(struct sv_run *r, struct frame *f, const struct sv_str *s)
{
	struct buf b;
	struct slice out;

	if (!s->has_var || !has_ext(f, EXT_VARIABLES))
		return slice_from(s->s, s->len);
	buf_init(&b, MAX_EXPANSION);
	for (size_t i = 0; i < s->len;) {
		if (s->s[i] == '$' && i + 2 < s->len && s->s[i + 1] == '{') {
			size_t j = i + 2;
			bool num = s->s[j] >= '0' && s->s[j] <= '9';
			bool ok = true, namespaced = false;

			if (num) {
				while (j < s->len && s->s[j] >= '0' && s->s[j] <= '9')
					j++;
			} else if (is_ident_char(s->s[j], true)) {
				while (j < s->len && is_ident_char(s->s[j], false))
					j++;
				/* "${ns.name}": namespaces we do not have expand to "",
				   as Pigeonhole does */
				while (j + 1 < s->len && s->s[j] == '.' && is_ident_char(s->s[j + 1], true)) {
					namespaced = true;
					for (j++; j < s->len && is_ident_char(s->s[j], false); j++)
						;
				}
			} else {
				ok = false;
			}
			if (ok && j < s->len && s->s[j] == '}') {
				const char *val;

				if (num) {
					unsigned int n = 0;

					for (size_t k = i + 2; k < j && n < 100; k++)
						n = n * 10 + (unsigned int)(s->s[k] - '0');
					val = n < 10 && f->has_match && f->match[n] != NULL
						      ? f->match[n]
						      : "";
				} else if (namespaced) {
					val = "";
				} else {
					val = var_get(r, f, s->s + i + 2, j - i - 2);
				}
				(void)buf_append_str(&b, val);
				i = j + 1;
				continue;
			}
		}
		(void)buf_append(&b, s->s + i, 1);
		i++;
	}
	out = slice_from(arena_strndup(r->a, b.data == NULL ? "" : b.data, b.len), b.len);
	buf_free(&b);
	return out;
}

static const char *expand_cstr(struct sv_run *r, struct frame *f, const struct sv_str *s)
{
	return expand(r, f, s).ptr;
}

/* ---- values and matching ---- */

struct vals {
	struct slice *v;
	size_t n, cap;
};

static void vals_add(struct sv_run *r, struct vals *vs, struct slice s)
{
	if (vs->n == vs->cap) {
		size_t ncap = vs->cap == 0 ? 8 : vs->cap * 2;
		struct slice *nv = arena_alloc(r->ta, ncap * sizeof(*nv));

		if (vs->n > 0)
			memcpy(nv, vs->v, vs->n * sizeof(*nv));
		vs->v = nv;
		vs->cap = ncap;
	}
	vs->v[vs->n++] = s;
}

/* any value against any key; 1 / 0 / -1 */
static int match_values(struct sv_run *r, struct frame *f, const struct sv_opts *o,
			const struct vals *vs, const struct sv_arg *keys)
{
	const char *caps[10];
	int ncap = 0;

	if (o->match == MATCH_COUNT) {
		char num[24];
		int n = snprintf(num, sizeof(num), "%zu", vs->n);

		for (size_t k = 0; k < keys->n; k++) {
			struct slice key = expand(r, f, &keys->strs[k]);

			if (sv_relop_holds(o->relop, sv_cmp_order(o->cmp, slice_from(num, (size_t)n),
								  key)))
				return 1;
		}
		return 0;
	}
	for (size_t i = 0; i < vs->n; i++) {
		for (size_t k = 0; k < keys->n; k++) {
			struct slice key = expand(r, f, &keys->strs[k]);
			bool want_caps = has_ext(f, EXT_VARIABLES) &&
					 (o->match == MATCH_MATCHES || o->match == MATCH_REGEX);
			int ret;

			if (sv_deadline_passed(r))
				return -1;
			ret = sv_match_one(r, o, vs->v[i], key, r->ta, want_caps ? caps : NULL, &ncap);
			if (ret < 0)
				return -1;
			if (ret > 0) {
				if (want_caps && ncap > 0) {
					/* out of the per-test arena: they outlive the test */
					for (int c = 0; c < 10; c++)
						f->match[c] = arena_strdup(r->a, caps[c]);
					f->has_match = true;
				}
				return 1;
			}
		}
	}
	return 0;
}

static bool name_eq(const char *a, struct slice b)
{
	return strlen(a) == b.len && strncasecmp(a, b.ptr, b.len) == 0;
}

/* occurrences of a header (in view order) honouring :index / :last */
static void header_fields(struct sv_run *r, struct slice name, const struct sv_opts *o,
			  const struct sv_field **out, size_t *n_r)
{
	size_t total = 0, n = 0;

	for (size_t i = 0; i < r->hv.count; i++) {
		if (name_eq(r->hv.fields[i].name, name))
			total++;
	}
	for (size_t i = 0, k = 0; i < r->hv.count; i++) {
		if (!name_eq(r->hv.fields[i].name, name))
			continue;
		k++;
		if (o->index > 0) {
			size_t want = o->last ? (total >= o->index ? total - o->index + 1 : 0)
					      : o->index;

			if (k != want)
				continue;
		}
		out[n++] = &r->hv.fields[i];
	}
	*n_r = n;
}

static const struct sv_field **fields_buf(struct sv_run *r)
{
	return arena_alloc(r->ta, (r->hv.count + 1) * sizeof(const struct sv_field *));
}

static const char *decoded(struct sv_run *r, const char *raw)
{
	return mime_header_decode(slice_cstr(raw), r->ta);
}

/* a local part that is not a dot-atom (RFC 5322 §3.4.1) is shown quoted */
static bool needs_quoting(const char *local)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	bool dot_ok = false;

	if (local[0] == '\0')
		return true;
	for (const char *p = local; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.') {
			if (!dot_ok || p[1] == '\0')
				return true;
			dot_ok = false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c >= 0x80 || strchr(atext, c) != NULL))
			return true;
		dot_ok = true;
	}
	return false;
}

static const char *quoted_address(struct sv_run *r, const char *local, const char *domain)
{
	struct buf b;
	const char *out;

	buf_init(&b, 0);
	(void)buf_append(&b, "\"", 1);
	for (const char *p = local; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			(void)buf_append(&b, "\\", 1);
		(void)buf_append(&b, p, 1);
	}
	(void)buf_printf(&b, "\"@%s", domain);
	out = arena_strndup(r->ta, b.data, b.len);
	buf_free(&b);
	return out;
}

static void address_values(struct sv_run *r, const char *raw, const struct sv_opts *o,
			   struct vals *vs)
{
	struct mime_address *list = mime_address_parse(slice_cstr(raw), r->ta);
	bool any = false;

	if (strcmp(raw, "<>") == 0) { /* the null address, as Pigeonhole shows it */
		if (o->addrpart == AP_ALL)
			vals_add(r, vs, SLICE_LIT("<>"));
		return;
	}
	for (struct mime_address *ad = list; ad != NULL; ad = ad->next) {
		const char *v;

		if (ad->mailbox == NULL || ad->domain == NULL)
			continue; /* group start/end */
		any = true;
		if (strcmp(ad->mailbox, "MISSING_MAILBOX") == 0)
			continue;
		if (o->addrpart == AP_ALL && ad->domain[0] != '\0' &&
		    strcmp(ad->domain, "MISSING_DOMAIN") != 0 && needs_quoting(ad->mailbox)) {
			vals_add(r, vs, slice_cstr(quoted_address(r, ad->mailbox, ad->domain)));
			continue;
		}
		if (strcmp(ad->domain, "MISSING_DOMAIN") == 0 && o->addrpart == AP_ALL) {
			vals_add(r, vs, slice_cstr(ad->mailbox));
			continue;
		}
		if (sv_address_part(ad->mailbox, ad->domain, o->addrpart, r->ta, &v))
			vals_add(r, vs, slice_cstr(v));
	}
	if (!any && raw[0] != '\0' && o->addrpart == AP_ALL)
		vals_add(r, vs, slice_cstr(raw));
}

static void envelope_value(struct sv_run *r, const char *addr, const struct sv_opts *o,
			   struct vals *vs)
{
	const char *at, *v;
	char *local;

	if (addr == NULL)
		return;
	if (addr[0] == '\0') {
		if (o->addrpart == AP_ALL) /* the null reverse-path */
			vals_add(r, vs, slice_cstr(""));
		return;
	}
	at = strrchr(addr, '@');
	local = at == NULL ? arena_strdup(r->ta, addr)
			   : arena_strndup(r->ta, addr, (size_t)(at - addr));
	if (sv_address_part(local, at == NULL ? NULL : at + 1, o->addrpart, r->ta, &v))
		vals_add(r, vs, slice_cstr(v));
}

static int local_tz(const struct sv_run *r)
{
	int tz = 0;

	if (r->msg->local_tz != NULL && sv_zone_parse(r->msg->local_tz, &tz) < 0)
		tz = 0;
	return tz;
}

/* imap4flags: split, dedupe (case-insensitive), join */
static const char *flags_norm(struct sv_run *r, const char *const *in, size_t n,
			      const char *remove)
{
	struct buf b;
	const char *out;

	buf_init(&b, MAX_FLAGS_LEN);
	for (size_t i = 0; i < n; i++) {
		const char *p = in[i];

		while (*p != '\0') {
			size_t l;
			bool dup = false;

			while (*p == ' ')
				p++;
			for (l = 0; p[l] != '\0' && p[l] != ' '; l++)
				;
			if (l == 0)
				break;
			/* is it already there, or to be removed? */
			for (size_t s = 0; s < b.len && !dup;) {
				size_t e = s;

				while (e < b.len && b.data[e] != ' ')
					e++;
				if (e - s == l && strncasecmp(b.data + s, p, l) == 0)
					dup = true;
				s = e + 1;
			}
			for (const char *q = remove; q != NULL && *q != '\0' && !dup;) {
				size_t ql;

				while (*q == ' ')
					q++;
				for (ql = 0; q[ql] != '\0' && q[ql] != ' '; ql++)
					;
				if (ql == l && strncasecmp(q, p, l) == 0)
					dup = true;
				q += ql;
			}
			if (!dup) {
				if (b.len > 0)
					(void)buf_append(&b, " ", 1);
				(void)buf_append(&b, p, l);
			}
			p += l;
		}
	}
	out = arena_strndup(r->a, b.data == NULL ? "" : b.data, b.len);
	buf_free(&b);
	return out;
}

static const char *const *flags_array(struct sv_run *r, const char *flags)
{
	size_t n = 0, k = 0;
	const char **arr;

	if (flags == NULL || flags[0] == '\0')
		return NULL;
	for (const char *p = flags; *p != '\0'; p++)
		n += *p == ' ';
	arr = arena_alloc(r->ra, (n + 2) * sizeof(*arr));
	for (const char *p = flags; *p != '\0';) {
		size_t l = 0;

		while (p[l] != '\0' && p[l] != ' ')
			l++;
		if (l > 0)
			arr[k++] = arena_strndup(r->ra, p, l);
		p += l;
		while (*p == ' ')
			p++;
	}
	arr[k] = NULL;
	return arr;
}

static const char *strlist_flags(struct sv_run *r, struct frame *f, const struct sv_arg *a)
{
	const char **in = arena_alloc(r->a, (a->n + 1) * sizeof(*in));

	for (size_t i = 0; i < a->n; i++)
		in[i] = expand_cstr(r, f, &a->strs[i]);
	return flags_norm(r, in, a->n, NULL);
}

/* ---- tests ---- */

static int eval_test(struct sv_run *r, struct frame *f, const struct sv_node *t);

static int test_header_like(struct sv_run *r, struct frame *f, const struct sv_node *t)
{
	const struct sv_opts *o = &t->o;
	const struct sv_arg *names = t->pos[0], *keys = t->pos[t->npos - 1];
	const struct sv_field **fl = fields_buf(r);
	struct vals vs = { 0 };

	for (size_t i = 0; i < names->n; i++) {
		struct slice name = expand(r, f, &names->strs[i]);
		size_t n;

		if (t->id == TEST_ENVELOPE) {
			if (slice_eq_ci(name, "from"))
				envelope_value(r, r->msg->envelope_from, o, &vs);
			else if (slice_eq_ci(name, "to"))
				envelope_value(r, r->msg->envelope_to, o, &vs);
			else if (slice_eq_ci(name, "auth") && r->msg->auth_user != NULL &&
				 r->msg->auth_user[0] != '\0')
				envelope_value(r, r->msg->auth_user, o, &vs);
			continue;
		}
		header_fields(r, name, o, fl, &n);
		for (size_t k = 0; k < n; k++) {
			if (t->id == TEST_ADDRESS)
				address_values(r, fl[k]->value, o, &vs);
			else
				vals_add(r, &vs, slice_cstr(decoded(r, fl[k]->value)));
		}
	}
	return match_values(r, f, o, &vs, keys);
}

static int test_date(struct sv_run *r, struct frame *f, const struct sv_node *t)
{
	const struct sv_opts *o = &t->o;
	struct vals vs = { 0 };
	const char *part;
	int64_t when;
	int tz, ztz;

	if (t->id == TEST_CURRENTDATE) {
		part = expand_cstr(r, f, &t->pos[0]->strs[0]);
		when = r->msg->now;
		tz = local_tz(r);
	} else {
		struct slice name = expand(r, f, &t->pos[0]->strs[0]);
		const struct sv_field **fl = fields_buf(r);
		struct sv_opts oo = *o;
		size_t n;
		const char *v;

		part = expand_cstr(r, f, &t->pos[1]->strs[0]);
		if (oo.index == 0) {
			oo.index = 1; /* the first occurrence (RFC 5260 §4) */
			oo.last = false;
		}
		header_fields(r, name, &oo, fl, &n);
		if (n == 0)
			return 0;
		v = fl[0]->value;
		if (slice_eq_ci(name, "received") && strrchr(v, ';') != NULL)
			v = strrchr(v, ';') + 1;
		if (mime_date_parse(slice_cstr(v), &when, &tz) < 0)
			return 0;
		if (o->zone_kind == ZONE_LOCAL)
			tz = local_tz(r);
	}
	if (o->zone_kind == ZONE_GIVEN) {
		/* an unusable zone means the local zone, as Pigeonhole */
		tz = sv_zone_parse(expand_cstr(r, f, &o->zone->strs[0]), &ztz) == 0 ? ztz
										     : local_tz(r);
	}
	const char *val = sv_date_part(when, tz, part, r->ta);

	if (val == NULL)
		return 0;
	vals_add(r, &vs, slice_cstr(val));
	return match_values(r, f, o, &vs, t->pos[t->npos - 1]);
}

static int test_body(struct sv_run *r, struct frame *f, const struct sv_node *t)
{
	const struct sv_opts *o = &t->o;
	struct vals vs = { 0 };

	if (o->transform == BT_RAW) {
		vals_add(r, &vs, slice_from(r->hv.body, MIN(r->hv.body_len, MAX_BODY_BYTES)));
	} else {
		struct sv_str *types = NULL;
		size_t ntypes = 0;
		struct slice *parts;
		size_t n;

		if (o->transform == BT_CONTENT) {
			ntypes = o->content_types->n;
			types = arena_alloc(r->ta, ntypes * sizeof(*types));
			for (size_t i = 0; i < ntypes; i++) {
				struct slice s = expand(r, f, &o->content_types->strs[i]);

				types[i] = (struct sv_str){ .s = s.ptr, .len = s.len };
			}
		}
		if (!r->mime_done) {
			r->mime = sv_msg_structure(r->msg->data, r->msg->len, r->a);
			r->mime_done = true;
		}
		n = sv_msg_body_parts(r->msg->data, r->msg->len, r->mime, types, ntypes,
				      o->transform == BT_TEXT, MAX_BODY_BYTES, r->ta, &parts);
		for (size_t i = 0; i < n; i++)
			vals_add(r, &vs, parts[i]);
	}
	if (sv_deadline_passed(r))
		return -1;
	return match_values(r, f, o, &vs, t->pos[0]);
}

static void split_flags(struct sv_run *r, const char *flags, struct vals *vs)
{
	for (const char *p = flags; p != NULL && *p != '\0';) {
		size_t l = 0;

		while (*p == ' ')
			p++;
		while (p[l] != '\0' && p[l] != ' ')
			l++;
		if (l > 0)
			vals_add(r, vs, slice_from(p, l));
		p += l;
	}
}

static const char *env_item(struct sv_run *r, const char *name)
{
	if (strcasecmp(name, "domain") == 0)
		return r->env->env_domain;
	if (strcasecmp(name, "host") == 0)
		return r->env->env_host;
	if (strcasecmp(name, "location") == 0)
		return "MS"; /* RFC 5183 §4.1: we evaluate as the message store, as Pigeonhole */
	if (strcasecmp(name, "name") == 0)
		return "Sora";
	if (strcasecmp(name, "phase") == 0)
		return "during";
	if (strcasecmp(name, "version") == 0)
		return SORA_VERSION;
	return NULL;
}

static int eval_test(struct sv_run *r, struct frame *f, const struct sv_node *t)
{
	const struct sv_opts *o = &t->o;
	struct vals vs = { 0 };
	int ret;

	if (sv_deadline_passed(r))
		return -1;
	switch (t->id) {
	case TEST_TRUE:
		return 1;
	case TEST_FALSE:
		return 0;
	case TEST_NOT:
		ret = eval_test(r, f, t->tests[0]);
		return ret < 0 ? -1 : !ret;
	case TEST_ALLOF:
	case TEST_ANYOF:
		for (size_t i = 0; i < t->ntests; i++) {
			ret = eval_test(r, f, t->tests[i]);
			if (ret < 0)
				return -1;
			if (t->id == TEST_ALLOF && ret == 0)
				return 0;
			if (t->id == TEST_ANYOF && ret == 1)
				return 1;
		}
		return t->id == TEST_ALLOF;
	case TEST_HEADER:
	case TEST_ADDRESS:
	case TEST_ENVELOPE:
		return test_header_like(r, f, t);
	case TEST_EXISTS:
		for (size_t i = 0; i < t->pos[0]->n; i++) {
			struct slice name = expand(r, f, &t->pos[0]->strs[i]);
			bool found = false;

			for (size_t k = 0; k < r->hv.count && !found; k++)
				found = name_eq(r->hv.fields[k].name, name);
			if (!found)
				return 0;
		}
		return 1;
	case TEST_SIZE:
		return o->over ? r->msg->len > t->pos[0]->num : r->msg->len < t->pos[0]->num;
	case TEST_BODY:
		return test_body(r, f, t);
	case TEST_DATE:
	case TEST_CURRENTDATE:
		return test_date(r, f, t);
	case TEST_STRING:
		for (size_t i = 0; i < t->pos[0]->n; i++) {
			struct slice s = expand(r, f, &t->pos[0]->strs[i]);

			/* RFC 5229 §5: empty strings are not counted by :count */
			if (o->match != MATCH_COUNT || s.len > 0)
				vals_add(r, &vs, s);
		}
		return match_values(r, f, o, &vs, t->pos[1]);
	case TEST_HASFLAG:
		if (t->npos == 2) {
			for (size_t i = 0; i < t->pos[0]->n; i++)
				split_flags(r, var_get(r, f, t->pos[0]->strs[i].s,
						       t->pos[0]->strs[i].len), &vs);
		} else {
			split_flags(r, r->flags, &vs);
		}
		if (o->match == MATCH_COUNT)
			return match_values(r, f, o, &vs, t->pos[t->npos - 1]);
		{
			/* each key may itself hold several flags */
			const struct sv_arg *keys = t->pos[t->npos - 1];
			struct vals ks = { 0 };
			struct sv_arg ka = { .kind = SV_ARG_LIST };

			for (size_t k = 0; k < keys->n; k++)
				split_flags(r, expand_cstr(r, f, &keys->strs[k]), &ks);
			ka.n = ks.n;
			ka.strs = arena_alloc(r->ta, (ks.n + 1) * sizeof(*ka.strs));
			for (size_t k = 0; k < ks.n; k++)
				ka.strs[k] = (struct sv_str){ .s = arena_strndup(r->ta, ks.v[k].ptr,
										 ks.v[k].len),
							      .len = ks.v[k].len };
			return match_values(r, f, o, &vs, &ka);
		}
	case TEST_MAILBOXEXISTS:
		for (size_t i = 0; i < t->pos[0]->n; i++) {
			const char *name = expand_cstr(r, f, &t->pos[0]->strs[i]);

			if (r->env->mailbox_exists == NULL ||
			    !r->env->mailbox_exists(r->env->ctx, name))
				return 0;
		}
		return 1;
	case TEST_SPECIALUSE_EXISTS: {
		const char *mbox = t->npos == 2 ? expand_cstr(r, f, &t->pos[0]->strs[0]) : NULL;
		const struct sv_arg *fl = t->pos[t->npos - 1];

		if (mbox != NULL && (r->env->mailbox_exists == NULL ||
				     !r->env->mailbox_exists(r->env->ctx, mbox)))
			return 0;
		for (size_t i = 0; i < fl->n; i++) {
			if (r->env->specialuse_exists == NULL ||
			    !r->env->specialuse_exists(r->env->ctx, mbox,
						       expand_cstr(r, f, &fl->strs[i])))
				return 0;
		}
		return 1;
	}
	case TEST_MAILBOXIDEXISTS:
		for (size_t i = 0; i < t->pos[0]->n; i++) {
			if (r->env->mailboxid_exists == NULL ||
			    !r->env->mailboxid_exists(r->env->ctx,
						      expand_cstr(r, f, &t->pos[0]->strs[i])))
				return 0;
		}
		return 1;
	case TEST_DUPLICATE: {
		const char *value = NULL, *id;
		uint64_t secs = o->has_seconds ? o->seconds : 43200;

		if (o->uniqueid != NULL) {
			value = expand_cstr(r, f, &o->uniqueid->strs[0]);
		} else {
			struct slice name = o->header != NULL ? expand(r, f, &o->header->strs[0])
							      : SLICE_LIT("message-id");
			const struct sv_field **fl = fields_buf(r);
			struct sv_opts oo = { .index = 1 };
			size_t n;

			header_fields(r, name, &oo, fl, &n);
			if (n == 0)
				return 0; /* RFC 7352 §3.1: no such header, no duplicate */
			value = fl[0]->value;
		}
		id = arena_printf(r->ta, "%s\n%s",
				  o->handle != NULL ? expand_cstr(r, f, &o->handle->strs[0]) : "",
				  value);
		if (secs > 7 * 86400)
			secs = 7 * 86400;
		return r->env->duplicate_check != NULL &&
		       r->env->duplicate_check(r->env->ctx, id, secs);
	}
	case TEST_ENVIRONMENT: {
		const char *v = env_item(r, expand_cstr(r, f, &t->pos[0]->strs[0]));

		if (v == NULL)
			return 0;
		vals_add(r, &vs, slice_cstr(v));
		return match_values(r, f, o, &vs, t->pos[1]);
	}
	case TEST_IHAVE:
		/* the names are taken as written, never expanded (as Pigeonhole) */
		for (size_t i = 0; i < t->pos[0]->n; i++) {
			struct slice s = slice_from(t->pos[0]->strs[i].s, t->pos[0]->strs[i].len);
			int e = sv_ext_lookup(s.ptr, s.len);

			if (e < 0 || (f->script->enabled & EXT_BIT(e)) == 0)
				return 0;
		}
		return 1;
	default:
		sv_run_fail(r, "line %u: test \"%s\" cannot run here", t->line, t->name);
		return -1;
	}
}

/* ---- actions ---- */

static struct sieve_action *act_new(struct sv_run *r, enum sieve_action_type type)
{
	struct sieve_action *a;

	if (r->nacts >= r->lim.max_actions) {
		sv_run_fail(r, "too many actions (limit %u)", r->lim.max_actions);
		return NULL;
	}
	if (r->nacts == r->capacts) {
		size_t ncap = r->capacts == 0 ? 8 : r->capacts * 2;
		struct sieve_action *na = arena_alloc(r->ra, ncap * sizeof(*na));

		if (r->nacts > 0)
			memcpy(na, r->acts, r->nacts * sizeof(*na));
		r->acts = na;
		r->capacts = ncap;
	}
	a = &r->acts[r->nacts++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

static bool same_mailbox(const char *a, const char *b)
{
	if (strcasecmp(a, "INBOX") == 0 && strcasecmp(b, "INBOX") == 0)
		return true;
	return strcmp(a, b) == 0;
}

static int conflict_reject(struct sv_run *r, const char *what)
{
	/* RFC 5429 §2.1/§2.2: reject cannot be combined with delivering */
	sv_run_fail(r, "reject cannot be combined with %s", what);
	return -1;
}

static int do_store(struct sv_run *r, bool keep, const char *mailbox, const char *flags,
		    bool create, const char *specialuse, const char *mailboxid)
{
	struct sieve_action *a;

	if (r->has_reject)
		return conflict_reject(r, keep ? "keep" : "fileinto");
	if (!utf8_is_valid(mailbox, strlen(mailbox)) || mailbox[0] == '\0') {
		sv_run_fail(r, "invalid mailbox name");
		return -1;
	}
	for (size_t i = 0; i < r->nacts; i++) {
		a = &r->acts[i];
		if ((a->type == SIEVE_ACT_KEEP || a->type == SIEVE_ACT_FILEINTO) &&
		    same_mailbox(a->mailbox, mailbox)) {
			/* duplicate store: one copy; the later flags win, as in
			   Pigeonhole (RFC 5232 leaves it open) */
			a->flags = flags_array(r, flags);
			a->create = a->create || create;
			if (keep && a->type == SIEVE_ACT_FILEINTO)
				a->type = SIEVE_ACT_KEEP;
			return 0;
		}
	}
	if ((a = act_new(r, keep ? SIEVE_ACT_KEEP : SIEVE_ACT_FILEINTO)) == NULL)
		return -1;
	a->mailbox = arena_strdup(r->ra, keep ? "INBOX" : mailbox);
	a->flags = flags_array(r, flags);
	a->create = create;
	a->special_use = specialuse == NULL ? NULL : arena_strdup(r->ra, specialuse);
	a->mailboxid = mailboxid == NULL ? NULL : arena_strdup(r->ra, mailboxid);
	r->stores++;
	return 0;
}

static bool valid_redirect(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= 32 || *p == '<' || *p == '>' || *p == ',')
			return false;
	}
	return true;
}

static int do_redirect(struct sv_run *r, const char *addr, bool copy)
{
	struct sieve_action *a;

	if (r->has_reject)
		return conflict_reject(r, "redirect");
	if (!valid_redirect(addr)) {
		sv_run_fail(r, "invalid redirect address \"%.200s\"", addr);
		return -1;
	}
	for (size_t i = 0; i < r->nacts; i++) {
		if (r->acts[i].type == SIEVE_ACT_REDIRECT && strcasecmp(r->acts[i].address, addr) == 0) {
			r->acts[i].copy = r->acts[i].copy && copy;
			return 0;
		}
	}
	if (r->redirects >= r->lim.max_redirects) {
		sv_run_fail(r, "too many redirects (limit %u)", r->lim.max_redirects);
		return -1;
	}
	if ((a = act_new(r, SIEVE_ACT_REDIRECT)) == NULL)
		return -1;
	a->address = arena_strdup(r->ra, addr);
	a->copy = copy;
	r->redirects++;
	return 0;
}

static bool protected_header(const char *name)
{
	return strcasecmp(name, "received") == 0 || strcasecmp(name, "auto-submitted") == 0;
}

static void edit_add(struct sv_run *r, const struct sieve_header_edit *e)
{
	if (r->nedits == r->capedits) {
		size_t ncap = r->capedits == 0 ? 8 : r->capedits * 2;
		struct sieve_header_edit *ne = arena_alloc(r->ra, ncap * sizeof(*ne));

		if (r->nedits > 0)
			memcpy(ne, r->edits, r->nedits * sizeof(*ne));
		r->edits = ne;
		r->capedits = ncap;
	}
	r->edits[r->nedits++] = *e;
}

static bool valid_field_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127 || *s == ':')
			return false;
	}
	return true;
}

static int do_addheader(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	const char *name = expand_cstr(r, f, &n->pos[0]->strs[0]);
	struct slice value = expand(r, f, &n->pos[1]->strs[0]);
	struct sieve_header_edit e = { .add = true, .last = n->o.last };

	if (!valid_field_name(name)) {
		sv_run_fail(r, "addheader: invalid header name \"%.100s\"", name);
		return -1;
	}
	if (protected_header(name))
		return 0; /* RFC 5293 §6: silently left alone */
	for (size_t i = 0; i < value.len; i++) {
		if (value.ptr[i] == '\r' || value.ptr[i] == '\n' || value.ptr[i] == '\0') {
			sv_run_fail(r, "addheader: header value contains a line break");
			return -1;
		}
	}
	e.name = arena_strdup(r->ra, name);
	e.value = arena_strndup(r->ra, value.ptr, value.len);
	edit_add(r, &e);
	/* later tests see the edited header (RFC 5293 §5) */
	if (r->hv.count == r->hv.cap) {
		size_t ncap = r->hv.cap == 0 ? 8 : r->hv.cap * 2;
		struct sv_field *nf = arena_alloc(r->a, ncap * sizeof(*nf));

		if (r->hv.count > 0)
			memcpy(nf, r->hv.fields, r->hv.count * sizeof(*nf));
		r->hv.fields = nf;
		r->hv.cap = ncap;
	}
	if (n->o.last) {
		r->hv.fields[r->hv.count] = (struct sv_field){ e.name, e.value, e.value };
	} else {
		memmove(r->hv.fields + 1, r->hv.fields, r->hv.count * sizeof(*r->hv.fields));
		r->hv.fields[0] = (struct sv_field){ e.name, e.value, e.value };
	}
	r->hv.count++;
	return 0;
}

static int do_deleteheader(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	const char *name = expand_cstr(r, f, &n->pos[0]->strs[0]);
	struct slice sname = slice_cstr(name);
	size_t total = 0, k = 0;

	if (protected_header(name))
		return 0;
	for (size_t i = 0; i < r->hv.count; i++)
		total += name_eq(r->hv.fields[i].name, sname);
	if (n->npos == 1 && n->o.index == 0) {
		struct sieve_header_edit e = { .name = arena_strdup(r->ra, name) };
		size_t w = 0;

		if (total > 0)
			edit_add(r, &e);
		for (size_t i = 0; i < r->hv.count; i++) {
			if (!name_eq(r->hv.fields[i].name, sname))
				r->hv.fields[w++] = r->hv.fields[i];
		}
		r->hv.count = w;
		return 0;
	}
	for (size_t i = 0; i < r->hv.count;) {
		struct sv_field *fl = &r->hv.fields[i];
		bool del = true;

		if (!name_eq(fl->name, sname)) {
			i++;
			continue;
		}
		k++;
		if (n->o.index > 0) {
			size_t want = n->o.last ? (total >= n->o.index ? total - n->o.index + 1 : 0)
						: n->o.index;

			del = k == want;
		}
		if (del && n->npos == 2) {
			struct vals vs = { 0 };
			int ret;

			vals_add(r, &vs, slice_cstr(decoded(r, fl->value)));
			if ((ret = match_values(r, f, &n->o, &vs, n->pos[1])) < 0)
				return -1;
			del = ret == 1;
		}
		if (!del) {
			i++;
			continue;
		}
		struct sieve_header_edit e = { .name = arena_strdup(r->ra, fl->name),
					       .value = arena_strdup(r->ra, fl->raw) };

		edit_add(r, &e);
		memmove(fl, fl + 1, (r->hv.count - i - 1) * sizeof(*fl));
		r->hv.count--;
	}
	return 0;
}

static int do_vacation(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	const struct sv_opts *o = &n->o;
	struct sieve_action *a;
	uint64_t secs;

	if (r->has_vacation) {
		sv_run_fail(r, "line %u: more than one vacation action", n->line);
		return -1;
	}
	if (r->has_reject)
		return conflict_reject(r, "vacation");
	if ((a = act_new(r, SIEVE_ACT_VACATION)) == NULL)
		return -1;
	r->has_vacation = true;
	a->vacation_reason = arena_strdup(r->ra, expand_cstr(r, f, &n->pos[0]->strs[0]));
	a->vacation_mime = o->mime;
	if (o->subject != NULL)
		a->vacation_subject = arena_strdup(r->ra, expand_cstr(r, f, &o->subject->strs[0]));
	if (o->from != NULL)
		a->vacation_from = arena_strdup(r->ra, expand_cstr(r, f, &o->from->strs[0]));
	if (o->handle != NULL) {
		a->vacation_handle = arena_strdup(r->ra, expand_cstr(r, f, &o->handle->strs[0]));
	} else {
		/* as Pigeonhole derives it, so handles survive a migration */
		a->vacation_handle = arena_printf(
			r->ra, "%s%s%s%s", a->vacation_reason,
			a->vacation_subject != NULL ? a->vacation_subject : "<default-subject>",
			a->vacation_from != NULL ? a->vacation_from : "<default-from>",
			o->mime ? "<MIME>" : "<NO-MIME>");
	}
	secs = o->has_seconds ? o->seconds : 7 * 86400;
	/* RFC 5230 §4.1 lets a site set a minimum: one day, as Pigeonhole's
	   default sieve_vacation_min_period (RFC 6131 ":seconds 0" too) */
	if (secs < 86400)
		secs = 86400;
	a->vacation_seconds = secs;
	a->vacation_to = arena_strdup(r->ra, r->msg->envelope_from == NULL ? ""
									   : r->msg->envelope_from);
	if (o->addresses != NULL) {
		const char **ad = arena_alloc(r->ra, (o->addresses->n + 1) * sizeof(*ad));

		for (size_t i = 0; i < o->addresses->n; i++)
			ad[i] = arena_strdup(r->ra, expand_cstr(r, f, &o->addresses->strs[i]));
		a->vacation_addresses = ad;
	}
	return 0;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
}

static int do_set(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	struct slice v = expand(r, f, &n->pos[1]->strs[0]);
	unsigned int m = n->o.modifiers;
	char *s = arena_strndup(r->a, v.ptr, v.len);
	size_t len = v.len;

	/* case modifiers change ASCII letters only, as Pigeonhole does, so
	   that migrated scripts build the same mailbox names */
	if (m & (MOD_LOWER | MOD_UPPER)) {
		for (size_t i = 0; i < len; i++)
			s[i] = (m & MOD_LOWER) ? ascii_lower(s[i]) : ascii_upper(s[i]);
	}
	if ((m & (MOD_LOWERFIRST | MOD_UPPERFIRST)) && len > 0)
		s[0] = (m & MOD_LOWERFIRST) ? ascii_lower(s[0]) : ascii_upper(s[0]);
	if (m & (MOD_QUOTEWILDCARD | MOD_QUOTEREGEX)) {
		const char *special = (m & MOD_QUOTEWILDCARD) ? "*?\\" : "*?\\.+^$[](){}|";
		struct buf b;

		buf_init(&b, 0);
		for (size_t i = 0; i < len; i++) {
			if (strchr(special, s[i]) != NULL && s[i] != '\0')
				(void)buf_append(&b, "\\", 1);
			(void)buf_append(&b, s + i, 1);
		}
		s = arena_strndup(r->a, b.data == NULL ? "" : b.data, b.len);
		len = b.len;
		buf_free(&b);
	}
	if (m & MOD_LENGTH) {
		size_t chars = 0;

		for (size_t i = 0; i < len; i++)
			chars += ((unsigned char)s[i] & 0xc0) != 0x80;
		s = arena_printf(r->a, "%zu", chars);
		len = strlen(s);
	}
	return var_set(r, f, n->pos[0]->strs[0].s, s, len);
}

static int do_flags(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	const char *cur, *add = strlist_flags(r, f, n->pos[n->npos - 1]), *res;
	const char *var = n->npos == 2 ? n->pos[0]->strs[0].s : NULL;

	if (n->npos == 2 && n->pos[0]->n != 1) {
		sv_run_fail(r, "line %u: one variable name expected", n->line);
		return -1;
	}
	cur = var != NULL ? var_get(r, f, var, strlen(var)) : r->flags;
	switch (n->id) {
	case CMD_SETFLAG:
		res = add;
		break;
	case CMD_ADDFLAG: {
		const char *in[2] = { cur, add };

		res = flags_norm(r, in, 2, NULL);
		break;
	}
	default: {
		const char *in[1] = { cur };

		res = flags_norm(r, in, 1, add);
		break;
	}
	}
	if (var != NULL)
		return var_set(r, f, var, res, strlen(res));
	r->flags = res;
	return 0;
}

static int exec_block(struct sv_run *r, struct frame *f, const struct sv_node *n);

static const char *const *enabled_list(struct sv_run *r, uint64_t mask)
{
	const char **l = arena_alloc(r->a, (EXT_COUNT + 1) * sizeof(*l));
	size_t k = 0;

	for (int e = 0; e < EXT_COUNT; e++) {
		if (mask & EXT_BIT(e))
			l[k++] = sv_ext_names[e];
	}
	l[k] = NULL;
	return l;
}

static int do_include(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	const char *name = n->pos[0]->strs[0].s;
	const char *key = arena_printf(r->a, "%c:%s", n->o.global ? 'g' : 'p', name);
	struct sieve_script *s;
	struct sieve_error err;
	const char *text;
	size_t len = 0;
	int ret;

	for (const struct frame *p = f; p != NULL; p = p->parent) {
		if (p->global_script == n->o.global && strcmp(p->name, name) == 0) {
			sv_run_fail(r, "line %u: include loop on script \"%s\"", n->line, name);
			return -1;
		}
	}
	for (size_t i = 0; i < r->nincluded; i++) {
		if (n->o.once && strcmp(r->included[i], key) == 0)
			return 0;
	}
	if (r->depth >= MAX_INCLUDE_DEPTH || r->includes >= MAX_INCLUDES) {
		sv_run_fail(r, "line %u: includes nested too deeply or too many", n->line);
		return -1;
	}
	text = r->env->include_fetch == NULL ? NULL
					     : r->env->include_fetch(r->env->ctx, name, n->o.global,
								     &len);
	if (text == NULL) {
		if (n->o.optional)
			return 0;
		sv_run_fail(r, "line %u: included script \"%s\" not found", n->line, name);
		return -1;
	}
	if (sieve_compile_cached(text, len, enabled_list(r, f->script->enabled), &r->lim, &s,
				 &err) < 0) {
		sv_run_fail(r, "included script \"%s\": %s", name, err.msg);
		return -1;
	}
	if (r->ncompiled < MAX_INCLUDES) {
		if (r->compiled == NULL)
			r->compiled = arena_alloc(r->a, MAX_INCLUDES * sizeof(*r->compiled));
		r->compiled[r->ncompiled++] = s;
	}
	if (r->included == NULL)
		r->included = arena_alloc(r->a, (MAX_INCLUDES + 1) * sizeof(*r->included));
	r->included[r->nincluded++] = arena_strdup(r->a, key);
	r->includes++;

	struct frame sub = { .script = s, .name = arena_strdup(r->a, name),
			     .global_script = n->o.global, .parent = f };

	r->depth++;
	ret = exec_block(r, &sub, s->root);
	r->depth--;
	if (r->ncompiled >= MAX_INCLUDES)
		sieve_script_free(&s);
	if (ret == EX_RETURN)
		return EX_OK;
	return ret;
}

static int exec_cmd(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	const struct sv_opts *o = &n->o;

	switch (n->id) {
	case CMD_REQUIRE:
		return EX_OK;
	case CMD_STOP:
		return EX_STOP;
	case CMD_RETURN:
		return EX_RETURN;
	case CMD_KEEP:
	case CMD_FILEINTO: {
		bool keep = n->id == CMD_KEEP;
		const char *flags = o->flags != NULL ? strlist_flags(r, f, o->flags)
				    : has_ext(f, EXT_IMAP4FLAGS) ? r->flags
								  : NULL;
		const char *mbox = keep ? "INBOX" : expand_cstr(r, f, &n->pos[0]->strs[0]);

		if (do_store(r, keep, mbox, flags, o->create,
			     o->specialuse == NULL ? NULL : expand_cstr(r, f, &o->specialuse->strs[0]),
			     o->mailboxid == NULL ? NULL : expand_cstr(r, f, &o->mailboxid->strs[0])) < 0)
			return EX_ERR;
		if (!o->copy)
			r->keep_cancelled = true;
		return EX_OK;
	}
	case CMD_DISCARD:
		r->keep_cancelled = true;
		if (!r->has_discard) {
			if (act_new(r, SIEVE_ACT_DISCARD) == NULL)
				return EX_ERR;
			r->has_discard = true;
		}
		return EX_OK;
	case CMD_REDIRECT: {
		struct slice addr = slice_trim(expand(r, f, &n->pos[0]->strs[0]));

		if (addr.len > 0 && addr.ptr[addr.len - 1] == '>' &&
		    memchr(addr.ptr, '<', addr.len) != NULL) { /* "Name <a@b>" → a@b */
			const char *lt = addr.ptr + addr.len;

			while (*--lt != '<')
				;
			addr = slice_from(lt + 1, (size_t)(addr.ptr + addr.len - 1 - (lt + 1)));
		}

		if (do_redirect(r, arena_strndup(r->a, addr.ptr, addr.len), o->copy) < 0)
			return EX_ERR;
		if (!o->copy)
			r->keep_cancelled = true;
		return EX_OK;
	}
	case CMD_REJECT:
	case CMD_EREJECT: {
		struct sieve_action *a;

		if (r->has_reject) {
			sv_run_fail(r, "line %u: more than one reject action", n->line);
			return EX_ERR;
		}
		for (size_t i = 0; i < r->nacts; i++) {
			enum sieve_action_type t = r->acts[i].type;

			if (t == SIEVE_ACT_KEEP || t == SIEVE_ACT_FILEINTO ||
			    t == SIEVE_ACT_REDIRECT || t == SIEVE_ACT_VACATION) {
				(void)conflict_reject(r, "an earlier delivering action");
				return EX_ERR;
			}
		}
		if ((a = act_new(r, SIEVE_ACT_REJECT)) == NULL)
			return EX_ERR;
		a->reason = arena_strdup(r->ra, expand_cstr(r, f, &n->pos[0]->strs[0]));
		a->ereject = n->id == CMD_EREJECT;
		r->has_reject = true;
		r->keep_cancelled = true;
		return EX_OK;
	}
	case CMD_VACATION:
		return do_vacation(r, f, n) < 0 ? EX_ERR : EX_OK;
	case CMD_SETFLAG:
	case CMD_ADDFLAG:
	case CMD_REMOVEFLAG:
		return do_flags(r, f, n) < 0 ? EX_ERR : EX_OK;
	case CMD_SET:
		return do_set(r, f, n) < 0 ? EX_ERR : EX_OK;
	case CMD_ADDHEADER:
		return do_addheader(r, f, n) < 0 ? EX_ERR : EX_OK;
	case CMD_DELETEHEADER:
		return do_deleteheader(r, f, n) < 0 ? EX_ERR : EX_OK;
	case CMD_INCLUDE:
		return do_include(r, f, n);
	case CMD_GLOBAL:
		for (size_t i = 0; i < n->pos[0]->n; i++) {
			char **ng = arena_alloc(r->a, (f->nglobals + 1) * sizeof(*ng));

			if (f->nglobals > 0)
				memcpy(ng, f->globals, f->nglobals * sizeof(*ng));
			ng[f->nglobals++] = lower_dup(r->a, n->pos[0]->strs[i].s, n->pos[0]->strs[i].len);
			f->globals = ng;
		}
		return EX_OK;
	case CMD_ERROR:
		sv_run_fail(r, "line %u: script error: %.300s", n->line,
			    expand_cstr(r, f, &n->pos[0]->strs[0]));
		return EX_ERR;
	default:
		sv_run_fail(r, "line %u: command \"%s\" cannot run here", n->line, n->name);
		return EX_ERR;
	}
}

static int exec_block(struct sv_run *r, struct frame *f, const struct sv_node *n)
{
	bool taken = false; /* a branch of the current if-chain ran */

	for (; n != NULL; n = n->next) {
		int ret;

		if (sv_deadline_passed(r))
			return EX_ERR;
		if (n->id == CMD_IF || n->id == CMD_ELSIF || n->id == CMD_ELSE) {
			if (n->id == CMD_IF)
				taken = false;
			if (taken)
				continue;
			if (n->id != CMD_ELSE) {
				if (n->dead) {
					ret = 0;
				} else if ((ret = eval_test(r, f, n->tests[0])) < 0) {
					return EX_ERR;
				}
				if (ret == 0)
					continue;
			}
			taken = true;
			ret = exec_block(r, f, n->block);
		} else {
			ret = exec_cmd(r, f, n);
		}
		/* nothing of a finished test or command lives in ta: keeps the
		   memory of a run bounded by one test, not by the test count */
		arena_reset(r->ta);
		if (ret != EX_OK)
			return ret;
		if (r->failed)
			return EX_ERR;
	}
	return EX_OK;
}

void sieve_execute(const struct sieve_script *script, const struct sieve_message *msg,
		   const struct sieve_env *env, const struct sieve_limits *limits,
		   struct sieve_result *result)
{
	static const struct sieve_env no_env = { 0 };
	struct sieve_result_mem *mem = xcalloc(1, sizeof(*mem));
	struct sieve_message m = *msg;
	struct sv_run r = { .msg = &m, .env = env == NULL ? &no_env : env };
	struct frame main = { .script = script, .name = "" };
	int ret;

	memset(result, 0, sizeof(*result));
	mem->a = arena_new(8 * 1024);
	result->mem = mem;
	r.ra = mem->a;
	r.a = arena_new(64 * 1024);
	r.ta = arena_new(64 * 1024);
	sv_limits_norm(limits != NULL ? limits : &script->limits, &r.lim);
	r.deadline = util_now_ms() + r.lim.max_execution_ms;
	r.flags = "";
	if (m.data == NULL) {
		m.data = "";
		m.len = 0;
	}
	sv_msg_index(&r.hv, m.data, m.len, r.a);

	ret = exec_block(&r, &main, script->root);
	if (ret == EX_ERR || r.failed) {
		if (!r.failed)
			sv_run_fail(&r, "run-time error");
		result->failed = true;
		result->implicit_keep = true;
		snprintf(result->error, sizeof(result->error), "%s", r.error);
		result->actions = arena_alloc(mem->a, sizeof(*result->actions));
		result->actions[0] = (struct sieve_action){ .type = SIEVE_ACT_KEEP,
							    .mailbox = "INBOX" };
		result->action_count = 1;
	} else {
		if (!r.keep_cancelled) {
			/* implicit keep, with the flags set at the end (RFC 5232 §3) */
			r.lim.max_actions++; /* the implicit keep never counts */
			r.has_reject = false;
			if (do_store(&r, true, "INBOX",
				     has_ext(&main, EXT_IMAP4FLAGS) ? r.flags : NULL, false, NULL,
				     NULL) < 0) {
				/* cannot happen with the limit raised; keep anyway */
			}
			result->implicit_keep = true;
		}
		result->actions = r.acts;
		result->action_count = r.nacts;
		result->edits = r.edits;
		result->edit_count = r.nedits;
	}
	for (size_t i = 0; i < r.ncompiled; i++)
		sieve_script_free(&r.compiled[i]);
	arena_free(&r.ta);
	arena_free(&r.a);
}

void sieve_result_free(struct sieve_result *result)
{
	if (result->mem != NULL) {
		arena_free(&result->mem->a);
		free(result->mem);
	}
	memset(result, 0, sizeof(*result));
}
