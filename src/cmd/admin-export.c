/* sora-admin export maildir.

   Writes the account's mailboxes as a Maildir++ tree the way Dovecot lays
   it out, so Dovecot, mutt, mbsync or `sora-admin import maildir` read it:
   INBOX in DIR/cur, "Foo/Bar" in DIR/.Foo.Bar/cur (modified UTF-7 levels;
   a '.' or '\' inside a level is written "\2e"/"\5c", Dovecot's listescape
   form), flags in the file names (":2,DFRST" plus a-z keywords named in
   the folder's dovecot-keywords), mtime = INTERNALDATE. Bodies are copied
   byte for byte from the blob store (decrypted when encrypted).

   Each file is written in tmp/ and renamed into cur/, so a reader never
   sees a partial message; the file system is synced once at the end.
   File names are stable (<internaldate>.M<uid>V<uidvalidity>.sora), so
   exporting again into the same tree skips messages already written and
   renames those whose flags changed (messages expunged since stay). Messages are read 500 at a time: memory stays bounded
   for any mailbox size. */
#include "admin-export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin-import.h"
#include "deliver/deliver.h"
#include "imap/imap-utf7.h"
#include "lib/arena.h"
#include "lib/str.h"
#include "lib/util.h"
#include "store/blob.h"
#include "store/store.h"

#define EXPORT_PAGE 500

static const char export_usage[] =
	"Usage: sora-admin [--config FILE] export maildir --email E --maildir-path DIR\n"
	"                  [--mailbox M] [--mailbox-filter A,B*,...] [--progress[=false]]\n"
	"                  [--start-date YYYY-MM-DD] [--end-date YYYY-MM-DD]\n"
	"\n"
	"Writes the mailboxes of E (all, the one named by --mailbox, or those matching\n"
	"--mailbox-filter; only INTERNALDATEs in the --start-date/--end-date days, UTC)\n"
	"as a Maildir++ tree in DIR, as Dovecot lays it out: INBOX in DIR/cur,\n"
	"\"Foo/Bar\" in DIR/.Foo.Bar/ (modified UTF-7 names), flags in the file\n"
	"names (S Seen, R Answered, F Flagged, T Deleted, D Draft; a-z keywords listed\n"
	"in dovecot-keywords, at most 26 per folder), modification time = INTERNALDATE,\n"
	"bodies byte-exact. --path is an alias of --maildir-path. Exporting again into\n"
	"the same DIR skips files already there and renames those whose flags changed\n"
	"(messages expunged since are not removed). Progress goes to stderr once a second;\n"
	"the exit status is 1 when any message could not be written.\n";

struct export_opts {
	const char *email, *path, *mailbox, *filter;
	int64_t start_date, end_date; /* INTERNALDATE range, 0 = open */
	bool progress, help;
};

struct row {
	uint32_t uid, flags;
	int64_t internal_date;
	uint64_t size;
	char hash[65];
	char *keywords; /* space-separated, "" none */
};

struct page {
	struct row *rows;
	size_t count;
	struct arena *arena;
};

struct exporter {
	struct export_opts o;
	struct mail_services ms;
	char *address;
	uint64_t total, done, written, skipped, reflagged, failed, bytes, dropped_keywords;
	uint64_t start_ms, last_progress_ms;
};

static void progress(struct exporter *ex, bool force)
{
	uint64_t now = util_now_ms();
	double secs;

	if (!ex->o.progress || (!force && now - ex->last_progress_ms < 1000))
		return;
	ex->last_progress_ms = now;
	secs = (double)(now - ex->start_ms) / 1000.0;
	fprintf(stderr, "sora-admin: export: %llu/%llu messages, %.1f MB, %.0f msg/s\n",
		(unsigned long long)ex->done, (unsigned long long)ex->total,
		(double)ex->bytes / 1e6, secs > 0 ? (double)ex->done / secs : 0.0);
}

