/* Metadata store: argument checks, normalisation and dispatch to the
   driver. Nothing here touches a database; everything a driver may assume
   about its input is established here (see store-private.h). */

#include "store/store-private.h"
#include "store/store-schema.h"

#include "lib/arena.h"
#include "lib/utf8.h"
#include "lib/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const store_err_names[] = {
	"ok", "not_found", "exists", "invalid", "temporary", "internal",
};
static_assert(ARRAY_SIZE(store_err_names) == STORE_ERR_COUNT, "store_err_names out of sync");

const struct store_default_mailbox store_default_mailboxes[] = {
	{ "INBOX", 0 },
	{ "Sent", STORE_SPECIAL_SENT },
	{ "Drafts", STORE_SPECIAL_DRAFTS },
	{ "Archive", STORE_SPECIAL_ARCHIVE },
	{ "Junk", STORE_SPECIAL_JUNK },
	{ "Trash", STORE_SPECIAL_TRASH },
};
const size_t store_default_mailbox_count = ARRAY_SIZE(store_default_mailboxes);

static const struct store_vfuncs *const store_drivers[] = {
	&store_sqlite_vfuncs,
	&store_pg_vfuncs,
};

const char *store_err_name(enum store_err code)
{
	return (unsigned int)code < STORE_ERR_COUNT ? store_err_names[code] : "unknown";
}

void store_error_set(struct store_error *err, enum store_err code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->code = code;
	va_start(ap, fmt);
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		err->msg[0] = '\0';
	va_end(ap);
}

/* Callers may pass err == NULL; drivers always get somewhere to write. */
#define ERR_OR_SINK(err) struct store_error err##_sink, *e = (err) != NULL ? (err) : &err##_sink

/* ---- validation ------------------------------------------------------- */

static bool cp_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

bool store_utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);

		if (n == 0 || cp_is_control(cp))
			return false;
		i += n;
	}
	return true;
}

static bool text_is_printable(const char *s, size_t max)
{
	size_t len = strnlen(s, max + 1);

	return len > 0 && len <= max && store_utf8_is_valid(s, len);
}

int store_address_normalize(const char *address, char *out, struct store_error *err)
{
	size_t len, at = 0, ats = 0;

	if (address == NULL || (len = strnlen(address, STORE_ADDRESS_MAX + 1)) == 0) {
		store_error_set(err, STORE_INVALID, "empty address");
		return -1;
	}
	if (len > STORE_ADDRESS_MAX) {
		store_error_set(err, STORE_INVALID, "address longer than %d bytes",
				STORE_ADDRESS_MAX);
		return -1;
	}
	if (!store_utf8_is_valid(address, len)) {
		store_error_set(err, STORE_INVALID, "address is not printable UTF-8");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = address[i];

		if (c == ' ') {
			store_error_set(err, STORE_INVALID, "address contains a space");
			return -1;
		}
		if (c == '@')
			at = i, ats++;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	if (ats != 1 || at == 0 || at == len - 1) {
		store_error_set(err, STORE_INVALID, "address is not local@domain");
		return -1;
	}
	return 0;
}

bool store_address_strip_detail(char *addr)
{
	char *at = strchr(addr, '@'), *plus;

	if (at == NULL)
		return false;
	plus = memchr(addr, '+', (size_t)(at - addr));
	if (plus == NULL || plus == addr)
		return false;
	memmove(plus, at, strlen(at) + 1);
	return true;
}

bool store_mailbox_name_is_inbox(const char *name)
{
	return strcmp(name, "INBOX") == 0;
}

int store_mailbox_name_normalize(const char *name, char *out, struct store_error *err)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len, i = 0, levels = 1;

	if (name == NULL || (len = strnlen(name, STORE_MAILBOX_NAME_MAX + 1)) == 0) {
		store_error_set(err, STORE_INVALID, "empty mailbox name");
		return -1;
	}
	if (len > STORE_MAILBOX_NAME_MAX) {
		store_error_set(err, STORE_INVALID, "mailbox name longer than %d bytes",
				STORE_MAILBOX_NAME_MAX);
		return -1;
	}
	if (name[0] == STORE_MAILBOX_DELIMITER || name[len - 1] == STORE_MAILBOX_DELIMITER) {
		store_error_set(err, STORE_INVALID, "mailbox name has an empty hierarchy level");
		return -1;
	}
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);

		if (n == 0) {
			store_error_set(err, STORE_INVALID, "mailbox name is not valid UTF-8");
			return -1;
		}
		if (cp_is_control(cp)) {
			store_error_set(err, STORE_INVALID,
					"mailbox name contains a control character");
			return -1;
		}
		if (cp == '*' || cp == '%') {
			store_error_set(err, STORE_INVALID, "mailbox name contains '%c'", (char)cp);
			return -1;
		}
		if (cp == STORE_MAILBOX_DELIMITER) {
			if (p[i + 1] == STORE_MAILBOX_DELIMITER) {
				store_error_set(err, STORE_INVALID,
						"mailbox name has an empty hierarchy level");
				return -1;
			}
			levels++;
		}
		i += n;
	}
	if (levels > STORE_MAILBOX_DEPTH_MAX) {
		store_error_set(err, STORE_INVALID, "mailbox name deeper than %d levels",
				STORE_MAILBOX_DEPTH_MAX);
		return -1;
	}
	memcpy(out, name, len + 1);
	/* RFC 9051: INBOX is case-insensitive, and so is the INBOX level of its
	   children; every other name is case-sensitive. */
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

size_t store_mailbox_name_parent_len(const char *name)
{
	const char *slash = strrchr(name, STORE_MAILBOX_DELIMITER);

	return slash == NULL ? 0 : (size_t)(slash - name);
}

