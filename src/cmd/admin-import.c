/* sora-admin import maildir|mbox.

   Messages go through the same steps as every other write (deliver.c,
   cmd-append.c): parsed once (src/mime), SHA-256 content hash, body into
   the blob store under domain/localpart/<hash>, then metadata rows, here
   store_append_batch() of up to --batch-size messages per transaction, so
   a 100k-message folder costs a few hundred commits, not 100k.

   Re-running is safe: before a folder is imported, the content hashes of
   the messages already in its target mailbox are counted; the n-th file
   with a given hash is skipped when the mailbox already holds n copies.
   A message is thus identified by its exact bytes (Message-Id alone is
   not trusted: it is often missing or reused), and a folder that really
   holds two identical files keeps both. Memory stays bounded: directories
   are streamed with readdir(), only one folder's hashes (40 bytes per
   message) and one batch of bodies are held at a time.

   Errors go to stderr: every file that could not be imported is named
   with the reason, the rest is imported anyway, and the exit status is 1
   when any failed (2 for usage errors). */
#include "admin-import.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "deliver/deliver.h"
#include "imap/imap-utf7.h"
#include "lib/arena.h"
#include "lib/str.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/blob.h"
#include "store/store.h"

#define IMPORT_MSG_MAX (256u * 1024 * 1024)
#define IMPORT_BATCH_BYTES (32u * 1024 * 1024) /* bodies held before a commit */
#define IMPORT_BATCH_DEFAULT 200
#define IMPORT_BATCH_MAX 1000
#define IMPORT_JOBS_DEFAULT 4
#define IMPORT_JOBS_MAX 32

static const char import_usage[] =
	"Usage: sora-admin [--config FILE] import <maildir|mbox> [flags]\n"
	"\n"
	"  maildir --email E --maildir-path DIR [--dry-run] [--preserve-flags[=false]]\n"
	"          [--mailbox-prefix P] [--mailbox-filter A,B,...] [--batch-size N]\n"
	"          [--jobs N] [--start-date YYYY-MM-DD] [--end-date YYYY-MM-DD]\n"
	"          [--progress[=false]]\n"
	"  mbox    --email E --path FILE --mailbox M [--dry-run] [--preserve-flags[=false]]\n"
	"          [--batch-size N] [--jobs N] [--start-date D] [--end-date D]\n"
	"          [--progress[=false]]\n"
	"\n"
	"maildir reads a Maildir++ tree as Dovecot writes it: cur/ and new/ of DIR are\n"
	"INBOX, .Foo.Bar/ is \"Foo/Bar\" (modified UTF-7 names decoded to UTF-8; a\n"
	"'\\2e' escape is a '.'), and LAYOUT=fs subdirectories Foo/Bar/ too. Flags come\n"
	"from the file names (S Seen, R Answered, F Flagged, T Deleted, D Draft; a-z are\n"
	"keywords named in the folder's dovecot-keywords file), INTERNALDATE from the\n"
	"file's modification time. Missing mailboxes are created. --path is an alias of\n"
	"--maildir-path. With --mailbox-prefix P every mailbox goes under P/ (INBOX\n"
	"becomes P/INBOX). --mailbox-filter imports only the named mailboxes (names\n"
	"before the prefix).\n"
	"--start-date/--end-date import only messages whose INTERNALDATE falls in\n"
	"those days (UTC, both included).\n"
	"\n"
	"mbox reads one mbox file (mboxrd or mboxo: \"From \" lines separate messages,\n"
	"\">From \" is unquoted) into mailbox M; Status:/X-Status: give the flags.\n"
	"\n"
	"Running an import again imports nothing twice: a file is skipped when its\n"
	"exact bytes are already in the target mailbox (as many copies as the source\n"
	"holds). Messages are committed --batch-size at a time (default 200); --jobs\n"
	"threads (default 4) parse and store their bodies meanwhile. Progress\n"
	"goes to stderr once a second; files that fail are named on stderr and the\n"
	"exit status is then 1. --dry-run reads and checks everything, writes nothing.\n";

struct import_opts {
	const char *email, *path, *prefix, *mailbox, *filter;
	unsigned int batch_size, jobs;
	int64_t start_date, end_date; /* INTERNALDATE range, 0 = open */
	bool dry_run, preserve_flags, progress, help;
};

/* ---- content hashes of one mailbox: file n of a hash is new when the
   mailbox holds fewer than n copies ------------------------------------ */

struct hash_slot {
	uint8_t hash[32];
	uint32_t existing; /* copies in the mailbox before this run */
	uint32_t seen;     /* files with this content met in this run */
};

struct hash_set {
	struct hash_slot *slots; /* open addressing; existing + seen == 0: free */
	size_t cap, count;
};

static size_t hash_index(const uint8_t *h, size_t cap)
{
	uint64_t v;

	memcpy(&v, h, sizeof(v)); /* a cryptographic hash: any 8 bytes spread well */
	return (size_t)(v & (cap - 1));
}

static struct hash_slot *hash_set_get(struct hash_set *hs, const uint8_t hash[32])
{
	size_t i;

