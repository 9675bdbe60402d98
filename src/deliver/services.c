#include "deliver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "../store/blob.h"
#include "../lib/util.h"
#include "../store/store.h"

static int open_store(const struct config *cfg, struct mail_services *ms, char *err, size_t size)
{
	struct store_settings set = { .driver = cfg->database.driver, .path = cfg->database.path };
	struct store_error serr;

	if (set.driver != NULL && strcmp(set.driver, "sqlite") != 0) {
		snprintf(err, size, "%s: database.driver: \"%s\" is not available in this build "
			 "(sqlite only)", cfg->path, set.driver);
		return -1;
	}
	if (util_mkdir_parents(set.path) < 0) {
		snprintf(err, size, "%s: database.path: cannot create the directory of %s: %s",
			 cfg->path, set.path, strerror(errno));
		return -1;
	}
	if (store_open(&set, &ms->store, &serr) < 0) {
		snprintf(err, size, "%s: database.path: cannot open %s: %s", cfg->path, set.path,
			 serr.msg);
		return -1;
	}
	return 0;
}

static int open_blob(const struct config *cfg, struct mail_services *ms, char *err, size_t size)
{
	struct blob_settings set = {
		.driver = cfg->storage.driver,
		.fs_path = cfg->storage.path,
		.s3 = {
			.endpoint = cfg->s3.endpoint,
			.bucket = cfg->s3.bucket,
			.access_key = cfg->s3.access_key,
			.secret_key = cfg->s3.secret_key,
			.disable_tls = cfg->s3.disable_tls,
			.timeout_ms = cfg->s3.timeout_ms,
		},
		.crypt = {
			.encrypt = cfg->s3.encrypt,
			.encryption_key = cfg->s3.encryption_key,
		},
	};
	enum blob_key_check check;
	struct blob_error berr;

	if (blob_open(&set, &ms->blob, &berr) < 0) {
		snprintf(err, size, "%s: storage: %s", cfg->path, berr.msg);
		return -1;
	}
	if (!set.crypt.encrypt)
		return 0;
	/* never write blobs nobody could read later */
	if (blob_crypt_verify_key(ms->blob, &check, &berr) < 0) {
		snprintf(err, size, "%s: s3.encryption_key: cannot check the key against the "
			 "store: %s", cfg->path, berr.msg);
		return -1;
	}
	if (check == BLOB_KEY_CHECK_MISMATCH) {
		snprintf(err, size, "%s: s3.encryption_key: %s", cfg->path, berr.msg);
		return -1;
	}
	return 0;
}

int mail_services_open(const struct config *cfg, struct mail_services *ms, char *err,
		       size_t err_size)
{
	if (open_store(cfg, ms, err, err_size) < 0)
		return -1;
	if (open_blob(cfg, ms, err, err_size) < 0) {
		store_close(&ms->store);
		return -1;
	}
	return 0;
}

void mail_services_close(struct mail_services *ms)
{
	blob_close(&ms->blob);
	store_close(&ms->store);
}
