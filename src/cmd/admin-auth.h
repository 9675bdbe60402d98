#ifndef SORA_CMD_ADMIN_AUTH_H
#define SORA_CMD_ADMIN_AUTH_H

/* sora-admin auth: the login limiter's persisted blocks (auth/ratelimit-store.h).
   `auth blocked` lists the active ones (kind, key, until); `auth unblock --ip IP |
   --user ADDRESS` deletes one: a running server stops refusing within
   RATELIMIT_STORE_POLL_MS (its watcher lifts what it holds in memory). Returns
   the process exit status. */

#include "config/config.h"

int admin_auth(const struct config *cfg, int argc, char **argv);

#endif
