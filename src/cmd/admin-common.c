#include "admin-common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../deliver/deliver.h"
#include "../lib/util.h"
#include "../store/store.h"

struct store *admin_open_store(const struct config *cfg, bool skip_migrations)
{
	struct store_settings set;
	struct store_error err;
	struct store *st;

	mail_store_settings(cfg, &set);
	set.skip_migrations = skip_migrations;
	if (set.driver != NULL && strcmp(set.driver, "postgres") == 0) {
		if (store_open(&set, &st, &err) < 0) {
			fprintf(stderr, "sora-admin: cannot open the PostgreSQL database "
					"([database.write]): %s\n", err.msg);
			return NULL;
		}
		return st;
	}
	if (util_mkdir_parents(set.path) < 0) {
		fprintf(stderr, "sora-admin: cannot create the directory of %s: %s\n", set.path,
			strerror(errno));
		return NULL;
	}
	if (store_open(&set, &st, &err) < 0) {
		fprintf(stderr, "sora-admin: cannot open database %s: %s\n", set.path, err.msg);
		return NULL;
	}
	return st;
}
