#ifndef SORA_CMD_ADMIN_COMMON_H
#define SORA_CMD_ADMIN_COMMON_H

/* What every sora-admin group needs the same way. */

#include <stdbool.h>

struct config;
struct store;

/* Opens the metadata store of cfg ([database], SQLite or PostgreSQL),
   creating the SQLite file's directory. NULL after printing why to
   stderr. skip_migrations: for `migrate version|up`. */
struct store *admin_open_store(const struct config *cfg, bool skip_migrations);

#endif
