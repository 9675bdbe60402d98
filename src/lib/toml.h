#ifndef SORA_LIB_TOML_H
#define SORA_LIB_TOML_H

/* A TOML 1.0 reader: text in, a tree of nodes out, every node allocated from
   the arena the caller passes (one arena_free() releases the tree).

   Supported: tables [a.b], arrays of tables [[a]], dotted keys (also inside
   tables and inline tables), bare and quoted keys, the four string forms
   with every TOML 1.0 escape, integers (decimal, 0x, 0o, 0b, underscores,
   sign; int64 overflow is an error), floats (fraction, exponent, inf, nan),
   booleans, arrays (mixed types, nested, trailing comma, newlines and
   comments inside), inline tables, comments, a leading UTF-8 BOM.
   Date-times (offset, local date-time, local date, local time) are REJECTED
   with "date-time values are not supported": no configuration needs them.
   Rejected as well: invalid UTF-8, control characters outside the places
   TOML allows them, a bare CR, redefinition of a key or table, extending an
   inline table or a table defined by dotted keys from elsewhere.

   Bounds: input size TOML_MAX_INPUT, tree depth TOML_MAX_DEPTH (tables,
   dotted key parts, arrays and inline tables all count), TOML_MAX_NODES
   nodes. Recursion depth is bounded by the tree depth.

   Pure: no I/O, no logging, no global state; memory only from the arena
   (plus a temporary key index that is freed before returning). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define TOML_MAX_INPUT (1024 * 1024)
#define TOML_MAX_DEPTH 64
#define TOML_MAX_NODES (128 * 1024)

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_TYPE_COUNT
};

/* Read-only for callers. Children of a table or an array are kept in
   definition order. */
struct toml_node {
	enum toml_type type;
	/* The key as decoded (NUL-terminated; may contain NUL bytes from a
	   "\u0000" escape, hence key_len). NULL for the root and for array
	   elements. */
	const char *key;
	size_t key_len;
	/* Where the key was written (1-based; column counts characters). For
	   an array element: where the element starts. For a table defined by
	   a [header]: the header; for an [[array]] element: its [[header]]. */
	unsigned line, column;
	unsigned depth;  /* root 0 */
	unsigned flags;  /* parser bookkeeping */
	struct toml_node *parent, *next;
	union {
		struct { /* TOML_TABLE, TOML_ARRAY */
			struct toml_node *first, *last;
			size_t count;
		};
		struct { /* TOML_STRING: decoded, NUL-terminated, may hold NUL */
			const char *str;
			size_t str_len;
		};
		int64_t integer;
		double fp;
		bool boolean;
	};
};

struct toml_error {
	unsigned line, column; /* 1-based */
	char msg[128];         /* "expected '=' after a key" */
};

/* Parses text[0..len). Returns 0 with *root_r (a TOML_TABLE) set, or -1 with
   *err_r filled. The text need not be NUL-terminated and is not referenced
   after the call: every string is copied into the arena. */
int toml_parse(struct arena *arena, const char *text, size_t len, struct toml_node **root_r,
	       struct toml_error *err_r);

/* "line 12, column 5: expected '='" in the arena. */
const char *toml_error_str(struct arena *arena, const struct toml_error *err);

/* Direct child of a table by key, or NULL (also when table is not a
   table). */
const struct toml_node *toml_get(const struct toml_node *table, const char *key);
/* Follows a dotted path of plain keys ("servers.imap.addr"); NULL when any
   part is missing or not a table. */
const struct toml_node *toml_get_path(const struct toml_node *table, const char *path);
/* Element i of an array (or child i of a table), or NULL. */
const struct toml_node *toml_at(const struct toml_node *n, size_t i);
/* True for an array created by [[header]]s. */
bool toml_is_table_array(const struct toml_node *n);

/* "table", "array", "string", "integer", "float", "boolean". */
const char *toml_type_name(enum toml_type type);

/* The dotted path of n from the root, keys quoted where TOML would need
   quotes (control characters escaped), array elements as "[i]":
   servers.imap.addr, server[1].auth_rate_limit.enabled, a."b c". */
char *toml_path(struct arena *arena, const struct toml_node *n);
/* key as TOML would write it: bare when possible, else a quoted basic
   string with escapes. Never contains control characters. */
char *toml_key_str(struct arena *arena, const char *key, size_t key_len);

/* Zeroes every string value of the tree (secrets) before the arena goes. */
void toml_wipe_strings(struct toml_node *root);

/* First child of a table or an array; NULL for anything else. */
struct toml_node *toml_first(const struct toml_node *n);

/* Iterates the children of a table or array (none for a scalar). */
#define toml_foreach(child, parent) \
	for ((child) = toml_first(parent); (child) != NULL; (child) = (child)->next)

#endif
