#ifndef SORA_CMD_ADMIN_MAILBOX_H
#define SORA_CMD_ADMIN_MAILBOX_H

/* sora-admin mailbox create|list|delete|rename. Returns the exit status. */

#include "config/config.h"

int admin_mailbox(const struct config *cfg, int argc, char **argv);

#endif
