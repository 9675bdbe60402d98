/* Configuration loader.

   Flow: the text is parsed into a TOML tree (lib/toml.c) in a temporary
   arena; the tree is walked through static key tables (struct config_key)
   that say, per key, which type it must have and which field of struct
   config / struct config_server receives it. Defaults are written first,
   so a key that is absent keeps its default. Every problem becomes one
   diagnostic line carrying the file, the line of the key and its full
   dotted path; loading goes on after an error so that all problems are
   reported at once. Values are never echoed for secrets (passwords, keys):
   messages about them name the key only.

   Ownership: strings and servers live in cfg->arena; the cidr lists are
   malloc'ed (lib contract of net/cidr.h) and freed by config_free(). The
   parse tree is wiped (it holds secrets) and freed before returning. */

#include "config-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/units.h"

/* Diagnostics beyond this many are counted, not printed. */
#define CONFIG_MAX_DIAGS 200

static const char *const server_type_names[] = {
	"imap", "pop3", "lmtp", "managesieve", "imap_proxy", "pop3_proxy",
	"managesieve_proxy", "lmtp_proxy", "http_admin_api", "http_user_api", "metrics",
};
static_assert(ARRAY_SIZE(server_type_names) == SERVER_TYPE_COUNT, "server_type_names out of sync");

const char *server_type_name(enum server_type type)
{
	return (unsigned)type < SERVER_TYPE_COUNT ? server_type_names[type] : "unknown";
}

int server_type_parse(const char *s, enum server_type *type_r)
{
	for (size_t i = 0; i < ARRAY_SIZE(server_type_names); i++) {
		if (strcmp(s, server_type_names[i]) == 0) {
			*type_r = (enum server_type)i;
			return 0;
		}
	}
	if (strcmp(s, "http_api") == 0) {
		*type_r = SERVER_HTTP_ADMIN_API;
		return 0;
	}
	return -1;
}

/* ---- diagnostics ---- */

static void config_vdiag(struct config_ctx *ctx, bool warning, unsigned line, const char *path,
			 const char *fmt, va_list ap) PRINTF_FMT(5, 0);

static void config_vdiag(struct config_ctx *ctx, bool warning, unsigned line, const char *path,
			 const char *fmt, va_list ap)
{
	char *msg = arena_vprintf(ctx->tmp, fmt, ap);
	struct config_diag *d;

	if (warning)
		ctx->warnings++;
	else
		ctx->errors++;
	if (ctx->diag_count == ctx->diag_cap) {
		ctx->diag_cap = ctx->diag_cap == 0 ? 16 : ctx->diag_cap * 2;
		ctx->diags = xrealloc(ctx->diags, ctx->diag_cap * sizeof(*ctx->diags));
	}
	d = &ctx->diags[ctx->diag_count];
	d->line = line;
	d->seq = (unsigned)ctx->diag_count++;
	if (path != NULL)
		d->text = arena_printf(ctx->tmp, "%s%s:%u: %s: %s", warning ? "warning: " : "",
				       ctx->file, line, path, msg);
	else
		d->text = arena_printf(ctx->tmp, "%s%s:%u: %s", warning ? "warning: " : "",
				       ctx->file, line, msg);
}

void config_error(struct config_ctx *ctx, unsigned line, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vdiag(ctx, false, line, path, fmt, ap);
	va_end(ap);
}

void config_warning(struct config_ctx *ctx, unsigned line, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vdiag(ctx, true, line, path, fmt, ap);
	va_end(ap);
}

void config_unknown_key(struct config_ctx *ctx, const struct toml_node *n, const char *path)
{
	if (ctx->strict)
		config_error(ctx, n->line, path, "unknown key");
	else
		config_warning(ctx, n->line, path, "unknown key");
}

void config_type_error(struct config_ctx *ctx, const struct toml_node *n, const char *path,
		       const char *expected)
{
	config_error(ctx, n->line, path, "expected %s, got %s %s", expected,
		     n->type == TOML_ARRAY || n->type == TOML_INTEGER ? "an" : "a",
		     toml_type_name(n->type));
}

