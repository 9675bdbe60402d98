#ifndef SORA_CMD_CONFIG_H
#define SORA_CMD_CONFIG_H

/* Loading the configuration for a command-line program: every problem is
   printed to stderr as FILE:LINE: KEY: message, then one summary line. */

#include <stdbool.h>

#include "config/config.h"

/* 0 with *cfg_r set, or -1 after printing why. */
int cmd_config_load(const char *prog, const char *path, bool strict, struct config **cfg_r);

#endif