/* RFC 9051 flag-keyword = atom: no atom-specials, no '\' (system flags). */
static bool keyword_is_valid(const char *kw)
{
	size_t len = strnlen(kw, STORE_KEYWORD_MAX + 1);

	if (len == 0 || len > STORE_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* Checks kw[0..n) and writes the case-insensitively unique ones to out
   (room for n). */
static int keywords_check(const char *const *kw, size_t n, const char **out, size_t *out_n_r,
			  struct store_error *err)
{
	size_t k = 0;

	if (n > 0 && kw == NULL) {
		store_error_set(err, STORE_INVALID, "keyword list missing");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		if (kw[i] == NULL || !keyword_is_valid(kw[i])) {
			store_error_set(err, STORE_INVALID, "invalid keyword");
			return -1;
		}
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcasecmp(out[j], kw[i]) == 0;
		if (!dup)
			out[k++] = kw[i];
	}
	if (k > STORE_KEYWORDS_PER_MESSAGE_MAX) {
		store_error_set(err, STORE_INVALID, "more than %d keywords",
				STORE_KEYWORDS_PER_MESSAGE_MAX);
		return -1;
	}
	*out_n_r = k;
	return 0;
}

static bool hash_is_valid(const char *h)
{
	if (h == NULL || strnlen(h, 65) != 64)
		return false;
	for (size_t i = 0; i < 64; i++) {
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	}
	return true;
}

static int id_check(int64_t id, const char *what, struct store_error *err)
{
	if (id > 0)
		return 0;
	store_error_set(err, STORE_INVALID, "invalid %s id", what);
	return -1;
}

static int password_hash_check(const char *hash, struct store_error *err)
{
	if (hash != NULL && text_is_printable(hash, STORE_PASSWORD_HASH_MAX))
		return 0;
	store_error_set(err, STORE_INVALID, "password hash empty, too long or not printable");
	return -1;
}

static int sieve_name_check(const char *name, struct store_error *err)
{
	if (name != NULL && text_is_printable(name, STORE_SIEVE_NAME_MAX))
		return 0;
	store_error_set(err, STORE_INVALID, "invalid script name");
	return -1;
}

static int cmp_range(const void *a, const void *b)
{
	const struct store_uid_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Sorted and merged copy of a UID set (malloc'ed; free() it); NULL set =
   every UID. */
static int uid_set_normalize(const struct store_uid_range *set, size_t count,
			     struct store_uid_range **out_r, size_t *out_count_r,
			     struct store_error *err)
{
	struct store_uid_range *out;
	size_t n = 0;

	if (set == NULL) {
		out = xmalloc(sizeof(*out));
		out[0] = (struct store_uid_range){ .first = 1, .last = UINT32_MAX };
		*out_r = out;
		*out_count_r = 1;
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		if (set[i].first == 0 || set[i].first > set[i].last) {
			store_error_set(err, STORE_INVALID, "invalid UID range %u:%u",
					set[i].first, set[i].last);
			return -1;
		}
	}
	out = xmalloc(sizeof(*out) * (count > 0 ? count : 1));
	memcpy(out, set, sizeof(*out) * count);
	qsort(out, count, sizeof(*out), cmp_range);
	for (size_t i = 0; i < count; i++) {
		if (n > 0 && (uint64_t)out[i].first <= (uint64_t)out[n - 1].last + 1) {
			if (out[i].last > out[n - 1].last)
				out[n - 1].last = out[i].last;
		} else {
			out[n++] = out[i];
		}
	}
	*out_r = out;
	*out_count_r = n;
	return 0;
}

/* ---- helpers for drivers ---------------------------------------------- */

uint32_t store_flags_apply(uint32_t current, enum store_flags_op op, uint32_t flags)
{
	switch (op) {
	case STORE_FLAGS_ADD:
		return current | flags;
	case STORE_FLAGS_REMOVE:
		return current & ~flags;
	case STORE_FLAGS_REPLACE:
		break;
	}
	return (current & ~(uint32_t)STORE_FLAG_MASK) | flags;
}

static int cmp_str_ci(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

int store_keywords_apply(const char *current, enum store_flags_op op, const char *const *kw,
			 size_t kw_count, struct buf *out)
{
	const char *words[STORE_KEYWORDS_PER_MESSAGE_MAX * 2 + 1];
	char copy[(STORE_KEYWORD_MAX + 1) * (STORE_KEYWORDS_PER_MESSAGE_MAX + 1)];
	size_t n = 0, len = strlen(current);

	buf_clear(out);
	if (len >= sizeof(copy))
		return -1;
	memcpy(copy, current, len + 1);
	if (op != STORE_FLAGS_REPLACE) {
		for (char *p = copy, *sp; *p != '\0'; p = sp) {
			sp = strchr(p, ' ');
			if (sp == NULL)
				sp = p + strlen(p);
			else
				*sp++ = '\0';
			if (n == STORE_KEYWORDS_PER_MESSAGE_MAX * 2)
				return -1;
			if (op == STORE_FLAGS_REMOVE) {
				bool drop = false;

				for (size_t i = 0; i < kw_count && !drop; i++)
					drop = strcasecmp(kw[i], p) == 0;
				if (drop)
					continue;
			}
			words[n++] = p;
		}
	}
	if (op != STORE_FLAGS_REMOVE) {
		for (size_t i = 0; i < kw_count; i++) {
			bool have = false;

			for (size_t j = 0; j < n && !have; j++)
				have = strcasecmp(words[j], kw[i]) == 0;
			if (have)
				continue;
			if (n == STORE_KEYWORDS_PER_MESSAGE_MAX * 2)
				return -1;
			words[n++] = kw[i];
		}
	}
	if (n > STORE_KEYWORDS_PER_MESSAGE_MAX)
		return -1;
	qsort(words, n, sizeof(words[0]), cmp_str_ci);
	for (size_t i = 0; i < n; i++) {
		if ((i > 0 && buf_append(out, " ", 1) < 0) || buf_append_str(out, words[i]) < 0)
			return -1;
	}
	return 0;
}

int store_keywords_join(const char *const *kw, size_t kw_count, struct buf *out)
{
	return store_keywords_apply("", STORE_FLAGS_REPLACE, kw, kw_count, out);
}

void store_fts_headers(const struct store_headers *h, struct buf *out)
{
	const char *parts[] = { h->subject, h->from, h->to, h->cc, h->bcc, h->message_id };

	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		if (parts[i] == NULL || parts[i][0] == '\0')
			continue;
		if (out->len > 0)
			(void)buf_append(out, "\n", 1);
		(void)buf_append_str(out, parts[i]);
	}
}

static bool is_word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

void store_search_words(const char *value, struct arena *arena, const char ***words_r,
			size_t *count_r)
{
	size_t n = 0, cap = 0;
	const char **words = NULL;

	for (const char *p = value; *p != '\0';) {
		const char *start;

		while (*p != '\0' && !is_word_byte((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (is_word_byte((unsigned char)*p))
			p++;
		if (n == cap) {
			const char **nw;

			cap = cap == 0 ? 8 : cap * 2;
			nw = arena_alloc(arena, sizeof(*nw) * cap);
			if (n > 0)
				memcpy(nw, words, sizeof(*nw) * n);
			words = nw;
		}
		words[n++] = arena_strndup(arena, start, (size_t)(p - start));
	}
	*words_r = words;
	*count_r = n;
}

/* ---- opening and migrations ------------------------------------------- */

int store_open(const struct store_settings *set, struct store **st_r, struct store_error *err)
{
	const char *driver = set->driver != NULL ? set->driver : "sqlite";
	ERR_OR_SINK(err);

	for (size_t i = 0; i < ARRAY_SIZE(store_drivers); i++) {
		if (strcmp(store_drivers[i]->name, driver) == 0)
			return store_drivers[i]->open(set, st_r, e);
	}
	store_error_set(e, STORE_INVALID, "unknown database driver '%s'", driver);
	return -1;
}

void store_close(struct store **st)
{
	if (st == NULL || *st == NULL)
		return;
	(*st)->v->close(*st);
	*st = NULL;
}

int store_watch(struct store *st, store_change_cb *cb, void *ctx)
{
	size_t n = atomic_load_explicit(&st->watcher_count, memory_order_relaxed);

	if (n >= STORE_WATCHERS_MAX)
		return -1;
	st->watchers[n].cb = cb;
	st->watchers[n].ctx = ctx;
	atomic_store_explicit(&st->watcher_count, n + 1, memory_order_release);
	return 0;
}

void store_changed(struct store *st, int64_t mailbox_id, uint64_t modseq)
{
	const struct store_change change = { .mailbox_id = mailbox_id, .modseq = modseq };

	size_t n = atomic_load_explicit(&st->watcher_count, memory_order_acquire);

	for (size_t i = 0; i < n; i++)
		st->watchers[i].cb(&change, st->watchers[i].ctx);
}

const char *store_driver_name(const struct store *st)
{
	return st->v->name;
}

int store_migrate_version(struct store *st, unsigned int *version_r, unsigned int *latest_r,
			  struct store_error *err)
{
	unsigned int version;
	ERR_OR_SINK(err);

	if (st->v->migrate_version(st, &version, e) < 0)
		return -1;
	if (version_r != NULL)
		*version_r = version;
	if (latest_r != NULL)
		*latest_r = STORE_SCHEMA_VERSION;
	return 0;
}

int store_migrate_up(struct store *st, unsigned int *applied_r, struct store_error *err)
{
	unsigned int applied;
	ERR_OR_SINK(err);

	if (st->v->migrate_up(st, &applied, e) < 0)
		return -1;
	if (applied_r != NULL)
		*applied_r = applied;
	return 0;
}

/* ---- accounts and credentials ----------------------------------------- */

int store_account_create(struct store *st, const char *address, const char *password_hash,
			 int64_t *account_id_r, struct store_error *err)
{
	char addr[STORE_ADDRESS_MAX + 1];
	int64_t id;
	ERR_OR_SINK(err);

	if (store_address_normalize(address, addr, e) < 0 ||
	    password_hash_check(password_hash, e) < 0)
		return -1;
	if (st->v->account_create(st, addr, password_hash, &id, e) < 0)
		return -1;
	if (account_id_r != NULL)
		*account_id_r = id;
	return 0;
}

int store_account_get(struct store *st, int64_t account_id, struct arena *arena,
		      struct store_account *account_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->account_get(st, account_id, arena, account_r, e);
}

int store_account_list(struct store *st, bool include_deleted, struct arena *arena,
		       struct store_account **accounts_r, size_t *count_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	return st->v->account_list(st, include_deleted, arena, accounts_r, count_r, e);
}

int store_account_find(struct store *st, const char *address, bool include_deleted,
		       int64_t *account_id_r, struct store_error *err)
{
	char addr[STORE_ADDRESS_MAX + 1];
	ERR_OR_SINK(err);

	if (store_address_normalize(address, addr, e) < 0)
		return -1;
	if (st->v->account_find(st, addr, include_deleted, account_id_r, e) == 0)
		return 0;
	if (e->code != STORE_NOT_FOUND || !store_address_strip_detail(addr))
		return -1;
	return st->v->account_find(st, addr, include_deleted, account_id_r, e);
}

int store_account_delete(struct store *st, int64_t account_id, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->account_delete(st, account_id, e);
}

int store_account_restore(struct store *st, int64_t account_id, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->account_restore(st, account_id, e);
}

int store_account_set_quota(struct store *st, int64_t account_id, uint64_t quota_storage,
			    uint64_t quota_messages, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	if (quota_storage > INT64_MAX || quota_messages > INT64_MAX) {
		store_error_set(e, STORE_INVALID, "quota out of range");
		return -1;
	}
	if (st->v->account_set_quota == NULL) {
		store_error_set(e, STORE_INVALID, "per-account quotas need schema version 2 "
						 "support in the %s driver", st->v->name);
		return -1;
	}
	return st->v->account_set_quota(st, account_id, quota_storage, quota_messages, e);
}

int store_credential_lookup(struct store *st, const char *address, struct arena *arena,
			    struct store_credential *cred_r, struct store_error *err)
{
	char addr[STORE_ADDRESS_MAX + 1];
	ERR_OR_SINK(err);

	if (store_address_normalize(address, addr, e) < 0)
		return -1;
	if (st->v->credential_lookup(st, addr, arena, cred_r, e) == 0)
		return 0;
	if (e->code != STORE_NOT_FOUND || !store_address_strip_detail(addr))
		return -1;
	return st->v->credential_lookup(st, addr, arena, cred_r, e);
}

/* Blob keys are built from the primary address (domain/localpart/hash),
   and that is not recorded per message yet: changing the primary of an
   account that has stored mail would hide its bodies. Refused until the
   key's address is kept per message (as Sora's s3_domain/s3_localpart). */
static int primary_change_check(struct store *st, int64_t account_id, struct store_error *e)
{
	struct arena *a = arena_new(1024);
	struct store_account acc;
	int ret = st->v->account_get(st, account_id, a, &acc, e);

	if (ret == 0 && (acc.message_count > 0 || acc.total_bytes > 0)) {
		store_error_set(e, STORE_INVALID,
				"the account has stored mail: its primary address names the "
				"storage keys of its messages and cannot change");
		ret = -1;
	}
	arena_free(&a);
	return ret;
}

int store_credential_add(struct store *st, int64_t account_id, const char *address,
			 const char *password_hash, bool make_primary, struct store_error *err)
{
	char addr[STORE_ADDRESS_MAX + 1];
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 ||
	    store_address_normalize(address, addr, e) < 0 ||
	    password_hash_check(password_hash, e) < 0)
		return -1;
	if (make_primary && primary_change_check(st, account_id, e) < 0)
		return -1;
	return st->v->credential_add(st, account_id, addr, password_hash, make_primary, e);
}

int store_credential_delete(struct store *st, const char *address, struct store_error *err)
{
	char addr[STORE_ADDRESS_MAX + 1];
	ERR_OR_SINK(err);

	if (store_address_normalize(address, addr, e) < 0)
		return -1;
	return st->v->credential_delete(st, addr, e);
}

int store_credential_set_password(struct store *st, const char *address,
				  const char *password_hash, struct store_error *err)
{
	char addr[STORE_ADDRESS_MAX + 1];
	ERR_OR_SINK(err);

	if (store_address_normalize(address, addr, e) < 0 ||
	    password_hash_check(password_hash, e) < 0)
		return -1;
	return st->v->credential_set_password(st, addr, password_hash, e);
}

int store_credential_set_primary(struct store *st, const char *address, struct store_error *err)
{
	char addr[STORE_ADDRESS_MAX + 1];
	ERR_OR_SINK(err);

	struct store_credential cred;
	struct arena *a;
	int ret;

	if (store_address_normalize(address, addr, e) < 0)
		return -1;
	a = arena_new(1024);
	ret = st->v->credential_lookup(st, addr, a, &cred, e);
	arena_free(&a);
	if (ret < 0)
		return -1;
	if (!cred.is_primary && primary_change_check(st, cred.account_id, e) < 0)
		return -1;
	return st->v->credential_set_primary(st, addr, e);
}

int store_credential_list(struct store *st, int64_t account_id, struct arena *arena,
			  struct store_credential **creds_r, size_t *count_r,
			  struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->credential_list(st, account_id, arena, creds_r, count_r, e);
}

/* ---- mailboxes -------------------------------------------------------- */

static int special_use_check(unsigned int special_use, struct store_error *err)
{
	if ((special_use & ~(unsigned int)STORE_SPECIAL_MASK) == 0)
		return 0;
	store_error_set(err, STORE_INVALID, "unknown special-use attribute");
	return -1;
}

int store_mailbox_create(struct store *st, int64_t account_id, const char *name,
			 unsigned int special_use, int64_t *mailbox_id_r, struct store_error *err)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1];
	int64_t id;
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 || special_use_check(special_use, e) < 0 ||
	    store_mailbox_name_normalize(name, norm, e) < 0)
		return -1;
	if (st->v->mailbox_create(st, account_id, norm, special_use, &id, e) < 0)
		return -1;
	if (mailbox_id_r != NULL)
		*mailbox_id_r = id;
	return 0;
}

int store_mailbox_get(struct store *st, int64_t account_id, const char *name,
		      struct arena *arena, struct store_mailbox *mailbox_r,
		      struct store_error *err)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1];
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 ||
	    store_mailbox_name_normalize(name, norm, e) < 0)
		return -1;
	return st->v->mailbox_get(st, account_id, norm, arena, mailbox_r, e);
}

