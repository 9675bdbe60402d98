#ifndef SORA_CMD_ADMIN_IMPORT_H
#define SORA_CMD_ADMIN_IMPORT_H

/* sora-admin import maildir|mbox: moves a Maildir++ tree (Dovecot's
   layout, or LAYOUT=fs) or an mbox file into an account through the
   normal write path. Returns the exit status. */

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

int admin_import(const struct config *cfg, int argc, char **argv);

struct buf;
/* A Maildir folder directory name (without the leading '.') to the UTF-8
   mailbox name: levels split at sep ('.' for Maildir++, '\0' for one
   level), Dovecot's "\xx" escapes undone, modified UTF-7 decoded, joined
   with '/'. out is NUL-terminated. -1 for an empty level or a level that
   is neither modified UTF-7 nor UTF-8. */
int admin_maildir_name_decode(const char *dirname, char sep, struct buf *out);

/* --mailbox-filter: a comma-separated list of names, "Foo*" matching
   every name starting with "Foo"; NULL matches everything. */
bool admin_mailbox_filter_match(const char *filter, const char *name);

/* --start-date/--end-date "YYYY-MM-DD" (UTC) to Unix time: the day's
   first second, or its last with end_of_day. -1 (reported) when bad. */
int admin_parse_date(const char *flag, const char *s, bool end_of_day, int64_t *t_r);

#endif