static int config_diag_cmp(const void *a, const void *b)
{
	const struct config_diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void config_emit_diags(struct config_ctx *ctx, struct buf *diag_r)
{
	if (ctx->diag_count > 1)
		qsort(ctx->diags, ctx->diag_count, sizeof(*ctx->diags), config_diag_cmp);
	if (diag_r == NULL)
		return;
	for (size_t i = 0; i < ctx->diag_count && i < CONFIG_MAX_DIAGS; i++)
		(void)buf_printf(diag_r, "%s\n", ctx->diags[i].text);
	if (ctx->diag_count > CONFIG_MAX_DIAGS)
		(void)buf_printf(diag_r, "%s: %zu more problems not shown\n", ctx->file,
				 ctx->diag_count - CONFIG_MAX_DIAGS);
}

/* ---- paths and quoting ---- */

bool config_key_is(const struct toml_node *n, const char *name)
{
	size_t len = strlen(name);

	return n->key != NULL && n->key_len == len && memcmp(n->key, name, len) == 0;
}

const char *config_path(struct config_ctx *ctx, const char *prefix, const struct toml_node *n)
{
	const char *key = toml_key_str(ctx->tmp, n->key, n->key_len);

	if (prefix == NULL || prefix[0] == '\0')
		return key;
	return arena_printf(ctx->tmp, "%s.%s", prefix, key);
}

const char *config_path_str(struct config_ctx *ctx, const char *prefix, const char *name)
{
	if (prefix == NULL || prefix[0] == '\0')
		return name;
	return arena_printf(ctx->tmp, "%s.%s", prefix, name);
}

const char *config_quote(struct config_ctx *ctx, const char *s, size_t len)
{
	struct buf b;
	const char *out;

	buf_init(&b, 0);
	(void)buf_append(&b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 60) {
			(void)buf_append_str(&b, "...");
			break;
		}
		if (c == '"' || c == '\\')
			(void)buf_printf(&b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			(void)buf_printf(&b, "\\x%02x", c);
		else
			(void)buf_append(&b, &s[i], 1);
	}
	(void)buf_append(&b, "\"", 1);
	out = arena_strndup(ctx->tmp, b.data, b.len);
	buf_free(&b);
	return out;
}

/* ---- which fields were set ---- */

const struct config_set *config_find_set(const struct config_ctx *ctx, const void *field)
{
	for (size_t i = ctx->set_base; i < ctx->set_count; i++) {
		if (ctx->sets[i].field == field)
			return &ctx->sets[i];
	}
	return NULL;
}

bool config_mark_set(struct config_ctx *ctx, const void *field, const char *path, unsigned line)
{
	const struct config_set *old = config_find_set(ctx, field);

	if (old != NULL) {
		config_error(ctx, line, path,
			     "conflicts with %s (line %u), which sets the same thing", old->path,
			     old->line);
		return false;
	}
	if (ctx->set_count == ctx->set_cap) {
		ctx->set_cap = ctx->set_cap == 0 ? 64 : ctx->set_cap * 2;
		ctx->sets = xrealloc(ctx->sets, ctx->set_cap * sizeof(*ctx->sets));
	}
	ctx->sets[ctx->set_count++] =
		(struct config_set){ .field = field, .path = path, .line = line };
	return true;
}

size_t config_scope_begin(struct config_ctx *ctx)
{
	size_t saved = ctx->set_base;

	ctx->set_base = ctx->set_count;
	return saved;
}

void config_scope_end(struct config_ctx *ctx, size_t saved)
{
	ctx->set_count = ctx->set_base;
	ctx->set_base = saved;
}

/* ---- values ---- */

static bool config_get_u64(struct config_ctx *ctx, const struct toml_node *n, const char *path,
			   uint64_t max, uint64_t *v_r)
{
	if (n->type != TOML_INTEGER) {
		config_type_error(ctx, n, path, "an integer");
		return false;
	}
	if (n->integer < 0) {
		config_error(ctx, n->line, path, "must not be negative");
		return false;
	}
	if ((uint64_t)n->integer > max) {
		config_error(ctx, n->line, path, "too large (at most %llu)",
			     (unsigned long long)max);
		return false;
	}
	*v_r = (uint64_t)n->integer;
	return true;
}

static void config_get_cidrs(struct config_ctx *ctx, const struct toml_node *n, const char *path,
			     struct cidr_list *list)
{
	const struct toml_node *e;
	size_t i = 0;

	if (n->type != TOML_ARRAY) {
		config_type_error(ctx, n, path,
				  "an array of strings (IP addresses or CIDR ranges)");
		return;
	}
	toml_foreach(e, n) {
		const char *epath = arena_printf(ctx->tmp, "%s[%zu]", path, i++);
		const char *err = "NUL character";

		if (e->type != TOML_STRING) {
			config_type_error(ctx, e, epath, "a string (IP address or CIDR range)");
			continue;
		}
		if (memchr(e->str, '\0', e->str_len) != NULL ||
		    cidr_list_add(list, e->str, &err) < 0)
			config_error(ctx, e->line, epath, "invalid network %s: %s",
				     config_quote(ctx, e->str, e->str_len), err);
	}
}

/* Reads n as k says into field. Returns false when the value was bad. */
static bool config_convert(struct config_ctx *ctx, const struct config_key *k,
			   const struct toml_node *n, void *field, const char *path)
{
	uint64_t v;

	switch (k->kind) {
	case CFG_BOOL:
		if (n->type != TOML_BOOL) {
			config_type_error(ctx, n, path, "a boolean (true or false)");
			return false;
		}
		*(bool *)field = n->boolean;
		return true;
	case CFG_STRING:
	case CFG_SECRET:
		if (n->type != TOML_STRING) {
			config_type_error(ctx, n, path, "a string");
			return false;
		}
		if (memchr(n->str, '\0', n->str_len) != NULL) {
			config_error(ctx, n->line, path, "must not contain a NUL character");
			return false;
		}
		*(const char **)field = arena_strndup(ctx->cfg->arena, n->str, n->str_len);
		return true;
	case CFG_U32:
		if (!config_get_u64(ctx, n, path, UINT32_MAX, &v))
			return false;
		*(uint32_t *)field = (uint32_t)v;
		return true;
	case CFG_UINT:
		if (!config_get_u64(ctx, n, path, UINT_MAX, &v))
			return false;
		*(unsigned *)field = (unsigned)v;
		return true;
	case CFG_U64:
		if (!config_get_u64(ctx, n, path, INT64_MAX, &v))
			return false;
		*(uint64_t *)field = v;
		return true;
	case CFG_DURATION:
		if (n->type != TOML_STRING) {
			config_type_error(ctx, n, path,
					  "a duration string such as \"30s\" or \"5m\"");
			return false;
		}
		if (units_parse_duration(slice_from(n->str, n->str_len), &v) < 0) {
			config_error(ctx, n->line, path,
				     "invalid duration %s "
				     "(use e.g. \"500ms\", \"30s\", \"15m\", \"1h30m\", \"7d\")",
				     config_quote(ctx, n->str, n->str_len));
			return false;
		}
		*(uint64_t *)field = v;
		return true;
	case CFG_SIZE:
		if (n->type == TOML_INTEGER)
			return config_get_u64(ctx, n, path, INT64_MAX, (uint64_t *)field);
		if (n->type != TOML_STRING) {
			config_type_error(ctx, n, path,
					  "a size such as \"25mb\" or a number of bytes");
			return false;
		}
		if (units_parse_size(slice_from(n->str, n->str_len), &v) < 0) {
			config_error(ctx, n->line, path,
				     "invalid size %s (use e.g. \"512kb\", \"25mb\", \"1gb\")",
				     config_quote(ctx, n->str, n->str_len));
			return false;
		}
		*(uint64_t *)field = v;
		return true;
	case CFG_DOUBLE:
		if (n->type == TOML_INTEGER) {
			*(double *)field = (double)n->integer;
			return true;
		}
		if (n->type != TOML_FLOAT) {
			config_type_error(ctx, n, path, "a number");
			return false;
		}
		if (!isfinite(n->fp)) {
			config_error(ctx, n->line, path, "must be a finite number");
			return false;
		}
		*(double *)field = n->fp;
		return true;
	case CFG_CIDRS:
		config_get_cidrs(ctx, n, path, field);
		return true;
	case CFG_FUNC:
	case CFG_ANY:
		return true;
	}
	return false;
}

bool config_expect_table(struct config_ctx *ctx, const struct toml_node *n, const char *path)
{
	if (n->type == TOML_TABLE)
		return true;
	config_type_error(ctx, n, path, "a table");
	return false;
}

void config_apply(struct config_ctx *ctx, const struct toml_node *table,
		  const struct config_key *keys, size_t nkeys, void *target, const char *prefix,
		  unsigned exclude)
{
	const struct toml_node *c;

	toml_foreach(c, table) {
		const char *path = config_path(ctx, prefix, c);
		const struct config_key *k = NULL;

		for (size_t i = 0; i < nkeys; i++) {
			if (config_key_is(c, keys[i].name) && (keys[i].flags & exclude) == 0) {
				k = &keys[i];
				break;
			}
		}
		if (k == NULL) {
			config_unknown_key(ctx, c, path);
			continue;
		}
		if (k->kind == CFG_FUNC) {
			k->fn(ctx, c, target, path);
		} else if (k->kind == CFG_ANY) {
			continue;
		} else if ((k->flags & CFG_F_IGNORE) != 0) {
			union {
				struct cidr_list list;
				uint64_t u64;
				double d;
				const char *s;
			} scratch = { .u64 = 0 };

			(void)config_convert(ctx, k, c, &scratch, path);
			if (k->kind == CFG_CIDRS)
				cidr_list_free(&scratch.list);
		} else {
			void *field = (char *)target + k->offset;

			if (config_mark_set(ctx, field, path, c->line))
				(void)config_convert(ctx, k, c, field, path);
		}
	}
}

void config_check_readable(struct config_ctx *ctx, const char *file, unsigned line,
			   const char *path)
{
	struct stat st;
	char ebuf[128];
	int fd;

	/* O_NONBLOCK: a FIFO must not hang the loader */
	fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		config_error(ctx, line, path, "cannot read %s: %s",
			     config_quote(ctx, file, strlen(file)),
			     strerror_r(errno, ebuf, sizeof(ebuf)));
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		config_error(ctx, line, path, "%s is not a regular file",
			     config_quote(ctx, file, strlen(file)));
	(void)close(fd);
}

/* ---- global sections ---- */

#define CFG_OFF(field) offsetof(struct config, field)

static void config_logging_format(struct config_ctx *ctx, const struct toml_node *n, void *target,
				  const char *path)
{
	struct config *cfg = target;

	if (n->type != TOML_STRING) {
		config_type_error(ctx, n, path, "a string");
		return;
	}
	if (!config_mark_set(ctx, &cfg->logging.format, path, n->line))
		return;
	if (slice_eq(slice_from(n->str, n->str_len), SLICE_LIT("console")))
		cfg->logging.format = LOG_FORMAT_CONSOLE;
	else if (slice_eq(slice_from(n->str, n->str_len), SLICE_LIT("json")))
		cfg->logging.format = LOG_FORMAT_JSON;
	else
		config_error(ctx, n->line, path, "must be \"console\" or \"json\", not %s",
			     config_quote(ctx, n->str, n->str_len));
}

static void config_logging_level(struct config_ctx *ctx, const struct toml_node *n, void *target,
				 const char *path)
{
	struct config *cfg = target;

	if (n->type != TOML_STRING) {
		config_type_error(ctx, n, path, "a string");
		return;
	}
	if (!config_mark_set(ctx, &cfg->logging.level, path, n->line))
		return;
	if (memchr(n->str, '\0', n->str_len) != NULL ||
	    log_level_parse(n->str, &cfg->logging.level) < 0)
		config_error(ctx, n->line, path,
			     "must be \"debug\", \"info\", \"warn\" or \"error\", not %s",
			     config_quote(ctx, n->str, n->str_len));
}

static const struct config_key logging_keys[] = {
	{ "output", CFG_STRING, CFG_OFF(logging.output), NULL, 0 },
	{ "format", CFG_FUNC, 0, config_logging_format, 0 },
	{ "level", CFG_FUNC, 0, config_logging_level, 0 },
};

/* A string field restricted to a few words. */
static void config_choice(struct config_ctx *ctx, const struct toml_node *n, const char *path,
			  const char **field, const char *const *choices, size_t nchoices)
{
	if (n->type != TOML_STRING) {
		config_type_error(ctx, n, path, "a string");
		return;
	}
	if (!config_mark_set(ctx, field, path, n->line))
		return;
	for (size_t i = 0; i < nchoices; i++) {
		if (slice_eq(slice_from(n->str, n->str_len), slice_cstr(choices[i]))) {
			*field = choices[i];
			return;
		}
	}
	config_error(ctx, n->line, path, "must be \"%s\" or \"%s\", not %s", choices[0], choices[1],
		     config_quote(ctx, n->str, n->str_len));
}

static void config_database_driver(struct config_ctx *ctx, const struct toml_node *n,
				   void *target, const char *path)
{
	static const char *const drivers[] = { "sqlite", "postgres" };
	struct config *cfg = target;

	config_choice(ctx, n, path, &cfg->database.driver, drivers, ARRAY_SIZE(drivers));
}

static void config_storage_driver(struct config_ctx *ctx, const struct toml_node *n, void *target,
				  const char *path)
{
	static const char *const drivers[] = { "fs", "s3" };
	struct config *cfg = target;

	config_choice(ctx, n, path, &cfg->storage.driver, drivers, ARRAY_SIZE(drivers));
}

/* Sora's [database.write] / [database.read] (postgres). hosts and port
   take libpq's multi-host lists; min_conns and the lifetimes are Sora's
   pgx pool knobs, accepted and not used (our pools open lazily and keep
   their connections). */
#define DB_OFF(field) offsetof(struct config_db_endpoint, field)

static void config_db_hosts(struct config_ctx *ctx, const struct toml_node *n, void *target,
			    const char *path)
{
	struct config_db_endpoint *ep = target;
	const struct toml_node *e;
	struct buf b;

	if (n->type != TOML_STRING && n->type != TOML_ARRAY) {
		config_type_error(ctx, n, path, "a string or an array of strings");
		return;
	}
	if (!config_mark_set(ctx, &ep->hosts, path, n->line))
		return;
	buf_init(&b, 0);
	if (n->type == TOML_STRING) {
		(void)buf_append(&b, n->str, n->str_len);
	} else {
		toml_foreach(e, n) {
			if (e->type != TOML_STRING || e->str_len == 0 ||
			    memchr(e->str, ',', e->str_len) != NULL) {
				config_error(ctx, e->line, path, "each host must be a non-empty "
								 "string without ','");
				continue;
			}
			if (b.len > 0)
				(void)buf_append(&b, ",", 1);
			(void)buf_append(&b, e->str, e->str_len);
		}
	}
	if (b.len == 0 || memchr(b.data, '\0', b.len) != NULL)
		config_error(ctx, n->line, path, "must name at least one host");
	else
		ep->hosts = arena_strndup(ctx->cfg->arena, b.data, b.len);
	buf_free(&b);
}

static void config_db_port(struct config_ctx *ctx, const struct toml_node *n, void *target,
			   const char *path)
{
	struct config_db_endpoint *ep = target;

	if (!config_mark_set(ctx, &ep->port, path, n->line))
		return;
	if (n->type == TOML_INTEGER && n->integer > 0 && n->integer <= 65535) {
		ep->port = arena_printf(ctx->cfg->arena, "%lld", (long long)n->integer);
		return;
	}
	if (n->type == TOML_STRING && n->str_len > 0 &&
	    strspn(n->str, "0123456789,") == n->str_len) {
		ep->port = arena_strndup(ctx->cfg->arena, n->str, n->str_len);
		return;
	}
	config_error(ctx, n->line, path, "must be a port number (1-65535) or a list \"5432,5433\"");
}

static void config_db_tls_mode(struct config_ctx *ctx, const struct toml_node *n, void *target,
			       const char *path)
{
	static const char *const modes[] = { "disable", "allow", "prefer", "require",
					     "verify-ca", "verify-full" };
	struct config_db_endpoint *ep = target;

	if (n->type != TOML_STRING) {
		config_type_error(ctx, n, path, "a string");
		return;
	}
	if (!config_mark_set(ctx, &ep->tls_mode, path, n->line))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		if (slice_eq(slice_from(n->str, n->str_len), slice_cstr(modes[i]))) {
			ep->tls_mode = modes[i];
			return;
		}
	}
	config_error(ctx, n->line, path,
		     "must be disable, allow, prefer, require, verify-ca or verify-full, not %s",
		     config_quote(ctx, n->str, n->str_len));
}

