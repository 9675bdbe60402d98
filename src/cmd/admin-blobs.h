#ifndef SORA_CMD_ADMIN_BLOBS_H
#define SORA_CMD_ADMIN_BLOBS_H

/* sora-admin groups on the blob store's operational side: uploader status,
   cache stats, cleanup run, blobs reencrypt. Each returns the exit status. */

#include "config/config.h"

int admin_uploader(const struct config *cfg, int argc, char **argv);
int admin_cache(const struct config *cfg, int argc, char **argv);
int admin_cleanup(const struct config *cfg, int argc, char **argv);
int admin_blobs(const struct config *cfg, int argc, char **argv);

#endif