int store_mailbox_get_by_id(struct store *st, int64_t mailbox_id, struct arena *arena,
			    struct store_mailbox *mailbox_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	return st->v->mailbox_get_by_id(st, mailbox_id, arena, mailbox_r, e);
}

int store_mailbox_list(struct store *st, int64_t account_id, struct arena *arena,
		       struct store_mailbox **mailboxes_r, size_t *count_r,
		       struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->mailbox_list(st, account_id, arena, mailboxes_r, count_r, e);
}

int store_mailbox_delete(struct store *st, int64_t account_id, const char *name,
			 struct store_error *err)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1];
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 ||
	    store_mailbox_name_normalize(name, norm, e) < 0)
		return -1;
	if (store_mailbox_name_is_inbox(norm)) {
		store_error_set(e, STORE_INVALID, "INBOX cannot be deleted");
		return -1;
	}
	return st->v->mailbox_delete(st, account_id, norm, e);
}

int store_mailbox_rename(struct store *st, int64_t account_id, const char *old_name,
			 const char *new_name, struct store_error *err)
{
	char from[STORE_MAILBOX_NAME_MAX + 1], to[STORE_MAILBOX_NAME_MAX + 1];
	size_t from_len;
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 ||
	    store_mailbox_name_normalize(old_name, from, e) < 0 ||
	    store_mailbox_name_normalize(new_name, to, e) < 0)
		return -1;
	if (store_mailbox_name_is_inbox(to)) {
		store_error_set(e, STORE_EXISTS, "INBOX exists");
		return -1;
	}
	from_len = strlen(from);
	if (!store_mailbox_name_is_inbox(from) && strncmp(to, from, from_len) == 0 &&
	    (to[from_len] == '\0' || to[from_len] == STORE_MAILBOX_DELIMITER)) {
		store_error_set(e, to[from_len] == '\0' ? STORE_EXISTS : STORE_INVALID,
				"cannot rename a mailbox into itself");
		return -1;
	}
	return st->v->mailbox_rename(st, account_id, from, to, e);
}