static const struct config_key database_endpoint_keys[] = {
	{ "host", CFG_FUNC, 0, config_db_hosts, 0 },
	{ "hosts", CFG_FUNC, 0, config_db_hosts, 0 },
	{ "port", CFG_FUNC, 0, config_db_port, 0 },
	{ "user", CFG_STRING, DB_OFF(user), NULL, 0 },
	{ "password", CFG_SECRET, DB_OFF(password), NULL, 0 },
	{ "name", CFG_STRING, DB_OFF(name), NULL, 0 },
	{ "tls", CFG_BOOL, DB_OFF(tls), NULL, 0 },
	{ "tls_mode", CFG_FUNC, 0, config_db_tls_mode, 0 },
	{ "conninfo", CFG_SECRET, DB_OFF(conninfo), NULL, 0 },
	{ "max_conns", CFG_U32, DB_OFF(max_conns), NULL, 0 },
	{ "min_conns", CFG_U32, 0, NULL, CFG_F_IGNORE },
	{ "max_conn_lifetime", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "max_conn_idle_time", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "query_timeout", CFG_DURATION, DB_OFF(query_timeout_ms), NULL, 0 },
};

static void config_database_endpoint(struct config_ctx *ctx, const struct toml_node *n,
				     void *target, const char *path)
{
	struct config *cfg = target;

	if (config_expect_table(ctx, n, path))
		config_apply(ctx, n, database_endpoint_keys, ARRAY_SIZE(database_endpoint_keys),
			     config_key_is(n, "read") ? &cfg->database.read : &cfg->database.write,
			     path, 0);
}