	if ((hs->count + 1) * 10 > hs->cap * 7) {
		struct hash_set bigger = { .cap = hs->cap == 0 ? 1024 : hs->cap * 2 };

		bigger.slots = xcalloc(bigger.cap, sizeof(*bigger.slots));
		for (size_t j = 0; j < hs->cap; j++) {
			struct hash_slot *s = &hs->slots[j];

			if (s->existing + s->seen == 0)
				continue;
			i = hash_index(s->hash, bigger.cap);
			while (bigger.slots[i].existing + bigger.slots[i].seen != 0)
				i = (i + 1) & (bigger.cap - 1);
			bigger.slots[i] = *s;
		}
		bigger.count = hs->count;
		free(hs->slots);
		*hs = bigger;
	}
	i = hash_index(hash, hs->cap);
	while (hs->slots[i].existing + hs->slots[i].seen != 0) {
		if (memcmp(hs->slots[i].hash, hash, 32) == 0)
			return &hs->slots[i];
		i = (i + 1) & (hs->cap - 1);
	}
	/* a new slot: the caller bumps existing or seen at once */
	memcpy(hs->slots[i].hash, hash, 32);
	hs->count++;
	return &hs->slots[i];
}

static void hash_set_clear(struct hash_set *hs)
{
	free(hs->slots);
	*hs = (struct hash_set){ 0 };
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex_to_bin32(const char *hex, uint8_t out[32])
{
	for (int i = 0; i < 32; i++) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return -1;
		}
		out[i] = (uint8_t)v;
	}
	return hex[64] == '\0' ? 0 : -1;
}

/* ---- the importer ------------------------------------------------------ */

struct pending {
	char *data; /* malloc; mime results may point into it until the commit */
	size_t len;
	char *label; /* file name for error messages */
	char *error; /* malloc: why the body could not be prepared */
	struct store_message_new msg;
};

struct importer {
	struct import_opts o;
	struct mail_services ms;
	char *address; /* the account's primary address: blob keys use it */
	int64_t account_id;

	/* the mailbox being filled */
	char mailbox[STORE_MAILBOX_NAME_MAX + 1];
	int64_t mailbox_id; /* 0: does not exist (dry run) */
	struct hash_set hashes;

	struct pending *batch;
	size_t batch_count;
	uint64_t batch_bytes;
	struct arena *batch_arena;
	/* --jobs threads parse and store the bodies of a batch at once: the
	   blob store fsyncs every body, so one thread would mostly wait */
	struct arena *job_arenas[IMPORT_JOBS_MAX];

	uint64_t total, processed, imported, duplicates, failed, bytes, out_of_range;
	uint64_t mailboxes, created;
	uint64_t start_ms, last_progress_ms;
};

static void report_failure(struct importer *imp, const char *label, const char *why)
{
	imp->failed++;
	fprintf(stderr, "sora-admin: import: %s: %s\n", label, why);
}

static void progress(struct importer *imp, bool force)
{
	uint64_t now = util_now_ms();
	double secs;

	if (!imp->o.progress || (!force && now - imp->last_progress_ms < 1000))
		return;
	imp->last_progress_ms = now;
	secs = (double)(now - imp->start_ms) / 1000.0;
	fprintf(stderr,
		"sora-admin: import: %llu/%llu messages, %.1f MB, %.0f msg/s "
		"(%llu imported, %llu already there, %llu failed)\n",
		(unsigned long long)imp->processed, (unsigned long long)imp->total,
		(double)imp->bytes / 1e6, secs > 0 ? (double)imp->processed / secs : 0.0,
		(unsigned long long)imp->imported, (unsigned long long)imp->duplicates,
		(unsigned long long)imp->failed);
}

static void sha256(const char *data, size_t len, uint8_t md[32], char hex_r[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++) {
		hex_r[2 * i] = hex[md[i] >> 4];
		hex_r[2 * i + 1] = hex[md[i] & 15];
	}
	hex_r[64] = '\0';
}

/* A mail file starts with a header field ("Name:" with a printable ASCII
   name). The MIME parser accepts anything, so this is what tells a stray
   file (a Dovecot index, a note, an empty file) from a message. */
static const char *check_message(const char *data, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return "empty file, not a message";
	while (i < len && data[i] > 32 && data[i] < 127 && data[i] != ':')
		i++;
	while (i > 0 && i < len && (data[i] == ' ' || data[i] == '\t'))
		i++;
	if (i == 0 || i >= len || data[i] != ':')
		return "not an RFC 5322 message (no header field at the start)";
	if (memchr(data, '\0', len) != NULL && memmem(data, len, "\n\n", 2) == NULL &&
	    memmem(data, len, "\r\n\r\n", 4) == NULL)
		return "not an RFC 5322 message (binary data, no header end)";
	return NULL;
}

static void batch_release(struct importer *imp)
{
	for (size_t i = 0; i < imp->batch_count; i++) {
		free(imp->batch[i].data);
		free(imp->batch[i].label);
		free(imp->batch[i].error);
	}
	imp->batch_count = 0;
	imp->batch_bytes = 0;
	arena_reset(imp->batch_arena);
	for (unsigned int j = 0; j < imp->o.jobs; j++)
		arena_reset(imp->job_arenas[j]);
}

/* Parses one message and puts its body in the blob store (a worker
   thread: touches only p and its own arena). */
static void prepare_one(struct importer *imp, struct pending *p, struct arena *a)
{
	char err[320];

	if (deliver_prepare(&imp->ms, imp->address, p->data, p->len, a, &p->msg, err,
			    sizeof(err)) < 0)
		p->error = xstrdup(err);
}

struct job {
	struct importer *imp;
	unsigned int index;
	pthread_t thread;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct importer *imp = j->imp;

	for (size_t i = j->index; i < imp->batch_count; i += imp->o.jobs)
		prepare_one(imp, &imp->batch[i], imp->job_arenas[j->index]);
	return NULL;
}

/* Prepares the bodies of the batch on --jobs threads, then commits the
   metadata in one transaction; when that fails, message by message, so
   that one refused message does not sink the others. */