int store_mailbox_set_special_use(struct store *st, int64_t mailbox_id, unsigned int special_use,
				  struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0 || special_use_check(special_use, e) < 0)
		return -1;
	return st->v->mailbox_set_special_use(st, mailbox_id, special_use, e);
}

int store_mailbox_status(struct store *st, int64_t mailbox_id,
			 struct store_mailbox_status *status_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	return st->v->mailbox_status(st, mailbox_id, status_r, e);
}

int store_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r, size_t *count_r,
		       struct store_mailbox_status *status_r, struct store_error *err)
{
	struct store_mailbox_status status;
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	if (st->v->mailbox_uids(st, mailbox_id, uids_r, count_r, &status, e) < 0)
		return -1;
	if (status_r != NULL)
		*status_r = status;
	return 0;
}

int store_mailbox_keywords(struct store *st, int64_t mailbox_id, struct arena *arena,
			   const char ***keywords_r, size_t *count_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	return st->v->mailbox_keywords(st, mailbox_id, arena, keywords_r, count_r, e);
}

int store_subscription_set(struct store *st, int64_t account_id, const char *name,
			   bool subscribed, struct store_error *err)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1];
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 ||
	    store_mailbox_name_normalize(name, norm, e) < 0)
		return -1;
	return st->v->subscription_set(st, account_id, norm, subscribed, e);
}