/* One libpq conninfo value: quoted, with \ and ' escaped. */
static void config_conninfo_add(struct buf *b, const char *key, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	(void)buf_printf(b, "%s%s='", b->len > 0 ? " " : "", key);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '\'')
			(void)buf_append(b, "\\", 1);
		(void)buf_append(b, p, 1);
	}
	(void)buf_append(b, "'", 1);
}

/* The conninfo of an endpoint: its own conninfo first, so that the Sora
   keys given next to it override it (libpq: later keywords win). */
static const char *config_db_conninfo(struct config *cfg, const struct config_db_endpoint *ep,
				      bool is_write)
{
	uint64_t timeout = ep->query_timeout_ms != 0 ? ep->query_timeout_ms
						     : cfg->database.query_timeout_ms;
	struct buf b;
	const char *out;

	buf_init(&b, 0);
	if (ep->conninfo != NULL && ep->conninfo[0] != '\0')
		(void)buf_append_str(&b, ep->conninfo);
	config_conninfo_add(&b, "host", ep->hosts);
	config_conninfo_add(&b, "port", ep->port);
	config_conninfo_add(&b, "user", ep->user);
	config_conninfo_add(&b, "password", ep->password);
	config_conninfo_add(&b, "dbname", ep->name);
	config_conninfo_add(&b, "sslmode", ep->tls_mode != NULL ? ep->tls_mode
						 : ep->tls	 ? "require"
								 : NULL);
	/* a query running longer is cancelled: a temporary error, not a
	   worker thread stuck behind a lock or a slow plan */
	if (timeout != 0) {
		char opt[64];

		REQUIRE(snprintf(opt, sizeof(opt), "-c statement_timeout=%llu",
				 (unsigned long long)timeout) > 0);
		config_conninfo_add(&b, "options", opt);
	}
	/* several hosts: writes go to the one that accepts them */
	if (is_write && ep->hosts != NULL && strchr(ep->hosts, ',') != NULL)
		config_conninfo_add(&b, "target_session_attrs", "read-write");
	out = arena_strndup(cfg->arena, b.data != NULL ? b.data : "", b.len);
	buf_wipe(&b);
	buf_free(&b);
	return out;
}

