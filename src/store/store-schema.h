#ifndef SORA_STORE_STORE_SCHEMA_H
#define SORA_STORE_STORE_SCHEMA_H

/* Versioned schema migrations, embedded in the binary. Version numbers are
   shared by every driver: version N means the same logical schema on
   SQLite and on PostgreSQL, so `sora-admin migrate version` reads the same
   on both. Each driver keeps its own SQL for each version, applies the
   missing ones in order inside one transaction and records each in its
   schema_migrations table (version, name, applied_at). Migrations only
   ever get appended: a released one is never edited. */

#include <stddef.h>

#define STORE_SCHEMA_VERSION 2

struct store_migration {
	unsigned int version; /* 1, 2, ... without gaps */
	const char *name;
	const char *sql; /* several statements, run as one script */
};

/* The table of applied versions, created before anything else. */
extern const char store_schema_sqlite_bootstrap[];
extern const struct store_migration store_schema_sqlite[];
extern const size_t store_schema_sqlite_count;

/* PostgreSQL (store-schema-pg.c): same version numbers. */
extern const char store_schema_pg_bootstrap[];
extern const struct store_migration store_schema_pg[];
extern const size_t store_schema_pg_count;

#endif