int store_subscription_list(struct store *st, int64_t account_id, struct arena *arena,
			    const char ***names_r, size_t *count_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->subscription_list(st, account_id, arena, names_r, count_r, e);
}

/* ---- messages --------------------------------------------------------- */

static int message_check(const struct store_message_new *msg, struct store_message_in *in,
			 const char **kw_room, struct store_error *err)
{
	size_t len;

	if (msg == NULL) {
		store_error_set(err, STORE_INVALID, "missing message");
		return -1;
	}
	if ((msg->flags & ~(uint32_t)STORE_FLAG_MASK) != 0) {
		store_error_set(err, STORE_INVALID, "unknown system flag");
		return -1;
	}
	if (!hash_is_valid(msg->content_hash)) {
		store_error_set(err, STORE_INVALID, "content hash is not 64 lower-case hex digits");
		return -1;
	}
	if (msg->size > INT64_MAX) {
		store_error_set(err, STORE_INVALID, "message size out of range");
		return -1;
	}
	if (keywords_check(msg->keywords, msg->keyword_count, kw_room, &in->keyword_count, err) < 0)
		return -1;
	in->msg = msg;
	in->keywords = kw_room;
	len = msg->body_text == NULL ? 0 : strnlen(msg->body_text, STORE_FTS_TEXT_MAX + 1);
	if (len > STORE_FTS_TEXT_MAX) {
		/* cut at a character boundary */
		len = STORE_FTS_TEXT_MAX;
		while (len > 0 && ((unsigned char)msg->body_text[len] & 0xc0) == 0x80)
			len--;
	}
	in->body_text_len = len;
	return 0;
}

int store_append_batch(struct store *st, struct store_append *items, size_t count,
		       struct store_error *err)
{
	struct store_message_in *in;
	const char **kw_room;
	size_t kw_total = 0;
	int ret = -1;
	ERR_OR_SINK(err);

	if (count == 0)
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (items[i].msg != NULL)
			kw_total += items[i].msg->keyword_count;
	}
	in = xcalloc(count, sizeof(*in));
	kw_room = xcalloc(kw_total > 0 ? kw_total : 1, sizeof(*kw_room));
	kw_total = 0;
	for (size_t i = 0; i < count; i++) {
		if (id_check(items[i].mailbox_id, "mailbox", e) < 0 ||
		    message_check(items[i].msg, &in[i], kw_room + kw_total, e) < 0)
			goto out;
		kw_total += items[i].msg->keyword_count;
	}
	ret = st->v->append_batch(st, items, in, count, e);
	if (ret == 0) {
		/* one event per mailbox, carrying its last MODSEQ */
		for (size_t i = 0; i < count; i++) {
			bool later = false;

			for (size_t j = i + 1; j < count && !later; j++)
				later = items[j].mailbox_id == items[i].mailbox_id;
			if (!later)
				store_changed(st, items[i].mailbox_id, items[i].modseq_r);
		}
	}