static int mkdir_one(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "sora-admin: export: mkdir %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int mkdir_p(const char *path)
{
	char tmp[4096];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "sora-admin: export: mkdir %s: %s\n", tmp, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return mkdir_one(tmp);
}

/* "Foo/Bär" → ".Foo.B&AOQ-r" (Maildir++ folder directory). */
static void folder_dir_name(const char *name, struct buf *out)
{
	const char *p = name;
	struct buf level, enc;

	buf_init(&level, 0);
	buf_init(&enc, 0);
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		buf_clear(&level);
		buf_clear(&enc);
		(void)buf_append(&level, p, len);
		(void)buf_append(&level, "", 1);
		imap_utf8_to_utf7(level.data, &enc);
		(void)buf_append(out, ".", 1);
		for (size_t i = 0; i < enc.len; i++) {
			if (enc.data[i] == '.')
				(void)buf_append_str(out, "\\2e");
			else if (enc.data[i] == '\\')
				(void)buf_append_str(out, "\\5c");
			else
				(void)buf_append(out, &enc.data[i], 1);
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	(void)buf_append(out, "", 1);
	buf_free(&level);
	buf_free(&enc);
}

static int write_small_file(const char *dir, const char *name, const char *data, size_t len)
{
	char tmp[4200], dst[4200];
	int fd;
	bool ok;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, data, len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, dst) < 0) {
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

static int page_cb(const struct store_message *msg, void *ctx)
{
	struct page *pg = ctx;
	struct row *r;

	if (pg->count == EXPORT_PAGE)
		return 1;
	r = &pg->rows[pg->count++];
	r->uid = msg->uid;
	r->flags = msg->flags;
	r->internal_date = msg->internal_date;
	r->size = msg->size;
	snprintf(r->hash, sizeof(r->hash), "%s", msg->content_hash != NULL ? msg->content_hash : "");
	r->keywords = arena_strdup(pg->arena, msg->keywords != NULL ? msg->keywords : "");
	return 0;
}

/* The file name's info part: ":2," then flag letters in ASCII order. */
static void info_part(struct exporter *ex, const struct row *r, const char **kwnames,
		      size_t kwcount, char out[64])
{
	bool letters[26] = { false };
	size_t n = 0;

	n += (size_t)snprintf(out, 64, ":2,%s%s%s%s%s", r->flags & STORE_FLAG_DRAFT ? "D" : "",
			      r->flags & STORE_FLAG_FLAGGED ? "F" : "",
			      r->flags & STORE_FLAG_ANSWERED ? "R" : "",
			      r->flags & STORE_FLAG_SEEN ? "S" : "",
			      r->flags & STORE_FLAG_DELETED ? "T" : "");
	for (const char *p = r->keywords; *p != '\0';) {
		const char *end = strchr(p, ' ');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		bool found = false;

		for (size_t i = 0; i < kwcount && len > 0; i++) {
			if (strlen(kwnames[i]) == len && strncasecmp(kwnames[i], p, len) == 0) {
				letters[i] = true;
				found = true;
			}
		}
		if (!found && len > 0)
			ex->dropped_keywords++;
		p += len;
		while (*p == ' ')
			p++;
	}
	for (size_t i = 0; i < 26 && n < 63; i++) {
		if (letters[i])
			out[n++] = (char)('a' + i);
	}
	out[n] = '\0';
}

/* The names in cur/ of an earlier export (ours end in ".sora:2,…"),
   sorted, so that a re-export finds a message's file by its stable base
   name whatever its flags were. */
struct existing {
	char **names;
	size_t count, cap;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void existing_load(const char *dir, struct existing *ex)
{
	char path[4200];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cur", dir);
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".sora:2,") == NULL)
			continue;
		if (ex->count == ex->cap) {
			ex->cap = ex->cap == 0 ? 256 : ex->cap * 2;
			ex->names = xrealloc(ex->names, ex->cap * sizeof(*ex->names));
		}
		ex->names[ex->count++] = xstrdup(de->d_name);
	}
	(void)closedir(d);
	if (ex->count > 1)
		qsort(ex->names, ex->count, sizeof(*ex->names), name_cmp);
}

/* The file written earlier for base ("<base>:2,<flags>"), or NULL. */
static const char *existing_find(const struct existing *ex, const char *base)
{
	size_t lo = 0, hi = ex->count, blen = strlen(base);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ex->names[mid], base) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ex->count && strncmp(ex->names[lo], base, blen) == 0 &&
	    ex->names[lo][blen] == ':')
		return ex->names[lo];
	return NULL;
}

static void existing_free(struct existing *ex)
{
	for (size_t i = 0; i < ex->count; i++)
		free(ex->names[i]);
	free(ex->names);
	*ex = (struct existing){ 0 };
}

