/* sora-admin accounts | credentials | migrate.

   Every command is one store call (one transaction), so nothing is ever
   half-written. Passwords are hashed here with the scheme asked for
   (bcrypt cost 12 by default); --password-hash imports an existing hash
   after checking that it is usable. Errors go to stderr, exit 1; usage
   errors exit 2. */
#include "admin-accounts.h"
#include "admin-common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/password.h"
#include "deliver/deliver.h"
#include "lib/arena.h"
#include "lib/str.h"
#include "lib/units.h"
#include "lib/util.h"
#include "store/store.h"

struct opts {
	const char *email, *primary, *password, *password_hash, *hash, *file, *mailbox;
	const char *quota_storage, *quota_messages;
	bool password_stdin, deleted, make_primary, help;
};

static const char accounts_usage[] =
	"Usage: sora-admin [--config FILE] accounts <command> [flags]\n"
	"\n"
	"  create  --email E (--password P | --password-stdin | --password-hash H) [--hash SCHEME]\n"
	"  update  --email E [--password P | --password-stdin | --password-hash H] [--hash SCHEME]\n"
	"          [--quota-storage SIZE] [--quota-messages N]   (QUOTA limits of this\n"
	"          account, e.g. 2GiB and 100000; \"default\" = the server's setting)\n"
	"  show    --email E\n"
	"  list    [--deleted]\n"
	"  delete  --email E      (soft delete: no login, no mail; cleanup purges later)\n"
	"  restore --email E\n"
	"\n"
	"SCHEME: bcrypt (default, cost 12), sha512-crypt, sha256-crypt, ssha512, ssha256,\n"
	"argon2id, argon2i, pbkdf2, … (Dovecot names). --password-hash takes a stored\n"
	"string such as '{SSHA512}…' or '$2y$…' as is. --password-stdin reads one line.\n";

static const char credentials_usage[] =
	"Usage: sora-admin [--config FILE] credentials <command> [flags]\n"
	"\n"
	"  add    --primary E --email ALIAS [--password P | --password-stdin |\n"
	"         --password-hash H] [--hash SCHEME] [--make-primary]\n"
	"         (without a password the alias shares the primary address's hash)\n"
	"  list   --email E\n"
	"  delete --email ALIAS   (not the primary address)\n";

static const char mail_usage[] =
	"Usage: sora-admin [--config FILE] mail deliver --email E --file F [--mailbox M]\n"
	"\n"
	"Stores the message in F (RFC 5322, as received) for E, as a delivery would:\n"
	"parsed once, body into the blob store, metadata committed; prints the UID.\n"
	"Without --mailbox, or when it does not exist: INBOX.\n";

static const char migrate_usage[] =
	"Usage: sora-admin [--config FILE] migrate version|up\n";

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ 0 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **val = NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			o->help = true;
		else if (strcmp(a, "--password-stdin") == 0)
			o->password_stdin = true;
		else if (strcmp(a, "--deleted") == 0)
			o->deleted = true;
		else if (strcmp(a, "--make-primary") == 0)
			o->make_primary = true;
		else if (strcmp(a, "--email") == 0)
			val = &o->email;
		else if (strcmp(a, "--primary") == 0)
			val = &o->primary;
		else if (strcmp(a, "--password") == 0)
			val = &o->password;
		else if (strcmp(a, "--password-hash") == 0)
			val = &o->password_hash;
		else if (strcmp(a, "--hash") == 0)
			val = &o->hash;
		else if (strcmp(a, "--file") == 0)
			val = &o->file;
		else if (strcmp(a, "--mailbox") == 0)
			val = &o->mailbox;
		else if (strcmp(a, "--quota-storage") == 0)
			val = &o->quota_storage;
		else if (strcmp(a, "--quota-messages") == 0)
			val = &o->quota_messages;
		else {
			fprintf(stderr, "sora-admin: unknown flag '%s'\n", a);
			return -1;
		}
		if (val != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sora-admin: %s needs a value\n", a);
				return -1;
			}
			*val = argv[++i];
		}
	}
	return 0;
}