out:
	free(kw_room);
	free(in);
	return ret;
}

int store_append(struct store *st, int64_t mailbox_id, const struct store_message_new *msg,
		 uint32_t *uid_r, uint64_t *modseq_r, struct store_error *err)
{
	struct store_append item = { .mailbox_id = mailbox_id, .msg = msg };

	if (store_append_batch(st, &item, 1, err) < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = item.uid_r;
	if (modseq_r != NULL)
		*modseq_r = item.modseq_r;
	return 0;
}

int store_flags_update(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		       size_t set_count, const struct store_flags_update *upd,
		       struct arena *arena, struct store_flags_result **results_r,
		       size_t *result_count_r, uint32_t **failed_uids_r, size_t *failed_count_r,
		       struct store_error *err)
{
	struct store_flags_update u;
	struct store_uid_range *norm;
	const char **kw;
	size_t norm_count;
	int ret = -1;
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	if (upd == NULL || (unsigned int)upd->op > STORE_FLAGS_REPLACE ||
	    (upd->flags & ~(uint32_t)STORE_FLAG_MASK) != 0) {
		store_error_set(e, STORE_INVALID, "invalid flag update");
		return -1;
	}
	if (upd->unchanged_since > INT64_MAX) {
		store_error_set(e, STORE_INVALID, "UNCHANGEDSINCE out of range");
		return -1;
	}
	u = *upd;
	kw = xcalloc(upd->keyword_count > 0 ? upd->keyword_count : 1, sizeof(*kw));
	if (keywords_check(upd->keywords, upd->keyword_count, kw, &u.keyword_count, e) < 0)
		goto out_kw;
	u.keywords = kw;
	if (uid_set_normalize(set, set_count, &norm, &norm_count, e) < 0)
		goto out_kw;
	ret = st->v->flags_update(st, mailbox_id, norm, norm_count, &u, arena, results_r,
				  result_count_r, failed_uids_r, failed_count_r, e);
	if (ret == 0) {
		uint64_t modseq = 0;

		for (size_t i = 0; i < *result_count_r; i++) {
			if ((*results_r)[i].changed && (*results_r)[i].modseq > modseq)
				modseq = (*results_r)[i].modseq;
		}
		if (modseq > 0)
			store_changed(st, mailbox_id, modseq);
	}
	free(norm);
out_kw:
	free(kw);
	return ret;
}

int store_expunge(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		  size_t set_count, bool deleted_only, struct arena *arena, uint32_t **uids_r,
		  size_t *count_r, uint64_t *modseq_r, struct store_error *err)
{
	struct store_uid_range *norm;
	size_t norm_count;
	int ret;
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0 ||
	    uid_set_normalize(set, set_count, &norm, &norm_count, e) < 0)
		return -1;
	ret = st->v->expunge(st, mailbox_id, norm, norm_count, deleted_only, arena, uids_r, count_r,
			     modseq_r, e);
	if (ret == 0 && *count_r > 0)
		store_changed(st, mailbox_id, *modseq_r);
	free(norm);
	return ret;
}

int store_copy(struct store *st, int64_t src_mailbox_id, const struct store_uid_range *set,
	       size_t set_count, int64_t dst_mailbox_id, bool move, struct arena *arena,
	       struct store_copy_result *result_r, struct store_error *err)
{
	struct store_uid_range *norm;
	size_t norm_count;
	int ret;
	ERR_OR_SINK(err);

	if (id_check(src_mailbox_id, "mailbox", e) < 0 ||
	    id_check(dst_mailbox_id, "mailbox", e) < 0)
		return -1;
	if (move && src_mailbox_id == dst_mailbox_id) {
		store_error_set(e, STORE_INVALID, "cannot move messages into their own mailbox");
		return -1;
	}
	if (uid_set_normalize(set, set_count, &norm, &norm_count, e) < 0)
		return -1;
	ret = st->v->copy(st, src_mailbox_id, norm, norm_count, dst_mailbox_id, move, arena,
			  result_r, e);
	if (ret == 0 && result_r->count > 0) {
		store_changed(st, dst_mailbox_id, 0);
		if (move)
			store_changed(st, src_mailbox_id, result_r->src_modseq);
	}
	free(norm);
	return ret;
}

int store_fetch(struct store *st, int64_t mailbox_id, const struct store_uid_range *set,
		size_t set_count, unsigned int fields, uint64_t changed_since, store_fetch_cb *cb,
		void *ctx, struct store_error *err)
{
	struct store_uid_range *norm;
	size_t norm_count;
	int ret;
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	if ((fields & ~(unsigned int)STORE_FETCH_ALL) != 0 || cb == NULL ||
	    changed_since > INT64_MAX) {
		store_error_set(e, STORE_INVALID, "invalid fetch request");
		return -1;
	}
	if (uid_set_normalize(set, set_count, &norm, &norm_count, e) < 0)
		return -1;
	ret = st->v->fetch(st, mailbox_id, norm, norm_count, fields, changed_since, cb, ctx, e);
	free(norm);
	return ret;
}

int store_changes_since(struct store *st, int64_t mailbox_id, uint64_t modseq,
			struct arena *arena, struct store_flags_result **changed_r,
			size_t *changed_count_r, uint32_t **vanished_r, size_t *vanished_count_r,
			struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	if (modseq > INT64_MAX) {
		store_error_set(e, STORE_INVALID, "MODSEQ out of range");
		return -1;
	}
	return st->v->changes_since(st, mailbox_id, modseq, arena, changed_r, changed_count_r,
				    vanished_r, vanished_count_r, e);
}