static void batch_flush(struct importer *imp)
{
	struct job jobs[IMPORT_JOBS_MAX];
	unsigned int started = 0;
	struct store_append *items;
	struct store_error err;
	size_t n = 0, *idx;

	if (imp->batch_count == 0)
		return;
	for (unsigned int j = 1; j < imp->o.jobs && j < imp->batch_count; j++) {
		jobs[j] = (struct job){ .imp = imp, .index = j };
		if (pthread_create(&jobs[j].thread, NULL, job_run, &jobs[j]) != 0)
			break;
		started = j;
	}
	if (started + 1 < imp->o.jobs && started + 1 < imp->batch_count) {
		/* threads refused: the rest on this thread */
		for (size_t i = 0; i < imp->batch_count; i++) {
			if (i % imp->o.jobs == 0 || i % imp->o.jobs > started)
				prepare_one(imp, &imp->batch[i], imp->job_arenas[0]);
		}
	} else {
		jobs[0] = (struct job){ .imp = imp, .index = 0 };
		(void)job_run(&jobs[0]);
	}
	for (unsigned int j = 1; j <= started; j++)
		(void)pthread_join(jobs[j].thread, NULL);

	items = xcalloc(imp->batch_count, sizeof(*items));
	idx = xcalloc(imp->batch_count, sizeof(*idx));
	for (size_t i = 0; i < imp->batch_count; i++) {
		if (imp->batch[i].error != NULL) {
			report_failure(imp, imp->batch[i].label, imp->batch[i].error);
			continue;
		}
		idx[n] = i;
		items[n++] = (struct store_append){ .mailbox_id = imp->mailbox_id,
						    .msg = &imp->batch[i].msg };
	}
	if (n > 0 && store_append_batch(imp->ms.store, items, n, &err) == 0) {
		imp->imported += n;
	} else if (n > 0) {
		for (size_t i = 0; i < n; i++) {
			if (store_append_batch(imp->ms.store, &items[i], 1, &err) == 0) {
				imp->imported++;
			} else {
				char why[320];

				snprintf(why, sizeof(why), "store: %s", err.msg);
				report_failure(imp, imp->batch[idx[i]].label, why);
			}
		}
	}
	free(items);
	free(idx);
	batch_release(imp);
}

static int load_hashes_cb(const struct store_message *msg, void *ctx)
{
	struct importer *imp = ctx;
	uint8_t h[32];

	/* other hash formats (none today) simply never match */
	if (msg->content_hash != NULL && hex_to_bin32(msg->content_hash, h) == 0)
		hash_set_get(&imp->hashes, h)->existing++;
	return 0;
}

/* Switches to mailbox name (already prefixed), creating it unless this is
   a dry run, and loads the hashes it holds. 0 or -1 (reported). */
static int use_mailbox(struct importer *imp, const char *name)
{
	struct arena *a = arena_new(1024);
	struct store_mailbox mb = { 0 };
	struct store_error err;
	int64_t id = 0;
	int ret = -1;

	batch_flush(imp);
	hash_set_clear(&imp->hashes);
	imp->mailbox_id = 0;
	if (store_mailbox_name_normalize(name, imp->mailbox, &err) < 0) {
		fprintf(stderr, "sora-admin: import: mailbox name '%s': %s\n", name, err.msg);
		goto out;
	}
	if (store_mailbox_get(imp->ms.store, imp->account_id, imp->mailbox, a, &mb, &err) == 0 &&
	    !mb.is_noselect) {
		id = mb.id;
	} else if (mb.is_noselect || err.code == STORE_NOT_FOUND) {
		if (!imp->o.dry_run) {
			if (store_mailbox_create(imp->ms.store, imp->account_id, imp->mailbox, 0,
						 &id, &err) < 0) {
				fprintf(stderr, "sora-admin: import: create mailbox %s: %s\n",
					imp->mailbox, err.msg);
				goto out;
			}
			(void)store_subscription_set(imp->ms.store, imp->account_id, imp->mailbox,
						     true, NULL);
		}
		imp->created++;
	} else {
		fprintf(stderr, "sora-admin: import: mailbox %s: %s\n", imp->mailbox, err.msg);
		goto out;
	}
	imp->mailbox_id = id;
	imp->mailboxes++;
	if (id != 0 && store_fetch(imp->ms.store, id, NULL, 0, STORE_FETCH_BLOB, 0, load_hashes_cb,
				   imp, &err) < 0) {
		fprintf(stderr, "sora-admin: import: mailbox %s: %s\n", imp->mailbox, err.msg);
		goto out;
	}
	ret = 0;
out:
	arena_free(&a);
	return ret;
}

