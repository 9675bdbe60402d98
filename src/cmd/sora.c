/* sora: runs every server of the configuration in one process.
   See README.md and docs/ for the configuration reference. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-config.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/str.h"
#include "server/server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: sora [--config FILE] [--check] [--strict]\n"
		"\n"
		"Runs the Sora mail servers (IMAP, LMTP, …) configured in FILE in the\n"
		"foreground, logging to stderr (see [logging]).\n"
		"\n"
		"  -c, --config FILE  configuration file (default: sora.toml)\n"
		"      --check        validate the configuration and exit\n"
		"      --strict       unknown configuration keys are errors, not warnings\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads TLS certificates.\n"
		"Exit status: 0 after a clean stop or a valid --check, 2 for a bad\n"
		"configuration, 1 for other startup failures.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "strict", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "sora.toml", *error;
	bool check = false, strict = false;
	struct config *cfg = NULL;
	struct server *srv;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 's':
			strict = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sora %s\n", SORA_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sora: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (cmd_config_load("sora", path, strict, &cfg) < 0)
		return 2;
	if (check) {
		printf("%s: configuration OK (%zu servers)\n", path, cfg->server_count);
		config_free(&cfg);
		return 0;
	}
	if (log_open(cfg->logging.output, cfg->logging.format, cfg->logging.level, &error) < 0) {
		fprintf(stderr, "sora: %s: logging.output: %s\n", path, error);
		config_free(&cfg);
		return 2;
	}
	srv = server_new(cfg, &error);
	if (srv == NULL) {
		log_error(NULL, "startup.fail", "error=%s", log_str(error));
		fprintf(stderr, "sora: %s\n", error);
		config_free(&cfg);
		return 1;
	}
	ret = server_run(srv);
	server_free(&srv);
	config_free(&cfg);
	log_close();
	return ret;
}
