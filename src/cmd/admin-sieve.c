/* sora-admin sieve: see admin-sieve.h. */
#include "admin-sieve.h"
#include "admin-common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/str.h"
#include "lib/util.h"
#include "managesieve/managesieve-scripts.h"
#include "store/store.h"

static const char sieve_usage[] =
	"Usage: sora-admin [--config FILE] sieve <command> --email E [flags]\n"
	"\n"
	"  list       --email E                      scripts, the active one marked\n"
	"  get        --email E --name N             print a script\n"
	"  put        --email E --name N --file F    store a script (validated as\n"
	"                                            ManageSieve PUTSCRIPT does; - = stdin)\n"
	"  activate   --email E --name N             make N the active script\n"
	"  deactivate --email E                      no active script\n"
	"  delete     --email E --name N             delete a script (not the active one)\n";

struct sieve_opts {
	const char *email, *name, *file;
	bool help;
};

static int parse(int argc, char **argv, struct sieve_opts *o)
{
	*o = (struct sieve_opts){ 0 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **val = NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			o->help = true;
		else if (strcmp(a, "--email") == 0)
			val = &o->email;
		else if (strcmp(a, "--name") == 0)
			val = &o->name;
		else if (strcmp(a, "--file") == 0)
			val = &o->file;
		else {
			fprintf(stderr, "sora-admin: sieve: unknown flag '%s'\n", a);
			return -1;
		}
		if (val != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sora-admin: sieve: %s needs a value\n", a);
				return -1;
			}
			*val = argv[++i];
		}
	}
	return 0;
}

/* The whole file (or stdin for "-"), at most max + 1 bytes so that an
   oversized script is refused by the shared size check, not cut. */
static char *read_script(const char *path, uint64_t max, size_t *len_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b;
	char chunk[8192];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "sora-admin: sieve put: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, (size_t)max + 1);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, MIN(n, (size_t)max + 1 - b.len)) < 0 || b.len > max)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "sora-admin: sieve put: %s: read error\n", path);
		buf_free(&b);
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	if (f != stdin)
		fclose(f);
	*len_r = b.len;
	if (b.data == NULL)
		return xstrdup("");
	return b.data;
}

/* 0 for OK; else the message on stderr and 1. */
static int report(const char *cmd, const struct msieve_result *r)
{
	if (r->status == MSIEVE_OK)
		return 0;
	fprintf(stderr, "sora-admin: sieve %s: %s%s%s%s\n", cmd, r->code != NULL ? "(" : "",
		r->code != NULL ? r->code : "", r->code != NULL ? ") " : "", r->text);
	return 1;
}

static int sieve_list(struct store *st, int64_t account_id)
{
	struct arena *a = arena_new(4096);
	struct store_sieve_script *list = NULL;
	struct msieve_result r;
	size_t n = 0;

	msieve_script_list(st, account_id, a, &list, &n, &r);
	for (size_t i = 0; r.status == MSIEVE_OK && i < n; i++)
		printf("%s%s\n", list[i].name, list[i].is_active ? "\tACTIVE" : "");
	arena_free(&a);
	return report("list", &r);
}

static int sieve_get(struct store *st, int64_t account_id, const char *name)
{
	struct arena *a = arena_new(4096);
	const char *content = NULL;
	struct msieve_result r;

	msieve_script_get(st, account_id, name, a, &content, &r);
	if (r.status == MSIEVE_OK)
		fputs(content, stdout);
	arena_free(&a);
	return report("get", &r);
}

static int sieve_put(const struct config *cfg, struct store *st, int64_t account_id,
		     const char *name, const char *file)
{
	struct msieve_settings set = {
		.extensions = (const char *const *)cfg->sieve.enabled_extensions,
		.max_script_size = cfg->sieve.max_script_size,
		.max_scripts = cfg->sieve.max_scripts,
	};
	struct msieve_result r;
	size_t len = 0;
	char *text = read_script(file, set.max_script_size != 0 ? set.max_script_size
								: MSIEVE_MAX_SCRIPT_SIZE_DEFAULT,
				 &len);
	int ret;

	if (text == NULL)
		return 1;
	msieve_script_put(st, account_id, &set, name, text, len, &r);
	free(text);
	ret = report("put", &r);
	if (ret == 0)
		printf("stored script \"%s\" (%zu bytes)\n", name, len);
	return ret;
}

static int need(const struct sieve_opts *o, const char *cmd, bool name, bool file)
{
	if (o->email == NULL || (name && o->name == NULL) || (file && o->file == NULL)) {
		fprintf(stderr, "sora-admin: sieve %s: needs --email%s%s\n", cmd,
			name ? " and --name" : "", file ? " and --file" : "");
		return -1;
	}
	return 0;
}

static int run(const struct config *cfg, const char *cmd, const struct sieve_opts *o)
{
	struct msieve_result r;
	struct store_error err;
	struct store *st;
	int64_t account_id;
	int ret;

	st = admin_open_store(cfg, false);
	if (st == NULL)
		return 1;
	if (store_account_find(st, o->email, false, &account_id, &err) < 0) {
		fprintf(stderr, "sora-admin: sieve %s: %s: %s\n", cmd, o->email,
			err.code == STORE_NOT_FOUND ? "no such account" : err.msg);
		store_close(&st);
		return 1;
	}
	if (strcmp(cmd, "list") == 0) {
		ret = sieve_list(st, account_id);
	} else if (strcmp(cmd, "get") == 0) {
		ret = sieve_get(st, account_id, o->name);
	} else if (strcmp(cmd, "put") == 0) {
		ret = sieve_put(cfg, st, account_id, o->name, o->file);
	} else if (strcmp(cmd, "activate") == 0) {
		msieve_script_activate(st, account_id, o->name, &r);
		ret = report(cmd, &r);
	} else if (strcmp(cmd, "deactivate") == 0) {
		msieve_script_activate(st, account_id, "", &r);
		ret = report(cmd, &r);
	} else {
		msieve_script_delete(st, account_id, o->name, &r);
		ret = report(cmd, &r);
	}
	store_close(&st);
	return ret;
}

int admin_sieve(const struct config *cfg, int argc, char **argv)
{
	static const struct {
		const char *cmd;
		bool name, file;
	} cmds[] = {
		{ "list", false, false },     { "get", true, false },
		{ "put", true, true },        { "activate", true, false },
		{ "deactivate", false, false }, { "delete", true, false },
	};
	struct sieve_opts o;

	if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(sieve_usage, argc == 0 ? stderr : stdout);
		return argc == 0 ? 2 : 0;
	}
	if (parse(argc - 1, argv + 1, &o) < 0)
		return 2;
	if (o.help) {
		fputs(sieve_usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[0], cmds[i].cmd) != 0)
			continue;
		if (need(&o, cmds[i].cmd, cmds[i].name, cmds[i].file) < 0)
			return 2;
		return run(cfg, cmds[i].cmd, &o);
	}
	fprintf(stderr, "sora-admin: sieve: unknown command '%s'\n%s", argv[0], sieve_usage);
	return 2;
}