/* One message for the current mailbox. Takes data (malloc) over. */
static void import_message(struct importer *imp, char *data, size_t len, uint32_t flags,
			   const char *const *keywords, size_t keyword_count,
			   int64_t internal_date, const char *label)
{
	struct pending *p;
	struct hash_slot *slot;
	const char *why;
	uint8_t md[32];
	char hex[65];

	imp->processed++;
	if ((imp->o.start_date != 0 && internal_date < imp->o.start_date) ||
	    (imp->o.end_date != 0 && internal_date > imp->o.end_date)) {
		imp->out_of_range++;
		free(data);
		goto out;
	}
	why = check_message(data, len);
	if (why != NULL) {
		report_failure(imp, label, why);
		free(data);
		goto out;
	}
	sha256(data, len, md, hex);
	slot = hash_set_get(&imp->hashes, md);
	if (++slot->seen <= slot->existing) {
		imp->duplicates++;
		free(data);
		goto out;
	}
	imp->bytes += len;
	if (imp->o.dry_run) {
		imp->imported++;
		free(data);
		goto out;
	}
	p = &imp->batch[imp->batch_count];
	*p = (struct pending){ .data = data, .len = len, .label = xstrdup(label) };
	p->msg.flags = imp->o.preserve_flags ? flags : 0;
	if (imp->o.preserve_flags && keyword_count > 0) {
		const char **kw = arena_alloc(imp->batch_arena, keyword_count * sizeof(*kw));

		for (size_t i = 0; i < keyword_count; i++)
			kw[i] = arena_strdup(imp->batch_arena, keywords[i]);
		p->msg.keywords = kw;
		p->msg.keyword_count = keyword_count;
	}
	p->msg.internal_date = internal_date != 0 ? internal_date : (int64_t)time(NULL);
	imp->batch_count++;
	imp->batch_bytes += len;
	if (imp->batch_count >= imp->o.batch_size || imp->batch_bytes >= IMPORT_BATCH_BYTES)
		batch_flush(imp);
out:
	progress(imp, false);
}

/* ---- Maildir ----------------------------------------------------------- */

/* Dovecot's zlib plugin stores Maildir files gzip-compressed: inflated
   here, so the message (and its hash) is what IMAP served. */
static char *gunzip(char *data, size_t *len, const char **why_r)
{
	z_stream zs = { 0 };
	struct buf out;
	char chunk[65536];
	int rc;

	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		*why_r = "zlib: out of memory";
		return NULL;
	}
	buf_init(&out, IMPORT_MSG_MAX);
	zs.next_in = (unsigned char *)data;
	zs.avail_in = (uInt)*len;
	do {
		zs.next_out = (unsigned char *)chunk;
		zs.avail_out = sizeof(chunk);
		rc = inflate(&zs, Z_NO_FLUSH);
		if ((rc != Z_OK && rc != Z_STREAM_END) ||
		    buf_append(&out, chunk, sizeof(chunk) - zs.avail_out) < 0) {
			*why_r = rc != Z_OK && rc != Z_STREAM_END ? "corrupt gzip data"
								  : "larger than 256 MiB";
			(void)inflateEnd(&zs);
			buf_free(&out);
			return NULL;
		}
		if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
			*why_r = "truncated gzip data";
			(void)inflateEnd(&zs);
			buf_free(&out);
			return NULL;
		}
	} while (rc != Z_STREAM_END);
	(void)inflateEnd(&zs);
	*len = out.len;
	return out.data != NULL ? out.data : xstrdup("");
}

/* Reads a whole file (gzip inflated). NULL with *why_r on error. */
static char *read_whole(const char *path, size_t *len_r, struct stat *st_r, const char **why_r)
{
	struct buf b;
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		*why_r = strerror(errno);
		return NULL;
	}
	if (fstat(fd, st_r) < 0 || !S_ISREG(st_r->st_mode)) {
		*why_r = "not a regular file";
		(void)close(fd);
		return NULL;
	}
	buf_init(&b, IMPORT_MSG_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(&b, chunk, (size_t)n) < 0) {
			*why_r = n < 0 ? strerror(errno) : "larger than 256 MiB";
			buf_free(&b);
			(void)close(fd);
			return NULL;
		}
	}
	(void)close(fd);
	if (b.len > 2 && (unsigned char)b.data[0] == 0x1f && (unsigned char)b.data[1] == 0x8b) {
		size_t len = b.len;
		char *plain = gunzip(b.data, &len, why_r);

		buf_free(&b);
		if (plain != NULL)
			*len_r = len;
		return plain;
	}
	*len_r = b.len;
	return b.data != NULL ? b.data : xstrdup("");
}

/* dovecot-keywords: "<n> <name>" lines, n 0..25 naming the letter 'a'+n
   in the file names of the folder. */
static void read_keywords(const char *dir, char *names[26])
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/dovecot-keywords", dir);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *end;
		unsigned long idx;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		idx = strtoul(line, &end, 10);
		if (end == line || *end != ' ' || idx >= 26 || end[1] == '\0')
			continue;
		free(names[idx]);
		names[idx] = xstrdup(end + 1);
	}
	free(line);
	(void)fclose(f);
}

static void maildir_file(struct importer *imp, const char *dir, const char *sub,
			 const char *name, char *const kwnames[26])
{
	const char *keywords[26];
	size_t kwcount = 0;
	uint32_t flags = 0;
	const char *info = strstr(name, ":2,"), *why = NULL;
	char path[8192];
	struct stat st;
	size_t len = 0;
	char *data;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	for (const char *c = info != NULL ? info + 3 : ""; *c != '\0'; c++) {
		switch (*c) {
		case 'S': flags |= STORE_FLAG_SEEN; break;
		case 'R': flags |= STORE_FLAG_ANSWERED; break;
		case 'F': flags |= STORE_FLAG_FLAGGED; break;
		case 'T': flags |= STORE_FLAG_DELETED; break;
		case 'D': flags |= STORE_FLAG_DRAFT; break;
		default:
			if (*c >= 'a' && *c <= 'z' && kwnames[*c - 'a'] != NULL)
				keywords[kwcount++] = kwnames[*c - 'a'];
			break;
		}
	}
	data = read_whole(path, &len, &st, &why);
	if (data == NULL) {
		imp->processed++;
		report_failure(imp, path, why);
		return;
	}
	import_message(imp, data, len, flags, keywords, kwcount, (int64_t)st.st_mtime, path);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_maildir(const char *dir)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/cur", dir);
	if (is_dir(p))
		return true;
	snprintf(p, sizeof(p), "%s/new", dir);
	return is_dir(p);
}

