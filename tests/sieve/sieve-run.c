/* sieve-run: compile a script, run it on a message, print the result in
   the normalised form the differential suite (tests/sieve/run.py) also
   derives from Pigeonhole's `sieve-test` output, one action per line:

     store <mailbox> [flags <flag> ...]   keep or fileinto (flags lower-cased, sorted)
     redirect <address>
     vacation <seconds> <subject or "-">
     reject <reason> / ereject <reason>
     error                                 run-time failure (then: store INBOX)
     compile-error <message>

   Usage: sieve-run [-f envelope-from] [-a envelope-to] [-x "ext ext..."]
                    [-t unix-time] [-e] [-I include-dir] [-D domain]
                    script-file message-file
   -x restricts the enabled extensions (default: all); -e prints the
   header edits after the actions; -I serves include from DIR/<name>.sieve
   (personal) and DIR/global/<name>.sieve; -D sets the environment items
   "domain" and "host". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "sieve/sieve.h"

static char *slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	do {
		if (len + 4096 > cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			data = xrealloc(data, cap);
		}
		n = fread(data + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	data[len] = '\0';
	*len_r = len;
	return data;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_flags(const char *const *flags)
{
	char *v[256];
	size_t n = 0;

	for (size_t i = 0; flags != NULL && flags[i] != NULL && n < 256; i++) {
		v[n] = xstrdup(flags[i]);
		for (char *p = v[n]; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		n++;
	}
	qsort(v, n, sizeof(v[0]), cmp_str);
	if (n > 0)
		fputs(" flags", stdout);
	for (size_t i = 0; i < n; i++) {
		printf(" %s", v[i]);
		free(v[i]);
	}
}

/* CR and LF as '?', as sieve-test shows them */
static void print_line(const char *s)
{
	for (; *s != '\0'; s++)
		putchar(*s == '\r' || *s == '\n' ? '?' : *s);
}

static const char *include_dir;
static char *include_text; /* the last fetched script (freed at exit) */

static const char *inc_fetch(void *ctx, const char *name, bool global, size_t *len_r)
{
	char path[4096];
	FILE *f;

	(void)ctx;
	if (include_dir == NULL ||
	    snprintf(path, sizeof(path), "%s/%s%s.sieve", include_dir, global ? "global/" : "",
		     name) >= (int)sizeof(path))
		return NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fclose(f);
	free(include_text);
	include_text = slurp(path, len_r);
	return include_text;
}

static bool mbox_exists(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "INBOX") == 0;
}

int main(int argc, char **argv)
{
	const char *from = "sender@example.com", *to = "recipient@example.com";
	const char *exts = NULL, *domain = "localhost";
	const char *enabled[64];
	char *ext_copy;
	bool show_edits = false;
	int64_t now = 1700000000;
	struct sieve_script *script;
	struct sieve_error err;
	struct sieve_result res;
	char *text, *msg;
	size_t text_len, msg_len;
	int c;

	while ((c = getopt(argc, argv, "f:a:x:t:eI:D:")) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 'a': to = optarg; break;
		case 'x': exts = optarg; break;
		case 't': now = strtoll(optarg, NULL, 10); break;
		case 'e': show_edits = true; break;
		case 'I': include_dir = optarg; break;
		case 'D': domain = optarg; break;
		default:
			fprintf(stderr, "usage: sieve-run [-f from] [-a to] [-x exts] [-t time] [-e] "
					"script message\n");
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: sieve-run [options] script message\n");
		return 2;
	}
	if (exts == NULL)
		exts = sieve_extensions_all();
	{
		char *save = NULL;
		size_t n = 0;

		ext_copy = xstrdup(exts);
		for (char *t = strtok_r(ext_copy, " ", &save); t != NULL && n < 63;
		     t = strtok_r(NULL, " ", &save))
			enabled[n++] = t;
		enabled[n] = NULL;
	}
	text = slurp(argv[optind], &text_len);
	msg = slurp(argv[optind + 1], &msg_len);
	if (sieve_compile(text, text_len, enabled, NULL, &script, &err) < 0) {
		printf("compile-error %s\n", err.msg);
		free(ext_copy);
		free(text);
		free(msg);
		return 0;
	}
	struct sieve_message m = { .data = msg, .len = msg_len, .envelope_from = from,
				   .envelope_to = to, .auth_user = "", .now = now };
	struct sieve_env env = { .mailbox_exists = mbox_exists, .env_domain = domain,
				 .env_host = domain, .include_fetch = inc_fetch };

	sieve_execute(script, &m, &env, NULL, &res);
	if (res.failed)
		printf("error\n");
	for (size_t i = 0; i < res.action_count; i++) {
		const struct sieve_action *a = &res.actions[i];

		switch (a->type) {
		case SIEVE_ACT_KEEP:
		case SIEVE_ACT_FILEINTO:
			printf("store %s", a->mailbox);
			print_flags(a->flags);
			putchar('\n');
			break;
		case SIEVE_ACT_REDIRECT:
			printf("redirect %s\n", a->address);
			break;
		case SIEVE_ACT_VACATION:
			printf("vacation %llu ", (unsigned long long)a->vacation_seconds);
			print_line(a->vacation_subject == NULL ? "-" : a->vacation_subject);
			putchar('\n');
			break;
		case SIEVE_ACT_REJECT:
			printf("%s ", a->ereject ? "ereject" : "reject");
			print_line(a->reason);
			putchar('\n');
			break;
		case SIEVE_ACT_DISCARD:
			break;
		}
	}
	if (show_edits) {
		for (size_t i = 0; i < res.edit_count; i++)
			printf("edit %s %s %s\n", res.edits[i].add ? "add" : "delete",
			       res.edits[i].name, res.edits[i].value == NULL ? "*" : res.edits[i].value);
	}
	if (res.failed)
		fprintf(stderr, "sieve-run: %s\n", res.error);
	sieve_result_free(&res);
	sieve_script_free(&script);
	sieve_cache_clear(); /* scripts the includes compiled */
	free(include_text);
	free(ext_copy);
	free(text);
	free(msg);
	return 0;
}
