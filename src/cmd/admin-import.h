#ifndef SORA_CMD_ADMIN_IMPORT_H
#define SORA_CMD_ADMIN_IMPORT_H

/* sora-admin import maildir|mbox: moves a Maildir++ tree (Dovecot's
   layout, or LAYOUT=fs) or an mbox file into an account through the
   normal write path. Returns the exit status. */

#include "config/config.h"

int admin_import(const struct config *cfg, int argc, char **argv);

#endif