/* Files of cur/ and new/ (count_only: just counted). */
static uint64_t maildir_walk(struct importer *imp, const char *dir, bool count_only)
{
	static const char *const subs[] = { "cur", "new" };
	char *kwnames[26] = { 0 };
	uint64_t n = 0;

	if (!count_only)
		read_keywords(dir, kwnames);
	for (size_t s = 0; s < ARRAY_SIZE(subs); s++) {
		char path[4096];
		struct dirent *de;
		DIR *d;

		snprintf(path, sizeof(path), "%s/%s", dir, subs[s]);
		d = opendir(path);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			n++;
			if (!count_only)
				maildir_file(imp, dir, subs[s], de->d_name, kwnames);
		}
		(void)closedir(d);
	}
	for (size_t i = 0; i < 26; i++)
		free(kwnames[i]);
	return n;
}

/* One level of a folder name as stored on disk: Dovecot's listescape
   "\xx" hex escapes, then modified UTF-7 (RFC 3501 §5.1.3); a level that
   is not valid mUTF-7 but valid UTF-8 (mail_utf8 layouts) is taken as is. */
static int decode_level(const char *s, size_t len, struct buf *out)
{
	struct buf raw, dec;
	int ret = 0;

	buf_init(&raw, 0);
	buf_init(&dec, 0);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 2 < len && hex_val(s[i + 1]) >= 0 &&
		    hex_val(s[i + 2]) >= 0) {
			char c = (char)(hex_val(s[i + 1]) * 16 + hex_val(s[i + 2]));

			(void)buf_append(&raw, &c, 1);
			i += 2;
		} else {
			(void)buf_append(&raw, &s[i], 1);
		}
	}
	(void)buf_append(&raw, "", 1);
	if (imap_utf7_to_utf8(raw.data, &dec) == 0) {
		(void)buf_append(out, dec.data, dec.len);
	} else if (store_utf8_is_valid(raw.data, raw.len - 1)) {
		(void)buf_append(out, raw.data, raw.len - 1);
	} else {
		ret = -1;
	}
	buf_free(&raw);
	buf_free(&dec);
	return ret;
}

int admin_maildir_name_decode(const char *dirname, char sep, struct buf *out)
{
	const char *p = dirname;

	buf_clear(out);
	for (;;) {
		const char *end = sep != '\0' ? strchr(p, sep) : NULL;
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len == 0 || decode_level(p, len, out) < 0)
			return -1;
		if (end == NULL)
			break;
		(void)buf_append(out, "/", 1);
		p = end + 1;
	}
	return buf_append(out, "", 1) < 0 ? -1 : 0;
}

struct folder {
	char *dir;
	char *name; /* UTF-8, '/'-separated, before the prefix */
};

struct folder_list {
	struct folder *items;
	size_t count, cap;
};

static void folders_add(struct folder_list *fl, const char *dir, const char *name)
{
	if (fl->count == fl->cap) {
		fl->cap = fl->cap == 0 ? 16 : fl->cap * 2;
		fl->items = xrealloc(fl->items, fl->cap * sizeof(*fl->items));
	}
	fl->items[fl->count++] = (struct folder){ xstrdup(dir), xstrdup(name) };
}

/* LAYOUT=fs: subdirectories (not cur/new/tmp) are child mailboxes. */
static int scan_fs_layout(const char *dir, const char *parent, struct folder_list *fl)
{
	struct dirent *de;
	struct buf name;
	int ret = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	buf_init(&name, 0);
	while ((de = readdir(d)) != NULL) {
		char path[4096];

		if (de->d_name[0] == '.' || strcmp(de->d_name, "cur") == 0 ||
		    strcmp(de->d_name, "new") == 0 || strcmp(de->d_name, "tmp") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!is_dir(path))
			continue;
		if (admin_maildir_name_decode(de->d_name, '\0', &name) < 0) {
			fprintf(stderr, "sora-admin: import: %s: folder name not imported (an empty "
					"level, or neither modified UTF-7 nor UTF-8)\n", path);
			ret = -1;
			continue;
		}
		{
			struct buf fullname;

			buf_init(&fullname, 0);
			(void)buf_printf(&fullname, "%s%s%s", parent, parent[0] != '\0' ? "/" : "",
					 name.data);
			if (is_maildir(path))
				folders_add(fl, path, fullname.data);
			if (scan_fs_layout(path, fullname.data, fl) < 0)
				ret = -1;
			buf_free(&fullname);
		}
	}
	(void)closedir(d);
	buf_free(&name);
	return ret;
}

static int folder_cmp(const void *a, const void *b)
{
	const struct folder *fa = a, *fb = b;
	bool ia = strcmp(fa->name, "INBOX") == 0, ib = strcmp(fb->name, "INBOX") == 0;

	if (ia != ib)
		return ia ? -1 : 1;
	return strcmp(fa->name, fb->name);
}

static int find_folders(const char *root, struct folder_list *fl)
{
	struct dirent *de;
	struct buf name;
	int ret = 0;
	DIR *d = opendir(root);

	if (d == NULL) {
		fprintf(stderr, "sora-admin: import: %s: %s\n", root, strerror(errno));
		return -1;
	}
	if (is_maildir(root))
		folders_add(fl, root, "INBOX");
	buf_init(&name, 0);
	while ((de = readdir(d)) != NULL) {
		char path[4096];

		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		if (!is_dir(path) || !is_maildir(path))
			continue;
		if (admin_maildir_name_decode(de->d_name + 1, '.', &name) < 0) {
			fprintf(stderr, "sora-admin: import: %s: folder name not imported (an empty "
					"level, or neither modified UTF-7 nor UTF-8)\n", path);
			ret = -1;
			continue;
		}
		folders_add(fl, path, name.data);
	}
	(void)closedir(d);
	buf_free(&name);
	if (scan_fs_layout(root, "", fl) < 0)
		ret = -1;
	if (fl->count > 1)
		qsort(fl->items, fl->count, sizeof(*fl->items), folder_cmp);
	return ret;
}