static void export_one(struct exporter *ex, const char *dir, const struct store_mailbox *mb,
		       const struct row *r, const char **kwnames, size_t kwcount,
		       const struct existing *old)
{
	const char *prev;
	struct blob_error berr = { 0 };
	struct timespec times[2];
	char base[128], info[64], tmp[4300], dst[4300];
	struct buf key;
	struct stat st;
	int fd;

	ex->done++;
	snprintf(base, sizeof(base), "%lld.M%uV%u.sora", (long long)r->internal_date, r->uid,
		 mb->uidvalidity);
	info_part(ex, r, kwnames, kwcount, info);
	snprintf(dst, sizeof(dst), "%s/cur/%s%s", dir, base, info);
	prev = existing_find(old, base);
	if (prev != NULL) {
		snprintf(tmp, sizeof(tmp), "%s/cur/%s", dir, prev);
		if (stat(tmp, &st) == 0 && (uint64_t)st.st_size == r->size) {
			if (strcmp(prev + strlen(base), info) == 0) {
				ex->skipped++;
				return;
			}
			/* the same message, its flags changed since: rename, as a MUA would */
			if (rename(tmp, dst) == 0) {
				ex->reflagged++;
				return;
			}
		}
	}
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, base);
	buf_init(&key, BLOB_KEY_MAX);
	if (blob_key_from_address(ex->address, r->hash, &key, &berr) < 0)
		goto blob_fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "sora-admin: export: %s: %s\n", tmp, strerror(errno));
		ex->failed++;
		buf_free(&key);
		return;
	}
	if (blob_get_fd(ex->ms.blob, key.data, fd, NULL, &berr) < 0) {
		(void)close(fd);
		(void)unlink(tmp);
		goto blob_fail;
	}
	times[0] = times[1] = (struct timespec){ .tv_sec = (time_t)r->internal_date };
	if (futimens(fd, times) < 0 || close(fd) < 0 || rename(tmp, dst) < 0) {
		fprintf(stderr, "sora-admin: export: %s: %s\n", dst, strerror(errno));
		(void)unlink(tmp);
		ex->failed++;
		buf_free(&key);
		return;
	}
	buf_free(&key);
	ex->written++;
	ex->bytes += r->size;
	return;
blob_fail:
	fprintf(stderr, "sora-admin: export: %s uid %u: body %s: %s\n", mb->name, r->uid,
		blob_err_name(berr.code), berr.msg);
	ex->failed++;
	buf_free(&key);
}