static const struct config_key database_keys[] = {
	{ "driver", CFG_FUNC, 0, config_database_driver, 0 },
	{ "path", CFG_STRING, CFG_OFF(database.path), NULL, 0 },
	{ "write", CFG_FUNC, 0, config_database_endpoint, 0 },
	{ "read", CFG_FUNC, 0, config_database_endpoint, 0 },
	{ "log_queries", CFG_ANY, 0, NULL, 0 },
	{ "query_timeout", CFG_DURATION, CFG_OFF(database.query_timeout_ms), NULL, 0 },
	{ "search_timeout", CFG_ANY, 0, NULL, 0 },
	{ "write_timeout", CFG_ANY, 0, NULL, 0 },
};

static const struct config_key storage_keys[] = {
	{ "driver", CFG_FUNC, 0, config_storage_driver, 0 },
	{ "path", CFG_STRING, CFG_OFF(storage.path), NULL, 0 },
};

static bool config_is_hex64(const char *s);

/* [s3] previous_encryption_keys: an array of 64-hex strings (secrets:
   messages name the element, never its value). */
static void config_previous_keys(struct config_ctx *ctx, const struct toml_node *n, void *target,
				 const char *path)
{
	struct config *cfg = target;
	const struct toml_node *e;
	size_t i = 0;

	if (n->type != TOML_ARRAY) {
		config_type_error(ctx, n, path, "an array of strings (64 hex characters each)");
		return;
	}
	cfg->s3.previous_encryption_keys =
		arena_alloc(cfg->arena, (n->count + 1) * sizeof(*cfg->s3.previous_encryption_keys));
	toml_foreach(e, n) {
		const char *epath = arena_printf(ctx->tmp, "%s[%zu]", path, i++);
		char *key;

		if (e->type != TOML_STRING) {
			config_type_error(ctx, e, epath, "a string (64 hex characters)");
			continue;
		}
		key = arena_strndup(cfg->arena, e->str, e->str_len);
		if (e->str_len != 64 || !config_is_hex64(key)) {
			config_error(ctx, e->line, epath,
				     "must be exactly 64 hex characters (a 32-byte key)");
			util_wipe(key, e->str_len);
			continue;
		}
		cfg->s3.previous_encryption_keys[cfg->s3.previous_encryption_key_count++] = key;
	}
}

static const struct config_key s3_keys[] = {
	{ "endpoint", CFG_STRING, CFG_OFF(s3.endpoint), NULL, 0 },
	{ "disable_tls", CFG_BOOL, CFG_OFF(s3.disable_tls), NULL, 0 },
	{ "access_key", CFG_SECRET, CFG_OFF(s3.access_key), NULL, 0 },
	{ "secret_key", CFG_SECRET, CFG_OFF(s3.secret_key), NULL, 0 },
	{ "bucket", CFG_STRING, CFG_OFF(s3.bucket), NULL, 0 },
	{ "encrypt", CFG_BOOL, CFG_OFF(s3.encrypt), NULL, 0 },
	{ "encryption_key", CFG_SECRET, CFG_OFF(s3.encryption_key), NULL, 0 },
	{ "timeout", CFG_DURATION, CFG_OFF(s3.timeout_ms), NULL, 0 },
	{ "previous_encryption_keys", CFG_FUNC, 0, config_previous_keys, 0 },
	{ "trace", CFG_BOOL, 0, NULL, CFG_F_IGNORE },
};