int store_search(struct store *st, int64_t mailbox_id, enum store_search_key key,
		 const char *value, struct arena *arena, uint32_t **uids_r, size_t *count_r,
		 struct store_error *err)
{
	const char **words;
	size_t word_count;
	ERR_OR_SINK(err);

	if (id_check(mailbox_id, "mailbox", e) < 0)
		return -1;
	if ((unsigned int)key >= STORE_SEARCH_KEY_COUNT || value == NULL) {
		store_error_set(e, STORE_INVALID, "invalid search criterion");
		return -1;
	}
	store_search_words(value, arena, &words, &word_count);
	return st->v->search(st, mailbox_id, key, value, words, word_count, arena, uids_r, count_r,
			     e);
}

/* ---- Sieve ------------------------------------------------------------ */

int store_sieve_put(struct store *st, int64_t account_id, const char *name,
		    const char *content, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 || sieve_name_check(name, e) < 0)
		return -1;
	if (content == NULL || strnlen(content,
				       STORE_SIEVE_SCRIPT_MAX + 1) > STORE_SIEVE_SCRIPT_MAX) {
		store_error_set(e, STORE_INVALID, "script missing or larger than %d bytes",
				STORE_SIEVE_SCRIPT_MAX);
		return -1;
	}
	return st->v->sieve_put(st, account_id, name, content, e);
}

int store_sieve_get(struct store *st, int64_t account_id, const char *name,
		    struct arena *arena, struct store_sieve_script *script_r,
		    struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 || sieve_name_check(name, e) < 0)
		return -1;
	return st->v->sieve_get(st, account_id, name, arena, script_r, e);
}

int store_sieve_get_active(struct store *st, int64_t account_id, struct arena *arena,
			   struct store_sieve_script *script_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->sieve_get(st, account_id, NULL, arena, script_r, e);
}

int store_sieve_list(struct store *st, int64_t account_id, struct arena *arena,
		     struct store_sieve_script **scripts_r, size_t *count_r,
		     struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0)
		return -1;
	return st->v->sieve_list(st, account_id, arena, scripts_r, count_r, e);
}

int store_sieve_activate(struct store *st, int64_t account_id, const char *name,
			 struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 || (name != NULL && sieve_name_check(name,
											e) < 0))
		return -1;
	return st->v->sieve_activate(st, account_id, name, e);
}

int store_sieve_delete(struct store *st, int64_t account_id, const char *name,
		       struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 || sieve_name_check(name, e) < 0)
		return -1;
	return st->v->sieve_delete(st, account_id, name, e);
}

int store_sieve_rename(struct store *st, int64_t account_id, const char *old_name,
		       const char *new_name, struct store_error *err)
{
	ERR_OR_SINK(err);

	if (id_check(account_id, "account", e) < 0 || sieve_name_check(old_name, e) < 0 ||
	    sieve_name_check(new_name, e) < 0)
		return -1;
	return st->v->sieve_rename(st, account_id, old_name, new_name, e);
}

/* ---- auth rate limiting ----------------------------------------------- */

#define AUTH_KEY_MAX 320

/* Printable, at most AUTH_KEY_MAX bytes, ASCII lower-cased into out. */
static int auth_key_check(const char *key, const char *what, char *out, struct store_error *err)
{
	size_t len;

	if (key == NULL || !text_is_printable(key, AUTH_KEY_MAX)) {
		store_error_set(err, STORE_INVALID, "invalid %s", what);
		return -1;
	}
	len = strlen(key);
	for (size_t i = 0; i <= len; i++)
		out[i] = (key[i] >= 'A' && key[i] <= 'Z') ? (char)(key[i] - 'A' + 'a') : key[i];
	return 0;
}

int store_auth_attempt_add(struct store *st, const char *ip, const char *username, bool success,
			   int64_t at, struct store_error *err)
{
	char ipn[AUTH_KEY_MAX + 1], user[AUTH_KEY_MAX + 1];
	ERR_OR_SINK(err);

	if (auth_key_check(ip, "IP address", ipn, e) < 0 ||
	    (username != NULL && auth_key_check(username, "username", user, e) < 0))
		return -1;
	return st->v->auth_attempt_add(st, ipn, username != NULL ? user : NULL, success, at, e);
}

int store_auth_failures(struct store *st, const char *ip, const char *username, int64_t since,
			uint32_t *count_r, struct store_error *err)
{
	char ipn[AUTH_KEY_MAX + 1], user[AUTH_KEY_MAX + 1];
	ERR_OR_SINK(err);

	if (ip == NULL && username == NULL) {
		store_error_set(e, STORE_INVALID, "neither IP address nor username given");
		return -1;
	}
	if ((ip != NULL && auth_key_check(ip, "IP address", ipn, e) < 0) ||
	    (username != NULL && auth_key_check(username, "username", user, e) < 0))
		return -1;
	return st->v->auth_failures(st, ip != NULL ? ipn : NULL, username != NULL ? user : NULL,
				    since, count_r, e);
}

static int block_kind_check(enum store_block_kind kind, struct store_error *err)
{
	if ((unsigned int)kind < STORE_BLOCK_KIND_COUNT)
		return 0;
	store_error_set(err, STORE_INVALID, "invalid block kind");
	return -1;
}

int store_auth_block_set(struct store *st, enum store_block_kind kind, const char *key,
			 int64_t until, struct store_error *err)
{
	char k[AUTH_KEY_MAX + 1];
	ERR_OR_SINK(err);

	if (block_kind_check(kind, e) < 0 || auth_key_check(key, "block key", k, e) < 0)
		return -1;
	if (until <= 0) {
		store_error_set(e, STORE_INVALID, "block end must be a time");
		return -1;
	}
	return st->v->auth_block_set(st, kind, k, until, e);
}

