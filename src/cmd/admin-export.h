#ifndef SORA_CMD_ADMIN_EXPORT_H
#define SORA_CMD_ADMIN_EXPORT_H

/* sora-admin export maildir: writes an account's mailboxes as a Maildir++
   tree (Dovecot's layout), bodies byte-exact from the blob store. Returns
   the exit status. */

#include "config/config.h"

int admin_export(const struct config *cfg, int argc, char **argv);

#endif
