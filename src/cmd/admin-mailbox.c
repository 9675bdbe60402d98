/* sora-admin mailbox: create, list, delete, rename for one account.
   Each command is one store call (one transaction). Errors go to stderr:
   exit 1 for store errors, 2 for usage errors. */
#include "admin-mailbox.h"
#include "admin-common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deliver/deliver.h"
#include "lib/arena.h"
#include "lib/util.h"
#include "store/store.h"

static const char mailbox_usage[] =
	"Usage: sora-admin [--config FILE] mailbox <command> [flags]\n"
	"\n"
	"  create --email E --mailbox NAME [--special-use USE]\n"
	"  list   --email E\n"
	"  delete --email E --mailbox NAME   (its messages are expunged; cleanup purges them)\n"
	"  rename --email E --mailbox OLD --new-name NEW\n"
	"\n"
	"Names use '/' as the hierarchy separator (\"Archive/2024\"); missing parents\n"
	"are created. USE: all, archive, drafts, flagged, junk, sent, trash, important.\n";

struct mbox_opts {
	const char *email, *mailbox, *new_name, *special_use;
	bool help;
};

static int parse(int argc, char **argv, struct mbox_opts *o)
{
	*o = (struct mbox_opts){ 0 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **val = NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			o->help = true;
		else if (strcmp(a, "--email") == 0)
			val = &o->email;
		else if (strcmp(a, "--mailbox") == 0 || strcmp(a, "--name") == 0)
			val = &o->mailbox;
		else if (strcmp(a, "--new-name") == 0)
			val = &o->new_name;
		else if (strcmp(a, "--special-use") == 0)
			val = &o->special_use;
		else {
			fprintf(stderr, "sora-admin: mailbox: unknown flag '%s'\n", a);
			return -1;
		}
		if (val != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sora-admin: mailbox: %s needs a value\n", a);
				return -1;
			}
			*val = argv[++i];
		}
	}
	return 0;
}

static const struct {
	const char *name;
	unsigned int bit;
} special_uses[] = {
	{ "all", STORE_SPECIAL_ALL },         { "archive", STORE_SPECIAL_ARCHIVE },
	{ "drafts", STORE_SPECIAL_DRAFTS },   { "flagged", STORE_SPECIAL_FLAGGED },
	{ "junk", STORE_SPECIAL_JUNK },       { "sent", STORE_SPECIAL_SENT },
	{ "trash", STORE_SPECIAL_TRASH },     { "important", STORE_SPECIAL_IMPORTANT },
};

static int parse_special_use(const char *s, unsigned int *bit_r)
{
	if (s[0] == '\\')
		s++;
	for (size_t i = 0; i < ARRAY_SIZE(special_uses); i++) {
		if (strcasecmp(s, special_uses[i].name) == 0) {
			*bit_r = special_uses[i].bit;
			return 0;
		}
	}
	return -1;
}

static void print_special_use(unsigned int bits)
{
	for (size_t i = 0; i < ARRAY_SIZE(special_uses); i++) {
		if (bits & special_uses[i].bit)
			printf(" \\%c%s", special_uses[i].name[0] - 'a' + 'A', special_uses[i].name + 1);
	}
}

static int mailbox_list(struct store *st, int64_t account_id)
{
	struct arena *a = arena_new(8192);
	struct store_mailbox *boxes;
	struct store_error err;
	size_t n;
	int ret = 1;

	if (store_mailbox_list(st, account_id, a, &boxes, &n, &err) < 0) {
		fprintf(stderr, "sora-admin: mailbox list: %s\n", err.msg);
		goto out;
	}
	printf("%-40s %8s %10s %12s %s\n", "NAME", "MESSAGES", "UNSEEN", "BYTES", "FLAGS");
	for (size_t i = 0; i < n; i++) {
		struct store_mailbox_status ms = { 0 };

		if (!boxes[i].is_noselect &&
		    store_mailbox_status(st, boxes[i].id, &ms, &err) < 0) {
			fprintf(stderr, "sora-admin: mailbox list: %s: %s\n", boxes[i].name,
				err.msg);
			goto out;
		}
		printf("%-40s %8u %10u %12llu", boxes[i].name, ms.messages, ms.unseen,
		       (unsigned long long)ms.size);
		if (boxes[i].is_noselect)
			printf(" \\Noselect");
		if (boxes[i].is_subscribed)
			printf(" \\Subscribed");
		print_special_use(boxes[i].special_use);
		printf("\n");
	}
	ret = 0;
out:
	arena_free(&a);
	return ret;
}

int admin_mailbox(const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";
	struct store_error err;
	struct mbox_opts o;
	struct store *st;
	unsigned int use = 0;
	int64_t account_id, id;
	int ret = 1;

	if (argc == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    parse(argc - 1, argv + 1, &o) < 0 || o.help) {
		bool asked = argc > 0 && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
					  (argc > 1 && o.help));

		fputs(mailbox_usage, asked ? stdout : stderr);
		return asked ? 0 : 2;
	}
	if (strcmp(cmd, "create") != 0 && strcmp(cmd, "list") != 0 &&
	    strcmp(cmd, "delete") != 0 && strcmp(cmd, "rename") != 0) {
		fprintf(stderr, "sora-admin: mailbox: unknown command '%s'\n%s", cmd,
			mailbox_usage);
		return 2;
	}
	if (o.email == NULL) {
		fprintf(stderr, "sora-admin: mailbox %s: --email is required\n", cmd);
		return 2;
	}
	if (strcmp(cmd, "list") != 0 && o.mailbox == NULL) {
		fprintf(stderr, "sora-admin: mailbox %s: --mailbox is required\n", cmd);
		return 2;
	}
	if (strcmp(cmd, "rename") == 0 && o.new_name == NULL) {
		fprintf(stderr, "sora-admin: mailbox rename: --new-name is required\n");
		return 2;
	}
	if (o.special_use != NULL && parse_special_use(o.special_use, &use) < 0) {
		fprintf(stderr, "sora-admin: mailbox: unknown special use '%s'\n", o.special_use);
		return 2;
	}
	st = admin_open_store(cfg, false);
	if (st == NULL)
		return 1;
	if (store_account_find(st, o.email, false, &account_id, &err) < 0) {
		fprintf(stderr, "sora-admin: %s: %s\n", o.email, err.msg);
		goto out;
	}
	if (strcmp(cmd, "list") == 0) {
		ret = mailbox_list(st, account_id);
	} else if (strcmp(cmd, "create") == 0) {
		if (store_mailbox_create(st, account_id, o.mailbox, use, &id, &err) < 0)
			fprintf(stderr, "sora-admin: mailbox create %s: %s\n", o.mailbox, err.msg);
		else
			ret = (printf("created mailbox %s (id %lld) for %s\n", o.mailbox,
				      (long long)id, o.email), 0);
	} else if (strcmp(cmd, "delete") == 0) {
		if (store_mailbox_delete(st, account_id, o.mailbox, &err) < 0)
			fprintf(stderr, "sora-admin: mailbox delete %s: %s\n", o.mailbox, err.msg);
		else
			ret = (printf("deleted mailbox %s of %s\n", o.mailbox, o.email), 0);
	} else {
		if (store_mailbox_rename(st, account_id, o.mailbox, o.new_name, &err) < 0)
			fprintf(stderr, "sora-admin: mailbox rename %s: %s\n", o.mailbox, err.msg);
		else
			ret = (printf("renamed mailbox %s to %s for %s\n", o.mailbox, o.new_name,
				      o.email), 0);
	}
out:
	store_close(&st);
	return ret;
}