bool admin_mailbox_filter_match(const char *filter, const char *name)
{
	const char *p = filter;

	if (filter == NULL)
		return true;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		while (len > 0 && *p == ' ')
			p++, len--;
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len > 0 && p[len - 1] == '*') {
			if (strncmp(name, p, len - 1) == 0)
				return true;
		} else if (strlen(name) == len && strncmp(name, p, len) == 0) {
			return true;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

static int import_maildir(struct importer *imp)
{
	struct folder_list fl = { 0 };
	int ret = find_folders(imp->o.path, &fl);

	if (fl.count == 0 && ret == 0) {
		fprintf(stderr, "sora-admin: import: %s: no Maildir folders (cur/ or new/) found\n",
			imp->o.path);
		ret = -1;
	}
	for (size_t i = 0; i < fl.count; i++) {
		if (admin_mailbox_filter_match(imp->o.filter, fl.items[i].name))
			imp->total += maildir_walk(imp, fl.items[i].dir, true);
	}
	for (size_t i = 0; i < fl.count; i++) {
		struct buf full;

		if (!admin_mailbox_filter_match(imp->o.filter, fl.items[i].name))
			continue;
		buf_init(&full, 0);
		if (imp->o.prefix != NULL)
			(void)buf_printf(&full, "%s/%s", imp->o.prefix, fl.items[i].name);
		else
			(void)buf_append_str(&full, fl.items[i].name);
		(void)buf_append(&full, "", 1);
		if (use_mailbox(imp, full.data) < 0) {
			uint64_t n = maildir_walk(imp, fl.items[i].dir, true);

			fprintf(stderr, "sora-admin: import: %s: %llu messages not imported\n",
				fl.items[i].dir, (unsigned long long)n);
			imp->failed += n;
			imp->processed += n;
			ret = -1;
		} else {
			(void)maildir_walk(imp, fl.items[i].dir, false);
			batch_flush(imp);
		}
		buf_free(&full);
	}
	for (size_t i = 0; i < fl.count; i++) {
		free(fl.items[i].dir);
		free(fl.items[i].name);
	}
	free(fl.items);
	return ret;
}

/* ---- mbox -------------------------------------------------------------- */

/* "From sender Tue Dec  1 06:52:40 2026" → Unix time (UTC), 0 unknown. */
static int64_t mbox_from_date(const char *line)
{
	const char *p = line + 5;
	struct tm tm = { 0 };
	const char *end;

	p = strchr(p, ' '); /* past the sender */
	if (p == NULL)
		return 0;
	while (*p == ' ')
		p++;
	end = strptime(p, "%a %b %d %H:%M:%S %Y", &tm);
	if (end == NULL)
		return 0;
	return (int64_t)timegm(&tm);
}

/* Status: R(ead) O(ld); X-Status: A(nswered) F(lagged) T(draft) D(eleted),
   as mutt and Dovecot's mbox write them. Header section only. */
static uint32_t mbox_flags(const char *data, size_t len)
{
	uint32_t flags = 0;
	size_t i = 0;

	while (i < len) {
		const char *eol = memchr(data + i, '\n', len - i);
		size_t ll = eol != NULL ? (size_t)(eol - (data + i)) : len - i;
		const char *l = data + i;

		if (ll == 0 || (ll == 1 && l[0] == '\r'))
			break;
		if (ll > 7 && strncasecmp(l, "Status:", 7) == 0) {
			if (memchr(l + 7, 'R', ll - 7) != NULL)
				flags |= STORE_FLAG_SEEN;
		} else if (ll > 9 && strncasecmp(l, "X-Status:", 9) == 0) {
			if (memchr(l + 9, 'A', ll - 9) != NULL)
				flags |= STORE_FLAG_ANSWERED;
			if (memchr(l + 9, 'F', ll - 9) != NULL)
				flags |= STORE_FLAG_FLAGGED;
			if (memchr(l + 9, 'T', ll - 9) != NULL)
				flags |= STORE_FLAG_DRAFT;
			if (memchr(l + 9, 'D', ll - 9) != NULL)
				flags |= STORE_FLAG_DELETED;
		}
		i += ll + 1;
	}
	return flags;
}

static void mbox_emit(struct importer *imp, struct buf *msg, int64_t date, uint64_t n,
		      bool count_only)
{
	char label[4200];

	if (count_only) {
		buf_clear(msg);
		return;
	}
	/* the line break before the next "From " belongs to the separator */
	if (msg->len >= 2 && msg->data[msg->len - 1] == '\n' && msg->data[msg->len - 2] == '\n')
		msg->len--;
	else if (msg->len >= 4 && memcmp(msg->data + msg->len - 4, "\r\n\r\n", 4) == 0)
		msg->len -= 2;
	snprintf(label, sizeof(label), "%s: message %llu", imp->o.path, (unsigned long long)n);
	if (msg->len > IMPORT_MSG_MAX) {
		imp->processed++;
		report_failure(imp, label, "larger than 256 MiB");
		buf_clear(msg);
		return;
	}
	{
		char *data = xmalloc(msg->len + 1);
		uint32_t flags;

		if (msg->len > 0)
			memcpy(data, msg->data, msg->len);
		data[msg->len] = '\0';
		flags = mbox_flags(data, msg->len);
		import_message(imp, data, msg->len, flags, NULL, 0, date, label);
	}
	buf_clear(msg);
}

static uint64_t mbox_walk(struct importer *imp, bool count_only, int *ret)
{
	FILE *f = fopen(imp->o.path, "re");
	struct buf msg;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t count = 0;
	int64_t date = 0, fallback = 0;
	bool in_msg = false, prev_blank = true;
	struct stat st;

	if (f == NULL) {
		fprintf(stderr, "sora-admin: import: %s: %s\n", imp->o.path, strerror(errno));
		*ret = -1;
		return 0;
	}
	if (fstat(fileno(f), &st) == 0)
		fallback = (int64_t)st.st_mtime;
	buf_init(&msg, 0);
	while ((n = getline(&line, &cap, f)) > 0) {
		size_t len = (size_t)n;
		bool blank = (len == 1 && line[0] == '\n') ||
			     (len == 2 && line[0] == '\r' && line[1] == '\n');

		if (prev_blank && len >= 5 && memcmp(line, "From ", 5) == 0) {
			if (in_msg)
				mbox_emit(imp, &msg, date, count, count_only);
			count++;
			in_msg = true;
			date = mbox_from_date(line);
			if (date == 0)
				date = fallback;
			prev_blank = false;
			continue;
		}
		prev_blank = blank;
		if (!in_msg) {
			if (!blank) {
				fprintf(stderr, "sora-admin: import: %s: does not start with a "
						"\"From \" line: not an mbox file\n", imp->o.path);
				*ret = -1;
				break;
			}
			continue;
		}
		if (count_only)
			continue;
		/* mboxrd: ">From ", ">>From ", … lose one '>' */
		if (len >= 6 && line[0] == '>') {
			size_t q = 0;

			while (q < len && line[q] == '>')
				q++;
			if (len - q >= 5 && memcmp(line + q, "From ", 5) == 0) {
				(void)buf_append(&msg, line + 1, len - 1);
				continue;
			}
		}
		(void)buf_append(&msg, line, len);
	}
	if (in_msg)
		mbox_emit(imp, &msg, date, count, count_only);
	free(line);
	buf_free(&msg);
	(void)fclose(f);
	return count;
}

static int import_mbox(struct importer *imp)
{
	int ret = 0;

	imp->total = mbox_walk(imp, true, &ret);
	if (ret < 0)
		return -1;
	if (use_mailbox(imp, imp->o.mailbox) < 0)
		return -1;
	(void)mbox_walk(imp, false, &ret);
	batch_flush(imp);
	return ret;
}

/* ---- command line ------------------------------------------------------ */

static int parse_bool(const char *flag, const char *v, bool *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0)
		*out = false;
	else {
		fprintf(stderr, "sora-admin: import: %s: expected true or false, not '%s'\n", flag,
			v);
		return -1;
	}
	return 0;
}

