#ifndef SORA_CONFIG_PRIVATE_H
#define SORA_CONFIG_PRIVATE_H

/* Shared between config.c (loading, diagnostics, global sections, the key
   table engine) and config-server.c (server sections of both layouts). */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "lib/toml.h"

/* How a key's value is read and where it goes. */
enum config_kind {
	CFG_BOOL,     /* bool */
	CFG_STRING,   /* const char *, copied into cfg->arena */
	CFG_SECRET,   /* like CFG_STRING; wiped on free, never shown */
	CFG_U32,      /* uint32_t from a non-negative integer */
	CFG_UINT,     /* unsigned */
	CFG_U64,      /* uint64_t */
	CFG_DURATION, /* uint64_t ms from "5s", "15m", … */
	CFG_SIZE,     /* uint64_t bytes from "25mb" or an integer */
	CFG_DOUBLE,   /* double from a float or an integer */
	CFG_CIDRS,    /* struct cidr_list from an array of strings */
	CFG_FUNC,     /* handled by fn */
	CFG_ANY,      /* known key, any value, ignored */
};

enum config_key_flags {
	CFG_F_IGNORE = 1 << 0, /* type-checked, then dropped (Sora keys we do not use) */
	CFG_F_HEAD = 1 << 1,   /* only in [[server]] blocks */
};

struct config_ctx;

/* A CFG_FUNC handler: n is the value, target the struct being filled, path
   the full dotted key for messages. */
typedef void config_key_fn(struct config_ctx *ctx, const struct toml_node *n, void *target,
			   const char *path);

struct config_key {
	const char *name;
	enum config_kind kind;
	size_t offset;      /* field offset in the target struct */
	config_key_fn *fn;  /* CFG_FUNC */
	unsigned flags;
};

struct config_diag {
	unsigned line, seq;
	char *text; /* one line, no newline */
};

/* A field that has been set, to catch two aliases setting it twice. */
struct config_set {
	const void *field;
	const char *path;
	unsigned line;
};

/* Per-server facts needed after the server's own keys are done. */
struct config_server_aux {
	const char *prefix;     /* "servers.imap" or "server[2]" */
	unsigned name_line, addr_line;
	bool proxy_from_trusted_networks; /* take [servers] trusted_networks */
	const char *proxy_path;
	unsigned proxy_line;
};

struct config_ctx {
	struct config *cfg;
	struct arena *tmp; /* parse tree and messages; freed after loading */
	const char *file;
	bool strict;
	unsigned errors, warnings;

	struct config_diag *diags;
	size_t diag_count, diag_cap;

	struct config_set *sets;
	size_t set_count, set_cap, set_base;

	struct config_server_aux *aux; /* parallel to cfg->servers */
	size_t server_cap;
	/* where [servers] trusted_networks was set (0: not set) */
	unsigned trusted_networks_line;
};

void config_error(struct config_ctx *ctx, unsigned line, const char *path, const char *fmt, ...)
	PRINTF_FMT(4, 5);
void config_warning(struct config_ctx *ctx, unsigned line, const char *path, const char *fmt,
		    ...) PRINTF_FMT(4, 5);
void config_unknown_key(struct config_ctx *ctx, const struct toml_node *n, const char *path);
void config_type_error(struct config_ctx *ctx, const struct toml_node *n, const char *path,
		       const char *expected);

/* prefix + "." + key of n (quoted if needed), in ctx->tmp. */
const char *config_path(struct config_ctx *ctx, const char *prefix, const struct toml_node *n);
/* "prefix.name" in ctx->tmp. */
const char *config_path_str(struct config_ctx *ctx, const char *prefix, const char *name);
/* A user-supplied string for messages: quoted, escaped, cut. */
const char *config_quote(struct config_ctx *ctx, const char *s, size_t len);
bool config_key_is(const struct toml_node *n, const char *name);

/* Applies every child of table through keys[] onto target. Keys whose flags
   intersect exclude are treated as unknown. */
void config_apply(struct config_ctx *ctx, const struct toml_node *table,
		  const struct config_key *keys, size_t nkeys, void *target, const char *prefix,
		  unsigned exclude);
/* Type-checks n as a table, or reports it and returns false. */
bool config_expect_table(struct config_ctx *ctx, const struct toml_node *n, const char *path);

/* Records that field was set by path/line; false (and an error) when it
   was already set in the current scope by another key. */
bool config_mark_set(struct config_ctx *ctx, const void *field, const char *path, unsigned line);
const struct config_set *config_find_set(const struct config_ctx *ctx, const void *field);
/* Server sections open a scope so alias checks stay per server. */
size_t config_scope_begin(struct config_ctx *ctx);
void config_scope_end(struct config_ctx *ctx, size_t saved);

/* A file the server will read at startup: exists, regular, readable. */
void config_check_readable(struct config_ctx *ctx, const char *file, unsigned line,
			   const char *path);

/* config-server.c */
void config_servers_prepare(struct config_ctx *ctx, const struct toml_node *root);
void config_servers_section(struct config_ctx *ctx, const struct toml_node *n, void *target,
			    const char *path);
void config_server_array(struct config_ctx *ctx, const struct toml_node *n, void *target,
			 const char *path);
void config_servers_finish(struct config_ctx *ctx);
void config_server_free(struct config_server *s);
/* "host:port" checks; *host_r "" for the wildcard, IPv6 without brackets,
   host names lower-cased (in arena). Nothing is set on failure; *error_r
   is static or in arena. */
int config_parse_addr(struct arena *arena, const char *addr, const char **host_r,
		      uint16_t *port_r, const char **error_r);

#endif