/* The stored hash for the flags given, malloc'ed; NULL after printing why. */
static char *make_hash(const struct opts *o, bool required)
{
	enum password_scheme scheme = PASSWORD_SCHEME_BLF_CRYPT;
	char line[1024], *hash = NULL;
	const char *pw = o->password, *error;
	int sources = (o->password != NULL) + o->password_stdin + (o->password_hash != NULL);

	if (sources > 1) {
		fprintf(stderr, "sora-admin: give one of --password, --password-stdin, "
				"--password-hash\n");
		return NULL;
	}
	if (sources == 0) {
		if (required)
			fprintf(stderr, "sora-admin: a password is required (--password, "
					"--password-stdin or --password-hash)\n");
		return NULL;
	}
	if (o->password_hash != NULL) {
		bool match;

		/* usable: verifying a wrong password must work, not fail */
		if (password_verify(o->password_hash, "\x01", 1, o->email, &match, &error) < 0) {
			fprintf(stderr, "sora-admin: --password-hash is not usable: %s\n", error);
			return NULL;
		}
		return xstrdup(o->password_hash);
	}
	if (o->hash != NULL && password_scheme_parse(o->hash, &scheme) < 0) {
		fprintf(stderr, "sora-admin: unknown --hash scheme '%s'\n", o->hash);
		return NULL;
	}
	if (o->password_stdin) {
		if (fgets(line, sizeof(line), stdin) == NULL) {
			fprintf(stderr, "sora-admin: no password on standard input\n");
			return NULL;
		}
		line[strcspn(line, "\r\n")] = '\0';
		pw = line;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "sora-admin: the password is empty\n");
	} else if (password_hash(scheme, pw, NULL, &hash, &error) < 0) {
		fprintf(stderr, "sora-admin: cannot hash the password: %s\n", error);
		hash = NULL;
	}
	util_wipe(line, sizeof(line));
	return hash;
}

static int need(const char *value, const char *flag)
{
	if (value == NULL) {
		fprintf(stderr, "sora-admin: %s is required\n", flag);
		return -1;
	}
	return 0;
}

static int fail_store(const char *what, const struct store_error *err)
{
	fprintf(stderr, "sora-admin: %s: %s\n", what, err->msg);
	return 1;
}

static void print_time(const char *label, int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-10s %s\n", label, buf);
}

/* --quota-storage SIZE / --quota-messages N: 0 stands for "default". */
static int parse_quota(const char *flag, const char *v, bool size, uint64_t *r)
{
	if (strcmp(v, "default") == 0) {
		*r = 0;
		return 0;
	}
	if ((size ? units_parse_size(slice_from(v, strlen(v)), r) : str_to_u64(slice_from(v, strlen(v)), r)) <
		    0 ||
	    *r > INT64_MAX) {
		fprintf(stderr, "sora-admin: %s: '%s' is not a %s (or \"default\")\n", flag, v,
			size ? "size such as 2GiB" : "number");
		return -1;
	}
	return 0;
}

static int account_set_quota(struct store *st, const struct opts *o)
{
	struct arena *a = arena_new(1024);
	struct store_account acc;
	struct store_error err;
	uint64_t bytes, messages;
	int64_t id;
	int ret = 1;

	if (store_account_find(st, o->email, false, &id, &err) < 0 ||
	    store_account_get(st, id, a, &acc, &err) < 0) {
		ret = fail_store(o->email, &err);
		goto out;
	}
	/* a limit not given keeps its value */
	bytes = acc.quota_storage;
	messages = acc.quota_messages;
	if ((o->quota_storage != NULL &&
	     parse_quota("--quota-storage", o->quota_storage, true, &bytes) < 0) ||
	    (o->quota_messages != NULL &&
	     parse_quota("--quota-messages", o->quota_messages, false, &messages) < 0)) {
		ret = 2;
		goto out;
	}
	if (store_account_set_quota(st, id, bytes, messages, &err) < 0) {
		ret = fail_store(o->email, &err);
		goto out;
	}
	printf("updated quota of %s: storage %s%llu, messages %s%llu\n", o->email,
	       bytes == 0 ? "default " : "", (unsigned long long)bytes,
	       messages == 0 ? "default " : "", (unsigned long long)messages);
	ret = 0;
out:
	arena_free(&a);
	return ret;
}