static const struct config_key local_cache_keys[] = {
	{ "path", CFG_STRING, CFG_OFF(local_cache.path), NULL, 0 },
	{ "capacity", CFG_SIZE, CFG_OFF(local_cache.capacity), NULL, 0 },
	{ "max_object_size", CFG_SIZE, CFG_OFF(local_cache.max_object_size), NULL, 0 },
	{ "purge_interval", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "orphan_cleanup_age", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "enable_warmup", CFG_BOOL, 0, NULL, CFG_F_IGNORE },
	{ "warmup_message_count", CFG_U32, 0, NULL, CFG_F_IGNORE },
	{ "warmup_mailboxes", CFG_ANY, 0, NULL, 0 },
	{ "warmup_async", CFG_BOOL, 0, NULL, CFG_F_IGNORE },
	{ "warmup_timeout", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "warmup_interval", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
};

static const struct config_key uploader_keys[] = {
	{ "path", CFG_STRING, CFG_OFF(uploader.path), NULL, 0 },
	{ "batch_size", CFG_U32, CFG_OFF(uploader.batch_size), NULL, 0 },
	{ "concurrency", CFG_U32, CFG_OFF(uploader.concurrency), NULL, 0 },
	{ "max_attempts", CFG_U32, CFG_OFF(uploader.max_attempts), NULL, 0 },
	{ "retry_interval", CFG_DURATION, CFG_OFF(uploader.retry_interval_ms), NULL, 0 },
	{ "instance_id", CFG_STRING, 0, NULL, CFG_F_IGNORE },
	{ "max_staging_size", CFG_SIZE, CFG_OFF(uploader.max_staging_size), NULL, 0 },
	{ "cleanup_grace_period", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
};

static const struct config_key cleanup_keys[] = {
	{ "grace_period", CFG_DURATION, CFG_OFF(cleanup.grace_period_ms), NULL, 0 },
	{ "wake_interval", CFG_DURATION, CFG_OFF(cleanup.wake_interval_ms), NULL, 0 },
	{ "max_age_restriction", CFG_ANY, 0, NULL, 0 },
	{ "fts_retention", CFG_ANY, 0, NULL, 0 },
	{ "fts_source_retention", CFG_ANY, 0, NULL, 0 },
	{ "auth_attempts_retention", CFG_ANY, 0, NULL, 0 },
	{ "health_status_retention", CFG_ANY, 0, NULL, 0 },
	{ "instance_liveness_threshold", CFG_ANY, 0, NULL, 0 },
};

static const struct config_key runtime_keys[] = {
	{ "event_loops", CFG_UINT, CFG_OFF(runtime.event_loops), NULL, 0 },
	{ "worker_threads", CFG_UINT, CFG_OFF(runtime.worker_threads), NULL, 0 },
	{ "shutdown_timeout", CFG_DURATION, CFG_OFF(runtime.shutdown_timeout_ms), NULL, 0 },
};

/* [sieve] enabled_extensions: an array of extension names; [] = default. */
static void config_sieve_extensions(struct config_ctx *ctx, const struct toml_node *n,
				    void *target, const char *path)
{
	struct config *cfg = target;
	const struct toml_node *e;
	size_t i = 0;

	if (n->type != TOML_ARRAY) {
		config_type_error(ctx, n, path, "an array of extension names");
		return;
	}
	cfg->sieve.enabled_extensions = NULL;
	if (n->count == 0)
		return;
	cfg->sieve.enabled_extensions =
		arena_alloc(cfg->arena, (n->count + 1) * sizeof(*cfg->sieve.enabled_extensions));
	toml_foreach(e, n) {
		const char *epath = arena_printf(ctx->tmp, "%s[%zu]", path, i);

		if (e->type != TOML_STRING || e->str_len == 0 ||
		    memchr(e->str, ' ', e->str_len) != NULL) {
			config_type_error(ctx, e, epath, "an extension name");
			continue;
		}
		cfg->sieve.enabled_extensions[i++] = arena_strndup(cfg->arena, e->str, e->str_len);
	}
	cfg->sieve.enabled_extensions[i] = NULL;
}

static const struct config_key sieve_keys[] = {
	{ "enabled_extensions", CFG_FUNC, 0, config_sieve_extensions, 0 },
	{ "max_script_size", CFG_SIZE, CFG_OFF(sieve.max_script_size), NULL, 0 },
	{ "max_scripts", CFG_U32, CFG_OFF(sieve.max_scripts), NULL, 0 },
	{ "max_execution_time", CFG_DURATION, CFG_OFF(sieve.max_execution_ms), NULL, 0 },
	{ "redirect_rate_limit", CFG_U32, CFG_OFF(sieve.redirect_rate_limit), NULL, 0 },
	{ "redirect_rate_window", CFG_DURATION, CFG_OFF(sieve.redirect_rate_window_ms), NULL, 0 },
	{ "max_redirect_hops", CFG_U32, CFG_OFF(sieve.max_redirect_hops), NULL, 0 },
};

/* [relay.queue] retry_backoff = ["1m", "5m", ...] */
static void config_relay_backoff(struct config_ctx *ctx, const struct toml_node *n, void *target,
				 const char *path)
{
	struct config *cfg = target;
	const struct toml_node *e;
	size_t i = 0;

	if (n->type != TOML_ARRAY || n->count == 0 ||
	    n->count > ARRAY_SIZE(cfg->relay.queue.retry_backoff_ms)) {
		config_type_error(ctx, n, path, "an array of 1 to 16 durations");
		return;
	}
	cfg->relay.queue.retry_backoff_count = 0;
	toml_foreach(e, n) {
		const char *epath = arena_printf(ctx->tmp, "%s[%zu]", path, i++);
		uint64_t ms;

		if (e->type != TOML_STRING ||
		    units_parse_duration(slice_from(e->str, e->str_len), &ms) < 0 || ms == 0) {
			config_type_error(ctx, e, epath, "a duration such as \"5m\"");
			continue;
		}
		cfg->relay.queue.retry_backoff_ms[cfg->relay.queue.retry_backoff_count++] = ms;
	}
}

static const struct config_key relay_queue_keys[] = {
	{ "path", CFG_STRING, CFG_OFF(relay.queue.path), NULL, 0 },
	{ "worker_interval", CFG_DURATION, CFG_OFF(relay.queue.worker_interval_ms), NULL, 0 },
	{ "batch_size", CFG_U32, CFG_OFF(relay.queue.batch_size), NULL, 0 },
	{ "concurrency", CFG_U32, 0, NULL, CFG_F_IGNORE },
	{ "max_attempts", CFG_U32, CFG_OFF(relay.queue.max_attempts), NULL, 0 },
	{ "retry_backoff", CFG_FUNC, 0, config_relay_backoff, 0 },
	{ "circuit_breaker_threshold", CFG_U32, CFG_OFF(relay.queue.circuit_breaker_threshold),
	  NULL, 0 },
	{ "circuit_breaker_timeout", CFG_DURATION, CFG_OFF(relay.queue.circuit_breaker_timeout_ms),
	  NULL, 0 },
	{ "circuit_breaker_max_requests", CFG_U32, 0, NULL, CFG_F_IGNORE },
};

static void config_relay_queue(struct config_ctx *ctx, const struct toml_node *n, void *target,
			       const char *path)
{
	if (config_expect_table(ctx, n, path))
		config_apply(ctx, n, relay_queue_keys, ARRAY_SIZE(relay_queue_keys), target, path,
			     0);
}

static const struct config_key relay_keys[] = {
	{ "type", CFG_STRING, CFG_OFF(relay.type), NULL, 0 },
	{ "smtp_host", CFG_STRING, CFG_OFF(relay.smtp_host), NULL, 0 },
	{ "smtp_tls", CFG_BOOL, CFG_OFF(relay.smtp_tls), NULL, 0 },
	{ "smtp_tls_verify", CFG_BOOL, CFG_OFF(relay.smtp_tls_verify), NULL, 0 },
	{ "smtp_use_starttls", CFG_BOOL, CFG_OFF(relay.smtp_use_starttls), NULL, 0 },
	{ "smtp_username", CFG_STRING, CFG_OFF(relay.smtp_username), NULL, 0 },
	{ "smtp_password", CFG_SECRET, CFG_OFF(relay.smtp_password), NULL, 0 },
	{ "queue", CFG_FUNC, 0, config_relay_queue, 0 },
};

static const struct config_key auth_keys[] = {
	{ "rehash_on_login", CFG_BOOL, CFG_OFF(auth.rehash_on_login), NULL, 0 },
};

#define CONFIG_SECTION_FN(name)                                                              \
	static void config_section_##name(struct config_ctx *ctx, const struct toml_node *n, \
					  void *target, const char *path)                    \
	{                                                                                    \
		if (config_expect_table(ctx, n, path))                                       \
			config_apply(ctx, n, name##_keys, ARRAY_SIZE(name##_keys), target,   \
				     path, 0);                                               \
	}

CONFIG_SECTION_FN(logging)
CONFIG_SECTION_FN(database)
CONFIG_SECTION_FN(storage)
CONFIG_SECTION_FN(s3)
CONFIG_SECTION_FN(local_cache)
CONFIG_SECTION_FN(uploader)
CONFIG_SECTION_FN(cleanup)
CONFIG_SECTION_FN(runtime)
CONFIG_SECTION_FN(sieve)
CONFIG_SECTION_FN(relay)
CONFIG_SECTION_FN(auth)

static const struct config_key root_keys[] = {
	{ "servers", CFG_FUNC, 0, config_servers_section, 0 },
	{ "server", CFG_FUNC, 0, config_server_array, 0 },
	{ "logging", CFG_FUNC, 0, config_section_logging, 0 },
	{ "database", CFG_FUNC, 0, config_section_database, 0 },
	{ "storage", CFG_FUNC, 0, config_section_storage, 0 },
	{ "s3", CFG_FUNC, 0, config_section_s3, 0 },
	{ "local_cache", CFG_FUNC, 0, config_section_local_cache, 0 },
	{ "uploader", CFG_FUNC, 0, config_section_uploader, 0 },
	{ "cleanup", CFG_FUNC, 0, config_section_cleanup, 0 },
	{ "runtime", CFG_FUNC, 0, config_section_runtime, 0 },
	{ "sieve", CFG_FUNC, 0, config_section_sieve, 0 },
	{ "relay", CFG_FUNC, 0, config_section_relay, 0 },
	{ "auth", CFG_FUNC, 0, config_section_auth, 0 },
};

static void config_defaults(struct config *cfg)
{
	cfg->logging.output = "stderr";
	cfg->logging.format = LOG_FORMAT_CONSOLE;
	cfg->logging.level = LOG_LEVEL_INFO;
	cfg->database.driver = "sqlite";
	cfg->database.path = "data/sora.db";
	cfg->storage.driver = "fs";
	cfg->storage.path = "data/blobs";
	cfg->s3.timeout_ms = 30 * 1000;
	cfg->local_cache.path = "data/cache";
	cfg->local_cache.capacity = 1ULL << 30;
	cfg->local_cache.max_object_size = 5ULL << 20;
	cfg->uploader.path = "data/uploads";
	cfg->uploader.batch_size = 10;
	cfg->uploader.concurrency = 20;
	cfg->uploader.max_attempts = 20;
	cfg->uploader.retry_interval_ms = 30 * 1000;
	cfg->uploader.max_staging_size = 1ULL << 30;
	cfg->cleanup.grace_period_ms = 14ULL * 24 * 3600 * 1000;
	cfg->cleanup.wake_interval_ms = 3600 * 1000;
	cfg->runtime.shutdown_timeout_ms = 30 * 1000;
	cfg->sieve.max_script_size = 16 * 1024;
	cfg->sieve.max_scripts = 100;
	cfg->sieve.max_execution_ms = 2000;
	cfg->sieve.redirect_rate_limit = 100;
	cfg->sieve.redirect_rate_window_ms = 3600 * 1000;
	cfg->sieve.max_redirect_hops = 2;
	cfg->relay.smtp_tls = true;
	cfg->relay.smtp_tls_verify = true;
	cfg->relay.queue.worker_interval_ms = 60 * 1000;
	cfg->relay.queue.batch_size = 100;
	cfg->relay.queue.max_attempts = 10;
	cfg->relay.queue.retry_backoff_count = 6;
	{
		static const uint64_t backoff[] = { 60, 300, 900, 3600, 6 * 3600, 24 * 3600 };

		for (size_t i = 0; i < ARRAY_SIZE(backoff); i++)
			cfg->relay.queue.retry_backoff_ms[i] = backoff[i] * 1000;
	}
	cfg->relay.queue.circuit_breaker_threshold = 5;
	cfg->relay.queue.circuit_breaker_timeout_ms = 30 * 1000;
	cfg->auth.rehash_on_login = true;
}

/* Line of the key that set field, or of fallback. */
static unsigned config_line_of(const struct config_ctx *ctx, const void *field, unsigned fallback)
{
	const struct config_set *s = config_find_set(ctx, field);

	return s != NULL ? s->line : fallback;
}

static bool str_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static bool config_is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return i == 64;
}