static int export_mailbox(struct exporter *ex, const struct store_mailbox *mb)
{
	struct arena *a = arena_new(8192);
	struct page pg = { 0 };
	struct existing old = { 0 };
	struct store_error err;
	struct buf dir, kwfile;
	const char **kw = NULL;
	size_t kwcount = 0;
	uint32_t next = 1;
	int ret = -1;
	char sub[4200];

	buf_init(&dir, 0);
	buf_init(&kwfile, 0);
	(void)buf_append_str(&dir, ex->o.path);
	if (!store_mailbox_name_is_inbox(mb->name)) {
		(void)buf_append(&dir, "/", 1);
		folder_dir_name(mb->name, &dir);
	}
	(void)buf_append(&dir, "", 1);
	if (mkdir_one(dir.data) < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		static const char *const subs[] = { "cur", "new", "tmp" };

		snprintf(sub, sizeof(sub), "%s/%s", dir.data, subs[i]);
		if (mkdir_one(sub) < 0)
			goto out;
	}
	if (!store_mailbox_name_is_inbox(mb->name) &&
	    write_small_file(dir.data, "maildirfolder", "", 0) < 0) {
		fprintf(stderr, "sora-admin: export: %s/maildirfolder: %s\n", dir.data,
			strerror(errno));
		goto out;
	}
	if (store_mailbox_keywords(ex->ms.store, mb->id, a, &kw, &kwcount, &err) < 0) {
		fprintf(stderr, "sora-admin: export: %s: %s\n", mb->name, err.msg);
		goto out;
	}
	if (kwcount > 26)
		kwcount = 26; /* Maildir has 26 letters; the rest is counted as dropped */
	for (size_t i = 0; i < kwcount; i++)
		(void)buf_printf(&kwfile, "%zu %s\n", i, kw[i]);
	if (kwcount > 0 && write_small_file(dir.data, "dovecot-keywords", kwfile.data,
					    kwfile.len) < 0) {
		fprintf(stderr, "sora-admin: export: %s/dovecot-keywords: %s\n", dir.data,
			strerror(errno));
		goto out;
	}
	existing_load(dir.data, &old);
	pg.rows = xcalloc(EXPORT_PAGE, sizeof(*pg.rows));
	pg.arena = arena_new(16384);
	for (;;) {
		struct store_uid_range range = { next, UINT32_MAX };

		pg.count = 0;
		arena_reset(pg.arena);
		if (store_fetch(ex->ms.store, mb->id, &range, 1,
				STORE_FETCH_KEYWORDS | STORE_FETCH_DATES | STORE_FETCH_SIZE |
					STORE_FETCH_BLOB,
				0, page_cb, &pg, &err) < 0) {
			fprintf(stderr, "sora-admin: export: %s: %s\n", mb->name, err.msg);
			goto out;
		}
		for (size_t i = 0; i < pg.count; i++) {
			if ((ex->o.start_date != 0 && pg.rows[i].internal_date < ex->o.start_date) ||
			    (ex->o.end_date != 0 && pg.rows[i].internal_date > ex->o.end_date)) {
				ex->done++;
				continue;
			}
			export_one(ex, dir.data, mb, &pg.rows[i], kw, kwcount, &old);
			progress(ex, false);
		}
		if (pg.count < EXPORT_PAGE || pg.rows[pg.count - 1].uid == UINT32_MAX)
			break;
		next = pg.rows[pg.count - 1].uid + 1;
	}
	ret = 0;
out:
	free(pg.rows);
	existing_free(&old);
	arena_free(&pg.arena);
	buf_free(&dir);
	buf_free(&kwfile);
	arena_free(&a);
	return ret;
}

static int parse(int argc, char **argv, struct export_opts *o)
{
	*o = (struct export_opts){ .progress = true };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **val = NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			o->help = true;
		} else if (strcmp(a, "--progress") == 0 || strcmp(a, "--progress=true") == 0) {
			o->progress = true;
		} else if (strcmp(a, "--progress=false") == 0) {
			o->progress = false;
		} else if (strcmp(a, "--start-date") == 0 || strcmp(a, "--end-date") == 0) {
			bool is_end = strcmp(a, "--end-date") == 0;

			if (i + 1 >= argc ||
			    admin_parse_date(a, argv[i + 1], is_end,
					     is_end ? &o->end_date : &o->start_date) < 0) {
				if (i + 1 >= argc)
					fprintf(stderr, "sora-admin: export: %s needs a value\n", a);
				return -1;
			}
			i++;
		} else if (strcmp(a, "--email") == 0) {
			val = &o->email;
		} else if (strcmp(a, "--maildir-path") == 0 || strcmp(a, "--path") == 0) {
			val = &o->path;
		} else if (strcmp(a, "--mailbox") == 0) {
			val = &o->mailbox;
		} else if (strcmp(a, "--mailbox-filter") == 0) {
			val = &o->filter;
		} else {
			fprintf(stderr, "sora-admin: export: unknown flag '%s'\n", a);
			return -1;
		}
		if (val != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sora-admin: export: %s needs a value\n", a);
				return -1;
			}
			*val = argv[++i];
		}
	}
	return 0;
}

