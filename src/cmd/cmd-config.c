#include "cmd-config.h"

#include <stdio.h>

#include "lib/str.h"

int cmd_config_load(const char *prog, const char *path, bool strict, struct config **cfg_r)
{
	struct buf diag;
	int ret;

	buf_init(&diag, 0);
	ret = config_load(path, strict, cfg_r, &diag);
	if (diag.len > 0)
		fputs(diag.data, stderr);
	buf_free(&diag);
	if (ret < 0)
		fprintf(stderr, "%s: %s: invalid configuration\n", prog, path);
	return ret;
}