static void config_check_relay(struct config_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	unsigned line = config_line_of(ctx, &cfg->relay.type, 1);

	/* Sora clamps max_execution_time to 100 ms – 60 s */
	if (cfg->sieve.max_execution_ms < 100)
		cfg->sieve.max_execution_ms = 100;
	if (cfg->sieve.max_execution_ms > 60 * 1000)
		cfg->sieve.max_execution_ms = 60 * 1000;
	if (!str_set(cfg->relay.type)) {
		cfg->relay.type = NULL;
		return;
	}
	if (strcmp(cfg->relay.type, "smtp") != 0) {
		config_error(ctx, line, "relay.type", "\"%s\" is not available in this build "
			     "(\"smtp\" only)", cfg->relay.type);
		return;
	}
	if (!str_set(cfg->relay.smtp_host) || strrchr(cfg->relay.smtp_host, ':') == NULL)
		config_error(ctx, line, "relay.smtp_host",
			     "required when relay.type = \"smtp\": \"host:port\"");
	if ((cfg->relay.smtp_username == NULL) != (cfg->relay.smtp_password == NULL))
		config_error(ctx, line, "relay.smtp_username",
			     "relay.smtp_username and relay.smtp_password go together");
	if (cfg->relay.queue.max_attempts == 0)
		config_error(ctx, config_line_of(ctx, &cfg->relay.queue.max_attempts, line),
			     "relay.queue.max_attempts", "must be at least 1");
	if (cfg->relay.queue.worker_interval_ms == 0)
		config_error(ctx, config_line_of(ctx, &cfg->relay.queue.worker_interval_ms, line),
			     "relay.queue.worker_interval", "must be greater than 0");
}