int admin_export(const struct config *cfg, int argc, char **argv)
{
	const char *kind = argc > 0 ? argv[0] : "";
	struct exporter ex = { 0 };
	struct store_mailbox *boxes;
	struct store_account acct;
	struct store_error serr;
	struct arena *a;
	char err[768], mbname[STORE_MAILBOX_NAME_MAX + 1];
	size_t n = 0, exported = 0;
	int ret = 0;
	double secs;

	if (argc == 0 || strcmp(kind, "--help") == 0 || strcmp(kind, "-h") == 0 ||
	    parse(argc - 1, argv + 1, &ex.o) < 0 || ex.o.help) {
		bool asked = argc > 0 && (strcmp(kind, "--help") == 0 ||
					  strcmp(kind, "-h") == 0 || (argc > 1 && ex.o.help));

		fputs(export_usage, asked ? stdout : stderr);
		return asked ? 0 : 2;
	}
	if (cfg == NULL) { /* "--help" taken as a flag's value: no configuration loaded */
		fputs(export_usage, stderr);
		return 2;
	}
	if (strcmp(kind, "maildir") != 0) {
		fprintf(stderr, "sora-admin: export: unknown format '%s' (maildir)\n%s", kind,
			export_usage);
		return 2;
	}
	if (ex.o.email == NULL || ex.o.path == NULL) {
		fprintf(stderr, "sora-admin: export maildir: --email and --maildir-path are "
				"required\n");
		return 2;
	}
	if (ex.o.mailbox != NULL && ex.o.filter != NULL) {
		fprintf(stderr, "sora-admin: export maildir: --mailbox or --mailbox-filter, "
				"not both\n");
		return 2;
	}
	if (mail_services_open(cfg, &ex.ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "sora-admin: %s\n", err);
		return 1;
	}
	a = arena_new(8192);
	{
		int64_t id;

		if (store_account_find(ex.ms.store, ex.o.email, false, &id, &serr) < 0 ||
		    store_account_get(ex.ms.store, id, a, &acct, &serr) < 0 ||
		    store_mailbox_list(ex.ms.store, id, a, &boxes, &n, &serr) < 0) {
			fprintf(stderr, "sora-admin: export: %s: %s\n", ex.o.email, serr.msg);
			ret = 1;
			goto out;
		}
	}
	if (ex.o.mailbox != NULL &&
	    store_mailbox_name_normalize(ex.o.mailbox, mbname, &serr) < 0) {
		fprintf(stderr, "sora-admin: export: --mailbox %s: %s\n", ex.o.mailbox, serr.msg);
		ret = 2;
		goto out;
	}
	ex.address = xstrdup(acct.primary_address);
	if (mkdir_p(ex.o.path) < 0) {
		ret = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_mailbox_status ms;

		if (boxes[i].is_noselect ||
		    (ex.o.mailbox != NULL && strcmp(boxes[i].name, mbname) != 0) ||
		    !admin_mailbox_filter_match(ex.o.filter, boxes[i].name))
			continue;
		if (store_mailbox_status(ex.ms.store, boxes[i].id, &ms, &serr) == 0)
			ex.total += ms.messages;
	}
	ex.start_ms = ex.last_progress_ms = util_now_ms();
	for (size_t i = 0; i < n; i++) {
		if (boxes[i].is_noselect ||
		    (ex.o.mailbox != NULL && strcmp(boxes[i].name, mbname) != 0) ||
		    !admin_mailbox_filter_match(ex.o.filter, boxes[i].name))
			continue;
		if (export_mailbox(&ex, &boxes[i]) < 0)
			ret = 1;
		exported++;
	}
	if (ex.o.mailbox != NULL && exported == 0) {
		fprintf(stderr, "sora-admin: export: %s has no mailbox %s\n", ex.o.email,
			ex.o.mailbox);
		ret = 1;
		goto out;
	}
	{
		/* one sync for the whole tree instead of an fsync per message */
		int dfd = open(ex.o.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 || syncfs(dfd) < 0) {
			fprintf(stderr, "sora-admin: export: sync %s: %s\n", ex.o.path,
				strerror(errno));
			ret = 1;
		}
		if (dfd >= 0)
			(void)close(dfd);
	}
	progress(&ex, true);
	secs = (double)(util_now_ms() - ex.start_ms) / 1000.0;
	printf("exported %s to %s: %llu messages written (%.1f MB), %llu already there, "
	       "%llu with new flags, %llu failed, %zu mailboxes; %.1f s\n",
	       ex.address, ex.o.path, (unsigned long long)ex.written, (double)ex.bytes / 1e6,
	       (unsigned long long)ex.skipped, (unsigned long long)ex.reflagged,
	       (unsigned long long)ex.failed, exported, secs);
	if (ex.dropped_keywords > 0)
		fprintf(stderr, "sora-admin: export: %llu keywords beyond Maildir's 26 per "
				"folder were not written\n",
			(unsigned long long)ex.dropped_keywords);
	if (ex.failed > 0)
		ret = 1;
out:
	free(ex.address);
	arena_free(&a);
	mail_services_close(&ex.ms);
	return ret;
}
