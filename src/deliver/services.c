#include "deliver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "../store/blob.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "records.h"
#include "../relay/relay.h"
#include "storage.h"

void mail_store_settings(const struct config *cfg, struct store_settings *set)
{
	*set = (struct store_settings){
		.driver = cfg->database.driver,
		.path = cfg->database.path,
		.write_conninfo = cfg->database.write_conninfo,
		.read_conninfo = cfg->database.read_conninfo,
		.write_connections = cfg->database.write.max_conns,
		/* no [database.read]: reads go to the write server, same size */
		.read_connections = cfg->database.read_conninfo != NULL
					    ? cfg->database.read.max_conns
					    : cfg->database.write.max_conns,
	};
}

static int open_store(const struct config *cfg, struct mail_services *ms, char *err, size_t size)
{
	struct store_settings set;
	struct store_error serr;

	mail_store_settings(cfg, &set);
	if (set.driver != NULL && strcmp(set.driver, "postgres") == 0) {
		/* the message never holds the conninfo (it may hold a password) */
		if (store_open(&set, &ms->store, &serr) < 0) {
			snprintf(err, size, "%s: database.write: cannot open the PostgreSQL "
				 "database: %s", cfg->path, serr.msg);
			return -1;
		}
		return 0;
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
			.previous_encryption_keys = cfg->s3.previous_encryption_keys,
			.previous_count = cfg->s3.previous_encryption_key_count,
		},
	};
	bool s3 = set.driver != NULL && strcmp(set.driver, "s3") == 0, deferred = false;
	enum blob_key_check check;
	struct blob_error berr;

	if (blob_open(&set, &ms->blob, &berr) < 0) {
		snprintf(err, size, "%s: storage: %s", cfg->path, berr.msg);
		return -1;
	}
	if (set.crypt.encrypt) {
		/* never write blobs nobody could read later */
		if (blob_crypt_verify_key(ms->blob, &check, &berr) < 0) {
			if (s3 && berr.code == BLOB_TEMPORARY) {
				/* S3 unreachable: mail is staged locally meanwhile and
				   the uploader checks the key before its first upload */
				log_warn(NULL, "storage.key_check_deferred", "reason=%s",
					 log_str(berr.msg));
				deferred = true;
			} else {
				snprintf(err, size, "%s: s3.encryption_key: cannot check the key "
					 "against the store: %s", cfg->path, berr.msg);
				blob_close(&ms->blob);
				return -1;
			}
		} else if (check == BLOB_KEY_CHECK_MISMATCH) {
			snprintf(err, size, "%s: s3.encryption_key: %s", cfg->path, berr.msg);
			blob_close(&ms->blob);
			return -1;
		}
	}
	if (s3 && storage_wrap_s3(cfg, &ms->blob, deferred, err, size) < 0)
		return -1;
	return 0;
}

/* Delivery bookkeeping lives next to the database: <dir of path>/delivery */
static int open_records(const struct config *cfg, struct mail_services *ms, char *err,
			size_t size)
{
	const char *path = cfg->database.path != NULL ? cfg->database.path : "data/sora.db";
	const char *slash = strrchr(path, '/');
	char dir[4096], why[512];

	if (slash == NULL)
		snprintf(dir, sizeof(dir), "delivery");
	else
		snprintf(dir, sizeof(dir), "%.*s/delivery", (int)(slash - path), path);
	ms->records = deliver_records_open(dir, why, sizeof(why));
	if (ms->records == NULL) {
		snprintf(err, size, "%s: database.path: %s", cfg->path, why);
		return -1;
	}
	ms->cfg = cfg;
	if (cfg->relay.type == NULL)
		return 0;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), "relay");
	else
		snprintf(dir, sizeof(dir), "%.*s/relay", (int)(slash - path), path);
	ms->relay = relay_queue_open(cfg, dir, why, sizeof(why));
	if (ms->relay == NULL) {
		snprintf(err, size, "%s: relay.queue.path: %s", cfg->path, why);
		deliver_records_close(&ms->records);
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
	if (open_records(cfg, ms, err, err_size) < 0) {
		blob_close(&ms->blob);
		store_close(&ms->store);
		return -1;
	}
	return 0;
}

void mail_services_close(struct mail_services *ms)
{
	relay_queue_close(&ms->relay);
	deliver_records_close(&ms->records);
	blob_close(&ms->blob);
	store_close(&ms->store);
}