static void config_check_globals(struct config_ctx *ctx, const struct toml_node *root)
{
	struct config *cfg = ctx->cfg;
	const struct toml_node *s3 = toml_get(root, "s3");
	unsigned s3_line = s3 != NULL ? s3->line : 1;

	/* never print the key itself, not even its length */
	if (cfg->s3.encrypt && !str_set(cfg->s3.encryption_key))
		config_error(ctx, config_line_of(ctx, &cfg->s3.encrypt, s3_line), "s3.encryption_key",
			     "required when s3.encrypt = true: 64 hex characters "
			     "(a 32-byte key, e.g. from \"openssl rand -hex 32\")");
	else if (cfg->s3.encrypt && !config_is_hex64(cfg->s3.encryption_key))
		config_error(ctx, config_line_of(ctx, &cfg->s3.encryption_key, s3_line),
			     "s3.encryption_key",
			     "must be exactly 64 hex characters "
			     "(a 32-byte key, e.g. from \"openssl rand -hex 32\")");
	if (strcmp(cfg->storage.driver, "s3") == 0) {
		unsigned line = config_line_of(ctx, &cfg->storage.driver, 1);

		if (!str_set(cfg->s3.endpoint))
			config_error(ctx, line, "s3.endpoint",
				     "required when storage.driver = \"s3\"");
		if (!str_set(cfg->s3.bucket))
			config_error(ctx, line, "s3.bucket", "required when storage.driver = \"s3\"");
	}
	if ((cfg->s3.access_key == NULL) != (cfg->s3.secret_key == NULL)) {
		bool has_access = cfg->s3.access_key != NULL;

		config_error(ctx, s3_line, has_access ? "s3.secret_key" : "s3.access_key",
			     "must be set together with %s",
			     has_access ? "s3.access_key" : "s3.secret_key");
	}
	if (strcmp(cfg->database.driver, "postgres") == 0 &&
	    toml_get_path(root, "database.write") == NULL)
		config_error(ctx, config_line_of(ctx, &cfg->database.driver, 1), "database.write",
			     "required when database.driver = \"postgres\"");
	if (toml_get_path(root, "database.write") != NULL)
		cfg->database.write_conninfo = config_db_conninfo(cfg, &cfg->database.write, true);
	if (toml_get_path(root, "database.read") != NULL)
		cfg->database.read_conninfo = config_db_conninfo(cfg, &cfg->database.read, false);
	if (cfg->cleanup.wake_interval_ms < 60 * 1000)
		config_error(ctx, config_line_of(ctx, &cfg->cleanup.wake_interval_ms, 1),
			     "cleanup.wake_interval", "must be at least 1m");
	if (cfg->runtime.shutdown_timeout_ms == 0)
		config_error(ctx, config_line_of(ctx, &cfg->runtime.shutdown_timeout_ms, 1),
			     "runtime.shutdown_timeout", "must be greater than 0");
	config_check_relay(ctx);
}

/* ---- entry points ---- */

static void config_wipe_str(const char *s)
{
	if (s != NULL)
		util_wipe((void *)s, strlen(s));
}

void config_free(struct config **cfgp)
{
	struct config *cfg = cfgp == NULL ? NULL : *cfgp;
	struct arena *arena;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->server_count; i++)
		config_server_free(&cfg->servers[i]);
	cidr_list_free(&cfg->trusted_networks);
	config_wipe_str(cfg->s3.access_key);
	config_wipe_str(cfg->database.write.password);
	config_wipe_str(cfg->database.read.password);
	config_wipe_str(cfg->database.write.conninfo);
	config_wipe_str(cfg->database.read.conninfo);
	config_wipe_str(cfg->database.write_conninfo);
	config_wipe_str(cfg->database.read_conninfo);
	config_wipe_str(cfg->s3.secret_key);
	config_wipe_str(cfg->relay.smtp_password);
	config_wipe_str(cfg->s3.encryption_key);
	for (size_t i = 0; i < cfg->s3.previous_encryption_key_count; i++)
		config_wipe_str(cfg->s3.previous_encryption_keys[i]);
	arena = cfg->arena;
	arena_free(&arena);
	*cfgp = NULL;
}

int config_load_string(const char *name, const char *text, size_t len, bool strict,
		       struct config **cfg_r, struct buf *diag_r)
{
	struct arena *arena = arena_new(16 * 1024);
	struct config_ctx ctx = {
		.tmp = arena_new(64 * 1024),
		.file = name,
		.strict = strict,
	};
	struct toml_node *root = NULL;
	struct toml_error terr;
	struct config *cfg;
	int ret = 0;

	cfg = arena_alloc(arena, sizeof(*cfg));
	cfg->arena = arena;
	cfg->path = arena_strdup(arena, name);
	ctx.cfg = cfg;
	config_defaults(cfg);
	if (toml_parse(ctx.tmp, text, len, &root, &terr) < 0) {
		if (diag_r != NULL)
			(void)buf_printf(diag_r, "%s:%u:%u: %s\n", name, terr.line, terr.column,
					 terr.msg);
		ctx.errors++;
	} else {
		config_servers_prepare(&ctx, root);
		config_apply(&ctx, root, root_keys, ARRAY_SIZE(root_keys), cfg, "", 0);
		config_servers_finish(&ctx);
		config_check_globals(&ctx, root);
		config_emit_diags(&ctx, diag_r);
		toml_wipe_strings(root);
	}
	if (ctx.errors > 0) {
		config_free(&cfg);
		ret = -1;
	} else {
		*cfg_r = cfg;
	}
	free(ctx.diags);
	free(ctx.sets);
	arena_free(&ctx.tmp);
	return ret;
}

int config_load(const char *path, bool strict, struct config **cfg_r, struct buf *diag_r)
{
	struct buf text;
	char ebuf[128];
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1 || fstat(fd, &st) == -1) {
		if (diag_r != NULL)
			(void)buf_printf(diag_r, "%s: cannot read: %s\n", path,
					 strerror_r(errno, ebuf, sizeof(ebuf)));
		if (fd != -1)
			(void)close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > TOML_MAX_INPUT) {
		if (diag_r != NULL)
			(void)buf_printf(diag_r, "%s: %s\n", path,
					 S_ISREG(st.st_mode) ? "larger than 1 MiB"
							     : "not a regular file");
		(void)close(fd);
		return -1;
	}
	buf_init(&text, TOML_MAX_INPUT);
	for (;;) {
		char chunk[8192];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || (n > 0 && buf_append(&text, chunk, (size_t)n) < 0)) {
			if (diag_r != NULL)
				(void)buf_printf(diag_r, "%s: %s\n", path,
						 n == -1 ? strerror_r(errno, ebuf, sizeof(ebuf))
							 : "larger than 1 MiB");
			util_wipe(chunk, sizeof(chunk));
			(void)close(fd);
			buf_wipe(&text);
			return -1;
		}
		util_wipe(chunk, sizeof(chunk));
		if (n == 0)
			break;
	}
	(void)close(fd);
	ret = config_load_string(path, text.data == NULL ? "" : text.data, text.len, strict, cfg_r,
				 diag_r);
	buf_wipe(&text);
	return ret;
}