int admin_parse_date(const char *flag, const char *s, bool end_of_day, int64_t *t_r)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%d", &tm);

	if (end == NULL || *end != '\0') {
		fprintf(stderr, "sora-admin: %s: expected YYYY-MM-DD, not '%s'\n", flag, s);
		return -1;
	}
	*t_r = (int64_t)timegm(&tm) + (end_of_day ? 86399 : 0);
	return 0;
}

static int parse(int argc, char **argv, struct import_opts *o)
{
	*o = (struct import_opts){ .batch_size = IMPORT_BATCH_DEFAULT, .jobs = IMPORT_JOBS_DEFAULT,
				   .preserve_flags = true, .progress = true };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **val = NULL;
		const char *eq = strchr(a, '=');

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			o->help = true;
		} else if (strcmp(a, "--dry-run") == 0) {
			o->dry_run = true;
		} else if (strcmp(a, "--preserve-flags") == 0) {
			o->preserve_flags = true;
		} else if (strncmp(a, "--preserve-flags=", 17) == 0) {
			if (parse_bool("--preserve-flags", eq + 1, &o->preserve_flags) < 0)
				return -1;
		} else if (strcmp(a, "--no-preserve-flags") == 0) {
			o->preserve_flags = false;
		} else if (strcmp(a, "--progress") == 0) {
			o->progress = true;
		} else if (strncmp(a, "--progress=", 11) == 0) {
			if (parse_bool("--progress", eq + 1, &o->progress) < 0)
				return -1;
		} else if (strcmp(a, "--email") == 0) {
			val = &o->email;
		} else if (strcmp(a, "--maildir-path") == 0 || strcmp(a, "--path") == 0) {
			val = &o->path;
		} else if (strcmp(a, "--mailbox-prefix") == 0) {
			val = &o->prefix;
		} else if (strcmp(a, "--mailbox") == 0) {
			val = &o->mailbox;
		} else if (strcmp(a, "--mailbox-filter") == 0) {
			val = &o->filter;
		} else if (strcmp(a, "--start-date") == 0 || strcmp(a, "--end-date") == 0) {
			bool is_end = strcmp(a, "--end-date") == 0;

			if (i + 1 >= argc ||
			    admin_parse_date(a, argv[i + 1], is_end,
					     is_end ? &o->end_date : &o->start_date) < 0) {
				if (i + 1 >= argc)
					fprintf(stderr, "sora-admin: import: %s needs a value\n", a);
				return -1;
			}
			i++;
		} else if (strcmp(a, "--jobs") == 0) {
			uint32_t n;

			if (i + 1 >= argc || str_to_u32(slice_cstr(argv[i + 1]), &n) < 0 || n == 0 ||
			    n > IMPORT_JOBS_MAX) {
				fprintf(stderr, "sora-admin: import: --jobs needs a number from 1 "
						"to %u\n", IMPORT_JOBS_MAX);
				return -1;
			}
			o->jobs = n;
			i++;
		} else if (strcmp(a, "--batch-size") == 0) {
			uint32_t n;

			if (i + 1 >= argc || str_to_u32(slice_cstr(argv[i + 1]), &n) < 0 || n == 0 ||
			    n > IMPORT_BATCH_MAX) {
				fprintf(stderr, "sora-admin: import: --batch-size needs a number "
						"from 1 to %u\n", IMPORT_BATCH_MAX);
				return -1;
			}
			o->batch_size = n;
			i++;
		} else {
			fprintf(stderr, "sora-admin: import: unknown flag '%s'\n", a);
			return -1;
		}
		if (val != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sora-admin: import: %s needs a value\n", a);
				return -1;
			}
			*val = argv[++i];
		}
	}
	return 0;
}

