#ifndef SORA_CMD_ADMIN_SIEVE_H
#define SORA_CMD_ADMIN_SIEVE_H

/* sora-admin sieve list|get|put|activate|deactivate|delete --email E
   [--name N] [--file F]: an account's Sieve scripts, through the same
   functions ManageSieve's PUTSCRIPT, SETACTIVE, … use
   (managesieve/managesieve-scripts.h), with the limits of [sieve]. A
   script the engine refuses is reported with its line and column, exit 1.
   Returns the process exit status (2: usage). */

#include "config/config.h"

int admin_sieve(const struct config *cfg, int argc, char **argv);

#endif