static int account_show(struct store *st, const char *email, bool include_deleted)
{
	struct arena *a = arena_new(4096);
	struct store_account acc;
	struct store_credential *creds;
	struct store_error err;
	size_t n;
	int64_t id;
	int ret = 1;

	if (store_account_find(st, email, include_deleted, &id, &err) < 0 ||
	    store_account_get(st, id, a, &acc, &err) < 0 ||
	    store_credential_list(st, id, a, &creds, &n, &err) < 0) {
		ret = fail_store(email, &err);
		goto out;
	}
	printf("%-10s %lld\n", "id", (long long)acc.id);
	printf("%-10s %s\n", "primary", acc.primary_address);
	print_time("created", acc.created_at);
	if (acc.deleted_at != 0)
		print_time("deleted", acc.deleted_at);
	printf("%-10s %llu\n%-10s %llu\n", "messages", (unsigned long long)acc.message_count,
	       "bytes", (unsigned long long)acc.total_bytes);
	if (acc.quota_storage != 0)
		printf("%-10s %llu\n", "quota-storage", (unsigned long long)acc.quota_storage);
	if (acc.quota_messages != 0)
		printf("%-10s %llu\n", "quota-messages", (unsigned long long)acc.quota_messages);
	for (size_t i = 0; i < n; i++) {
		const char *h = creds[i].password_hash, *end = strchr(h, '}');

		/* the scheme only: never print the hash itself */
		printf("%-10s %s%s scheme=%.*s\n", "address", creds[i].address,
		       creds[i].is_primary ? " (primary)" : "",
		       h[0] == '{' && end != NULL ? (int)(end - h - 1) : 0, h + 1);
	}
	ret = 0;
out:
	arena_free(&a);
	return ret;
}

int admin_accounts(const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";
	struct store_error err;
	struct store *st;
	struct opts o;
	int64_t id;
	int ret = 1;

	if (argc == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    parse_opts(argc - 1, argv + 1, &o) < 0 || o.help) {
		bool asked = argc > 0 && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
					  o.help);

		fputs(accounts_usage, asked ? stdout : stderr);
		return asked ? 0 : 2;
	}
	if (strcmp(cmd, "list") != 0 && need(o.email, "--email") < 0)
		return 2;
	st = admin_open_store(cfg, false);
	if (st == NULL)
		return 1;
	if (strcmp(cmd, "create") == 0) {
		char *hash = make_hash(&o, true);

		if (hash != NULL) {
			if (store_account_create(st, o.email, hash, &id, &err) < 0)
				ret = fail_store(o.email, &err);
			else
				ret = (printf("created account %lld for %s\n", (long long)id,
					      o.email), 0);
			util_wipe(hash, strlen(hash));
			free(hash);
		}
	} else if (strcmp(cmd, "update") == 0) {
		bool quota = o.quota_storage != NULL || o.quota_messages != NULL;
		bool password = o.password != NULL || o.password_stdin || o.password_hash != NULL;
		char *hash = password || !quota ? make_hash(&o, true) : NULL;

		if (quota && (!password || hash != NULL))
			ret = account_set_quota(st, &o);
		if (hash != NULL && ret != 2 && (!quota || ret == 0)) {
			if (store_credential_set_password(st, o.email, hash, &err) < 0)
				ret = fail_store(o.email, &err);
			else
				ret = (printf("updated password of %s\n", o.email), 0);
			util_wipe(hash, strlen(hash));
			free(hash);
		}
	} else if (strcmp(cmd, "show") == 0) {
		ret = account_show(st, o.email, true);
	} else if (strcmp(cmd, "list") == 0) {
		struct arena *a = arena_new(4096);
		struct store_account *accs;
		size_t n;

		if (store_account_list(st, o.deleted, a, &accs, &n, &err) < 0) {
			ret = fail_store("list", &err);
		} else {
			for (size_t i = 0; i < n; i++)
				printf("%lld\t%s%s\n", (long long)accs[i].id,
				       accs[i].primary_address,
				       accs[i].deleted_at != 0 ? "\t(deleted)" : "");
			ret = 0;
		}
		arena_free(&a);
	} else if (strcmp(cmd, "delete") == 0 || strcmp(cmd, "restore") == 0) {
		bool del = strcmp(cmd, "delete") == 0;

		if (store_account_find(st, o.email, !del, &id, &err) < 0 ||
		    (del ? store_account_delete(st, id, &err)
			 : store_account_restore(st, id, &err)) < 0)
			ret = fail_store(o.email, &err);
		else
			ret = (printf("%s account %s\n", del ? "deleted" : "restored", o.email), 0);
	} else {
		fprintf(stderr, "sora-admin: accounts: unknown command '%s'\n%s", cmd,
			accounts_usage);
		ret = 2;
	}
	store_close(&st);
	return ret;
}