int admin_import(const struct config *cfg, int argc, char **argv)
{
	const char *kind = argc > 0 ? argv[0] : "";
	struct importer imp = { 0 };
	struct store_account acct;
	struct store_error serr;
	struct arena *a;
	char err[768];
	double secs;
	int ret;

	if (argc == 0 || strcmp(kind, "--help") == 0 || strcmp(kind, "-h") == 0 ||
	    parse(argc - 1, argv + 1, &imp.o) < 0 || imp.o.help) {
		bool asked = argc > 0 && (strcmp(kind, "--help") == 0 ||
					  strcmp(kind, "-h") == 0 || (argc > 1 && imp.o.help));

		fputs(import_usage, asked ? stdout : stderr);
		return asked ? 0 : 2;
	}
	if (cfg == NULL) { /* "--help" taken as a flag's value: no configuration loaded */
		fputs(import_usage, stderr);
		return 2;
	}
	if (strcmp(kind, "maildir") != 0 && strcmp(kind, "mbox") != 0) {
		fprintf(stderr, "sora-admin: import: unknown source '%s' (maildir or mbox)\n%s",
			kind, import_usage);
		return 2;
	}
	if (imp.o.email == NULL || imp.o.path == NULL) {
		fprintf(stderr, "sora-admin: import %s: --email and %s are required\n", kind,
			strcmp(kind, "maildir") == 0 ? "--maildir-path" : "--path");
		return 2;
	}
	if (strcmp(kind, "mbox") == 0 && imp.o.mailbox == NULL) {
		fprintf(stderr, "sora-admin: import mbox: --mailbox is required\n");
		return 2;
	}
	if (strcmp(kind, "maildir") == 0 && imp.o.mailbox != NULL) {
		fprintf(stderr, "sora-admin: import maildir: --mailbox is for mbox; use "
				"--mailbox-prefix or --mailbox-filter\n");
		return 2;
	}
	if (mail_services_open(cfg, &imp.ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "sora-admin: %s\n", err);
		return 1;
	}
	a = arena_new(1024);
	if (store_account_find(imp.ms.store, imp.o.email, false, &imp.account_id, &serr) < 0 ||
	    store_account_get(imp.ms.store, imp.account_id, a, &acct, &serr) < 0) {
		fprintf(stderr, "sora-admin: import: %s: %s\n", imp.o.email, serr.msg);
		arena_free(&a);
		mail_services_close(&imp.ms);
		return 1;
	}
	imp.address = xstrdup(acct.primary_address);
	arena_free(&a);
	imp.batch = xcalloc(imp.o.batch_size, sizeof(*imp.batch));
	imp.batch_arena = arena_new(65536);
	for (unsigned int j = 0; j < imp.o.jobs; j++)
		imp.job_arenas[j] = arena_new(65536);
	imp.start_ms = imp.last_progress_ms = util_now_ms();

	ret = strcmp(kind, "maildir") == 0 ? import_maildir(&imp) : import_mbox(&imp);
	batch_flush(&imp);
	progress(&imp, true);

	secs = (double)(util_now_ms() - imp.start_ms) / 1000.0;
	printf("%s%s %s into %s: %llu messages %s (%.1f MB), %llu already there, %llu failed, "
	       "%llu mailboxes (%llu %s); %.1f s, %.0f msg/s\n",
	       imp.o.dry_run ? "dry run: " : "", kind, imp.o.path, imp.address,
	       (unsigned long long)imp.imported, imp.o.dry_run ? "to import" : "imported",
	       (double)imp.bytes / 1e6, (unsigned long long)imp.duplicates,
	       (unsigned long long)imp.failed, (unsigned long long)imp.mailboxes,
	       (unsigned long long)imp.created, imp.o.dry_run ? "to create" : "created", secs,
	       secs > 0 ? (double)imp.processed / secs : 0.0);
	if (imp.out_of_range > 0)
		printf("%llu messages outside --start-date/--end-date were left out\n",
		       (unsigned long long)imp.out_of_range);
	if (imp.failed > 0)
		fprintf(stderr, "sora-admin: import: %llu of %llu messages failed (named above)\n",
			(unsigned long long)imp.failed, (unsigned long long)imp.processed);

	hash_set_clear(&imp.hashes);
	free(imp.batch);
	arena_free(&imp.batch_arena);
	for (unsigned int j = 0; j < imp.o.jobs; j++)
		arena_free(&imp.job_arenas[j]);
	free(imp.address);
	mail_services_close(&imp.ms);
	return ret < 0 || imp.failed > 0 ? 1 : 0;
}