int store_auth_block_get(struct store *st, enum store_block_kind kind, const char *key,
			 int64_t now, int64_t *until_r, struct store_error *err)
{
	char k[AUTH_KEY_MAX + 1];
	ERR_OR_SINK(err);

	if (block_kind_check(kind, e) < 0 || auth_key_check(key, "block key", k, e) < 0)
		return -1;
	return st->v->auth_block_get(st, kind, k, now, until_r, e);
}

int store_auth_block_clear(struct store *st, enum store_block_kind kind, const char *key,
			   struct store_error *err)
{
	char k[AUTH_KEY_MAX + 1];
	ERR_OR_SINK(err);

	if (block_kind_check(kind, e) < 0 || auth_key_check(key, "block key", k, e) < 0)
		return -1;
	return st->v->auth_block_set(st, kind, k, 0, e);
}

int store_auth_prune(struct store *st, int64_t before, struct store_error *err)
{
	ERR_OR_SINK(err);

	return st->v->auth_prune(st, before, e);
}

int store_auth_block_list(struct store *st, int64_t now, struct arena *arena,
			  struct store_auth_block **blocks_r, size_t *count_r,
			  struct store_error *err)
{
	ERR_OR_SINK(err);

	if (st->v->auth_block_list == NULL) {
		store_error_set(e, STORE_INTERNAL, "auth_block_list: not supported by the %s driver",
				st->v->name);
		return -1;
	}
	return st->v->auth_block_list(st, now, arena, blocks_r, count_r, e);
}

/* ---- cleanup and blob bookkeeping ------------------------------------- */

/* A driver that has not grown these yet says so instead of crashing. */
#define CLEANUP_VFUNC(st, fn, e)                                                             \
	do {                                                                                 \
		if ((st)->v->fn == NULL) {                                                   \
			store_error_set(e, STORE_INTERNAL, "%s: not supported by the %s driver", \
					#fn, (st)->v->name);                                 \
			return -1;                                                           \
		}                                                                            \
	} while (0)

int store_cleanup_try_lock(struct store *st, bool *acquired_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, cleanup_try_lock, e);
	return st->v->cleanup_try_lock(st, acquired_r, e);
}

int store_cleanup_unlock(struct store *st, struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, cleanup_unlock, e);
	return st->v->cleanup_unlock(st, e);
}

int store_cleanup_expunged(struct store *st, int64_t before, uint64_t *removed_r,
			   struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, cleanup_expunged, e);
	return st->v->cleanup_expunged(st, before, removed_r, e);
}

int store_cleanup_accounts(struct store *st, int64_t before, uint64_t *messages_r,
			   uint64_t *accounts_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, cleanup_accounts, e);
	return st->v->cleanup_accounts(st, before, messages_r, accounts_r, e);
}

int store_cleanup_unreferenced(struct store *st, int64_t after_id, size_t limit,
			       struct arena *arena, struct store_blob_ref **refs_r,
			       size_t *count_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, cleanup_unreferenced, e);
	if (limit == 0 || after_id < 0) {
		store_error_set(e, STORE_INVALID, "cleanup: limit must be > 0, after_id >= 0");
		return -1;
	}
	return st->v->cleanup_unreferenced(st, after_id, limit, arena, refs_r, count_r, e);
}

int store_cleanup_forget(struct store *st, const int64_t *data_ids, size_t count,
			 uint64_t *forgotten_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, cleanup_forget, e);
	if (count == 0) {
		*forgotten_r = 0;
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		if (data_ids[i] <= 0) {
			store_error_set(e, STORE_INVALID, "cleanup: data ids must be > 0");
			return -1;
		}
	}
	return st->v->cleanup_forget(st, data_ids, count, forgotten_r, e);
}

int store_blob_list(struct store *st, int64_t after_id, size_t limit, struct arena *arena,
		    struct store_blob_ref **refs_r, size_t *count_r, struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, blob_list, e);
	if (limit == 0 || after_id < 0) {
		store_error_set(e, STORE_INVALID, "blob list: limit must be > 0, after_id >= 0");
		return -1;
	}
	return st->v->blob_list(st, after_id, limit, arena, refs_r, count_r, e);
}

int store_blob_set_key_id(struct store *st, int64_t data_id, uint32_t blob_key_id,
			  struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, blob_set_key_id, e);
	if (data_id <= 0) {
		store_error_set(e, STORE_INVALID, "blob: data id must be > 0");
		return -1;
	}
	return st->v->blob_set_key_id(st, data_id, blob_key_id, e);
}

int store_cleanup_hashes_referenced(struct store *st, int64_t account_id,
				    const char *const *hashes, size_t count, bool *referenced_r,
				    struct store_error *err)
{
	ERR_OR_SINK(err);

	CLEANUP_VFUNC(st, cleanup_hashes_referenced, e);
	if (account_id <= 0 || count == 0 || count > STORE_CLEANUP_HASHES_MAX) {
		store_error_set(e, STORE_INVALID,
				"cleanup: account id > 0 and 1..%d hashes expected",
				STORE_CLEANUP_HASHES_MAX);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		size_t n = 0;

		for (; hashes[i][n] != '\0' && n <= 64; n++) {
			char c = hashes[i][n];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				break;
		}
		if (n != 64 || hashes[i][n] != '\0') {
			store_error_set(e, STORE_INVALID,
					"cleanup: a hash must be 64 lowercase hex digits");
			return -1;
		}
	}
	return st->v->cleanup_hashes_referenced(st, account_id, hashes, count, referenced_r, e);
}
