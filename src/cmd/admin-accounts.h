#ifndef SORA_CMD_ADMIN_ACCOUNTS_H
#define SORA_CMD_ADMIN_ACCOUNTS_H

/* sora-admin groups that work on the metadata store: accounts,
   credentials, migrate, mail. Each returns the process exit status. */

#include "config/config.h"

int admin_accounts(const struct config *cfg, int argc, char **argv);
int admin_credentials(const struct config *cfg, int argc, char **argv);
int admin_migrate(const struct config *cfg, int argc, char **argv);
int admin_mail(const struct config *cfg, int argc, char **argv);

#endif