int admin_credentials(const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";
	struct store_error err;
	struct store *st;
	struct opts o;
	int ret = 1;

	if (argc == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    parse_opts(argc - 1, argv + 1, &o) < 0 || o.help) {
		bool asked = argc > 0 && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
					  o.help);

		fputs(credentials_usage, asked ? stdout : stderr);
		return asked ? 0 : 2;
	}
	if (need(o.email, "--email") < 0 ||
	    (strcmp(cmd, "add") == 0 && need(o.primary, "--primary") < 0))
		return 2;
	st = admin_open_store(cfg, false);
	if (st == NULL)
		return 1;
	if (strcmp(cmd, "add") == 0) {
		struct arena *a = arena_new(1024);
		struct store_credential primary;
		char *hash = make_hash(&o, false);
		int64_t id;

		if (store_account_find(st, o.primary, false, &id, &err) < 0 ||
		    (hash == NULL && store_credential_lookup(st, o.primary, a, &primary, &err) < 0))
			ret = fail_store(o.primary, &err);
		else if (store_credential_add(st, id, o.email,
					      hash != NULL ? hash : primary.password_hash,
					      o.make_primary, &err) < 0)
			ret = fail_store(o.email, &err);
		else
			ret = (printf("added %s to %s\n", o.email, o.primary), 0);
		if (hash != NULL) {
			util_wipe(hash, strlen(hash));
			free(hash);
		}
		arena_free(&a);
	} else if (strcmp(cmd, "list") == 0) {
		ret = account_show(st, o.email, false);
	} else if (strcmp(cmd, "delete") == 0) {
		if (store_credential_delete(st, o.email, &err) < 0)
			ret = fail_store(o.email, &err);
		else
			ret = (printf("deleted %s\n", o.email), 0);
	} else {
		fprintf(stderr, "sora-admin: credentials: unknown command '%s'\n%s", cmd,
			credentials_usage);
		ret = 2;
	}
	store_close(&st);
	return ret;
}

int admin_migrate(const struct config *cfg, int argc, char **argv)
{
	struct store_error err;
	unsigned version, latest, applied;
	struct store *st;
	int ret = 1;

	if (argc != 1 || (strcmp(argv[0], "version") != 0 && strcmp(argv[0], "up") != 0)) {
		bool asked = argc == 1 && (strcmp(argv[0], "--help") == 0 ||
					   strcmp(argv[0], "-h") == 0);

		fputs(migrate_usage, asked ? stdout : stderr);
		return asked ? 0 : 2;
	}
	st = admin_open_store(cfg, true);
	if (st == NULL)
		return 1;
	if (strcmp(argv[0], "up") == 0 && store_migrate_up(st, &applied, &err) < 0)
		ret = fail_store("migrate up", &err);
	else if (store_migrate_version(st, &version, &latest, &err) < 0)
		ret = fail_store("migrate version", &err);
	else
		ret = (printf("schema version %u (latest %u)\n", version, latest), 0);
	store_close(&st);
	return ret;
}

#define ADMIN_MAIL_MAX (256u * 1024 * 1024)

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "sora-admin: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, ADMIN_MAIL_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			fprintf(stderr, "sora-admin: %s: larger than %u bytes\n", path,
				ADMIN_MAIL_MAX);
			fclose(f);
			buf_free(&b);
			return NULL;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "sora-admin: %s: read error\n", path);
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	*len_r = b.len;
	return b.data != NULL ? b.data : xstrdup("");
}

int admin_mail(const struct config *cfg, int argc, char **argv)
{
	struct mail_services ms = { 0 };
	struct deliver_result res;
	char err[768], *data;
	struct opts o;
	size_t len;
	bool asked = argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0);

	if (argc == 0 || strcmp(argv[0], "deliver") != 0 ||
	    parse_opts(argc - 1, argv + 1, &o) < 0 || o.help) {
		asked = asked || (argc > 0 && o.help);
		fputs(mail_usage, asked ? stdout : stderr);
		return asked ? 0 : 2;
	}
	if (need(o.email, "--email") < 0 || need(o.file, "--file") < 0)
		return 2;
	data = read_file(o.file, &len);
	if (data == NULL)
		return 1;
	if (mail_services_open(cfg, &ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "sora-admin: %s\n", err);
		free(data);
		return 1;
	}
	deliver_message(&ms, o.email, o.mailbox, data, len, 0, 0, &res);
	free(data);
	mail_services_close(&ms);
	if (res.status != DELIVER_OK) {
		fprintf(stderr, "sora-admin: %s: %s%s\n", o.email, res.reason,
			res.status == DELIVER_TEMPFAIL ? " (temporary)" : "");
		return 1;
	}
	printf("delivered to %s %s uid %u (uidvalidity %u)\n", o.email, res.mailbox, res.uid,
	       res.uidvalidity);
	return 0;
}
