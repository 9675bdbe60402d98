/* sora-admin: Sora's administration command tree (`sora-admin --config FILE
   <group> <command> [flags]`). This build has config, accounts,
   credentials and migrate; the other groups answer a clear error. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "admin-accounts.h"
#include "admin-auth.h"
#include "admin-blobs.h"
#include "admin-export.h"
#include "admin-import.h"
#include "admin-mailbox.h"
#include "admin-sieve.h"
#include "cmd-config.h"
#include "config/config.h"
#include "lib/str.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: sora-admin [--config FILE] <group> <command> [flags]\n"
		"\n"
		"Groups and commands (each takes --help):\n"
		"  config validate [--strict]   check the configuration file and exit\n"
		"  accounts create|update|show|list|delete|restore\n"
		"  credentials add|list|delete\n"
		"  migrate version|up\n"
		"  mail deliver --email E --file F [--mailbox M]\n"
		"  auth blocked | unblock --ip IP | --user ADDRESS\n"
		"  mailbox create|list|delete|rename --email E ...\n"
		"  sieve list|get|put|activate|deactivate|delete --email E [--name N] [--file F]\n"
		"  uploader status              bodies waiting in staging for S3\n"
		"  cache stats                  local body cache: entries, hits, misses\n"
		"  cleanup run [--grace-period D]  purge expunged/deleted data now\n"
		"  blobs reencrypt              rewrite bodies under the current key\n"
		"  import maildir|mbox --email E --maildir-path DIR | --path FILE ...\n"
		"  export maildir --email E --maildir-path DIR [--mailbox M]\n"
		"\n"
		"  -c, --config FILE  configuration file (default: sora.toml)\n"
		"  -h, --help         this text\n");
}

static int config_validate(const char *path, int argc, char **argv)
{
	bool strict = false;
	struct config *cfg = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--strict") == 0) {
			strict = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: sora-admin [--config FILE] config validate [--strict]\n"
			       "Checks FILE; prints every problem as FILE:LINE: KEY: message.\n");
			return 0;
		} else {
			fprintf(stderr, "sora-admin: config validate: unknown flag '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (cmd_config_load("sora-admin", path, strict, &cfg) < 0)
		return 1;
	printf("%s: configuration OK (%zu servers)\n", path, cfg->server_count);
	config_free(&cfg);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "sora.toml";
	int opt;

	/* stop at the group name: flags after it belong to the command */
	while ((opt = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind >= 2 && strcmp(argv[optind], "config") == 0 &&
	    strcmp(argv[optind + 1], "validate") == 0)
		return config_validate(path, argc - optind - 2, argv + optind + 2);
	if (argc - optind == 0) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "import") == 0 || strcmp(argv[optind], "export") == 0) {
		/* --help needs no configuration (the commands print it before using cfg) */
		for (int i = optind + 1; i < argc; i++) {
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
				return strcmp(argv[optind], "import") == 0
					       ? admin_import(NULL, argc - optind - 1, argv + optind + 1)
					       : admin_export(NULL, argc - optind - 1, argv + optind + 1);
		}
	}
	if (strcmp(argv[optind], "accounts") == 0 || strcmp(argv[optind], "credentials") == 0 ||
	    strcmp(argv[optind], "migrate") == 0 || strcmp(argv[optind], "mail") == 0 ||
	    strcmp(argv[optind], "auth") == 0 || strcmp(argv[optind], "mailbox") == 0 ||
	    strcmp(argv[optind], "uploader") == 0 || strcmp(argv[optind], "cache") == 0 ||
	    strcmp(argv[optind], "cleanup") == 0 || strcmp(argv[optind], "blobs") == 0 ||
	    strcmp(argv[optind], "sieve") == 0 || strcmp(argv[optind], "import") == 0 ||
	    strcmp(argv[optind], "export") == 0) {
		struct config *cfg = NULL;
		int ret;

		if (cmd_config_load("sora-admin", path, false, &cfg) < 0)
			return 1;
		if (strcmp(argv[optind], "accounts") == 0)
			ret = admin_accounts(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "credentials") == 0)
			ret = admin_credentials(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "mail") == 0)
			ret = admin_mail(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "auth") == 0)
			ret = admin_auth(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "mailbox") == 0)
			ret = admin_mailbox(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "uploader") == 0)
			ret = admin_uploader(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "cache") == 0)
			ret = admin_cache(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "cleanup") == 0)
			ret = admin_cleanup(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "blobs") == 0)
			ret = admin_blobs(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "sieve") == 0)
			ret = admin_sieve(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "import") == 0)
			ret = admin_import(cfg, argc - optind - 1, argv + optind + 1);
		else if (strcmp(argv[optind], "export") == 0)
			ret = admin_export(cfg, argc - optind - 1, argv + optind + 1);
		else
			ret = admin_migrate(cfg, argc - optind - 1, argv + optind + 1);
		config_free(&cfg);
		return ret;
	}
	fprintf(stderr,
		"sora-admin: '%s%s%s' is not available in this build; see --help\n",
		argv[optind], argc - optind >= 2 ? " " : "", argc - optind >= 2 ? argv[optind + 1] : "");
	return 2;
}
