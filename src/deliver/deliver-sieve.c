/* Sieve at delivery (sora-features §3): loop check, Sora's built-in
   default script, then the account's active script (which overrides the
   default unless all it does is an implicit keep), then the actions:

     reject/ereject  LMTP 550 5.7.1 with the reason; nothing stored
     keep/fileinto   stored with the imap4flags flags and keywords,
                     :create makes the mailbox, after editheader edits
     discard         nothing stored
     redirect        into the relay queue with X-Sora-Loop and a hop
                     counter; no relay, too many hops or over
                     redirect_rate_limit: kept in INBOX instead
     vacation        RFC 3834 reply into the relay queue unless suppressed
                     (RFC 5230 §4.5/§5); one per (account, sender, handle)
                     per period, recorded in the "vacation" records

   A script that does not compile or fails at run time means an implicit
   keep and a log line. Everything the LMTP reply promises is durable
   before deliver_run() returns: stores committed, relay entries fsynced. */
#include <ctype.h>
#include <stdint.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../config/config.h"
#include "../lib/arena.h"
#include "../lib/base64.h"
#include "../lib/log.h"
#include "../lib/str.h"
#include "../lib/util.h"
#include "../relay/relay.h"
#include "../sieve/sieve.h"
#include "../store/store.h"
#include "deliver-private.h"
#include "records.h"

/* Sora's default.sieve: spam to Junk, a +detail to its own mailbox */
static const char default_script[] =
	"require [\"fileinto\", \"mailbox\", \"envelope\", \"subaddress\", \"variables\"];\n"
	"if header :is \"X-Spam\" \"Yes\" {\n"
	"    fileinto \"Junk\";\n"
	"} elsif envelope :detail :matches \"to\" \"*\" {\n"
	"    if not string :is \"${1}\" \"\" {\n"
	"        set :lower \"detail\" \"${1}\";\n"
	"        fileinto :create \"${detail}\";\n"
	"    }\n"
	"}\n";

#define LOOP_HEADER "X-Sora-Loop"
#define HOPS_HEADER "X-Sora-Redirect-Hops"

/* ---- header access over the raw message ------------------------------- */

/* End of the header block (the blank line's first byte, or len). */
static size_t header_end(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && i + 1 < len &&
		    (data[i + 1] == '\n' || (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')))
			return i + 1;
	}
	return len;
}

/* Calls fn for every header field: name and unfolded, trimmed value. */
typedef bool header_fn(struct slice name, const char *value, void *ctx);

static void headers_each(const char *data, size_t len, struct arena *a, header_fn *fn, void *ctx)
{
	size_t end = header_end(data, len), pos = 0;

	while (pos < end) {
		size_t line_end = pos, colon;
		struct buf v;

		/* the field runs until a line that does not start with WSP */
		for (;;) {
			const char *lf = memchr(data + line_end, '\n', end - line_end);

			line_end = lf == NULL ? end : (size_t)(lf - data) + 1;
			if (line_end >= end || (data[line_end] != ' ' && data[line_end] != '\t'))
				break;
		}
		colon = pos;
		while (colon < line_end && data[colon] != ':' && data[colon] != '\n')
			colon++;
		if (colon < line_end && data[colon] == ':') {
			buf_init(&v, 0);
			for (size_t i = colon + 1; i < line_end; i++) {
				if (data[i] != '\r' && data[i] != '\n')
					(void)buf_append(&v, &data[i], 1);
			}
			if (!fn(slice_from(data + pos, colon - pos),
				arena_strdup(a, v.data != NULL ? slice_trim(slice_cstr(v.data)).ptr : ""),
				ctx)) {
				buf_free(&v);
				return;
			}
			buf_free(&v);
		}
		pos = line_end;
	}
}

struct header_find {
	const char *name;
	const char *value; /* the first */
	unsigned count;
	const char *contains; /* count only fields containing this (case-insensitive) */
};

static bool header_find_cb(struct slice name, const char *value, void *ctx)
{
	struct header_find *f = ctx;

	if (!slice_eq_ci(name, f->name))
		return true;
	if (f->contains != NULL && strcasestr(value, f->contains) == NULL)
		return true;
	if (f->value == NULL)
		f->value = value;
	f->count++;
	return true;
}

static const char *header_get(struct deliver_ctx *ctx, const char *name)
{
	struct header_find f = { .name = name };

	headers_each(ctx->data, ctx->len, ctx->arena, header_find_cb, &f);
	return f.value;
}

/* ---- the scripts ------------------------------------------------------ */

struct run_env {
	struct deliver_ctx *ctx;
	const char **own;
};

static bool env_mailbox_exists(void *arg, const char *name)
{
	struct run_env *e = arg;
	struct store_mailbox mb;

	return store_mailbox_get(e->ctx->ms->store, e->ctx->account_id, name, e->ctx->arena, &mb,
				 NULL) == 0 &&
	       !mb.is_noselect;
}

/* RFC 8579 names → our special-use bits */
static unsigned special_use_bit(const char *flag)
{
	static const struct {
		const char *name;
		unsigned bit;
	} map[] = {
		{ "\\All", STORE_SPECIAL_ALL },         { "\\Archive", STORE_SPECIAL_ARCHIVE },
		{ "\\Drafts", STORE_SPECIAL_DRAFTS },   { "\\Flagged", STORE_SPECIAL_FLAGGED },
		{ "\\Junk", STORE_SPECIAL_JUNK },       { "\\Sent", STORE_SPECIAL_SENT },
		{ "\\Trash", STORE_SPECIAL_TRASH },     { "\\Important", STORE_SPECIAL_IMPORTANT },
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (flag != NULL && strcasecmp(flag, map[i].name) == 0)
			return map[i].bit;
	}
	return 0;
}

/* The name of the account's mailbox carrying flag, or NULL. */
static const char *special_use_mailbox(struct deliver_ctx *ctx, const char *flag)
{
	unsigned bit = special_use_bit(flag);
	struct store_mailbox *boxes;
	size_t count;

	if (bit == 0 || store_mailbox_list(ctx->ms->store, ctx->account_id, ctx->arena, &boxes,
					   &count, NULL) < 0)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		if ((boxes[i].special_use & bit) != 0 && !boxes[i].is_noselect)
			return boxes[i].name;
	}
	return NULL;
}

static bool env_specialuse_exists(void *arg, const char *mailbox, const char *flag)
{
	struct run_env *e = arg;
	struct store_mailbox mb;
	unsigned bit = special_use_bit(flag);

	if (mailbox == NULL)
		return special_use_mailbox(e->ctx, flag) != NULL;
	return bit != 0 &&
	       store_mailbox_get(e->ctx->ms->store, e->ctx->account_id, mailbox, e->ctx->arena,
				 &mb, NULL) == 0 &&
	       (mb.special_use & bit) != 0;
}

/* RFC 8474 MAILBOXID as IMAP shows it: "M" + the mailbox id, of this account */
static const char *mailboxid_name(struct deliver_ctx *ctx, const char *id)
{
	struct store_mailbox mb;
	uint64_t n;

	if (id == NULL || id[0] != 'M' || str_to_u64(slice_cstr(id + 1), &n) < 0 ||
	    n > INT64_MAX ||
	    store_mailbox_get_by_id(ctx->ms->store, (int64_t)n, ctx->arena, &mb, NULL) < 0 ||
	    mb.account_id != ctx->account_id || mb.is_noselect)
		return NULL;
	return mb.name;
}

static bool env_mailboxid_exists(void *arg, const char *id)
{
	struct run_env *e = arg;

	return mailboxid_name(e->ctx, id) != NULL;
}

static bool env_duplicate(void *arg, const char *id, uint64_t seconds)
{
	struct run_env *e = arg;
	struct deliver_records *r = e->ctx->ms->records;
	int seen;

	if (r == NULL)
		return false;
	seen = deliver_record_seen(r, "duplicate", e->ctx->account_id, id,
				   (int64_t)time(NULL) - (int64_t)seconds);
	(void)deliver_record_add(r, "duplicate", e->ctx->account_id, id);
	return seen == 1;
}

static const char **own_addresses(struct deliver_ctx *ctx)
{
	struct store_credential *creds;
	size_t count = 0;
	const char **own;

	if (store_credential_list(ctx->ms->store, ctx->account_id, ctx->arena, &creds, &count,
				  NULL) < 0)
		count = 0;
	own = arena_alloc(ctx->arena, (count + 2) * sizeof(*own));
	for (size_t i = 0; i < count; i++)
		own[i] = creds[i].address;
	if (count == 0)
		own[count++] = ctx->primary;
	own[count] = NULL;
	return own;
}

static void limits_of(const struct config *cfg, struct sieve_limits *l)
{
	*l = (struct sieve_limits){
		.max_execution_ms = cfg != NULL ? cfg->sieve.max_execution_ms : 0,
		.max_redirects = 4,
	};
}

/* 0 with result filled, -1 when the script does not compile (logged). */
static int run_script(struct deliver_ctx *ctx, const char *what, const char *text,
		      const struct sieve_message *msg, struct run_env *renv,
		      struct sieve_result *result)
{
	const struct config *cfg = ctx->ms->cfg;
	const char *const *enabled = cfg != NULL ? cfg->sieve.enabled_extensions : NULL;
	struct sieve_env env = {
		.ctx = renv,
		.mailbox_exists = env_mailbox_exists,
		.duplicate_check = env_duplicate,
		.own_addresses = renv->own,
		.specialuse_exists = env_specialuse_exists,
		.mailboxid_exists = env_mailboxid_exists,
	};
	struct sieve_limits limits;
	struct sieve_script *script;
	struct sieve_error err;

	limits_of(cfg, &limits);
	/* the default script uses its own fixed set */
	if (strcmp(what, "default") == 0)
		enabled = NULL;
	if (sieve_compile_cached(text, strlen(text), enabled, &limits, &script, &err) < 0) {
		log_warn(NULL, "sieve.compile_failed", "account=%s script=%s error=%s",
			 log_str(ctx->primary), what, log_str(err.msg));
		return -1;
	}
	sieve_execute(script, msg, &env, &limits, result);
	sieve_script_free(&script);
	if (result->failed)
		/* RFC 5228 §2.10.6: the implicit keep, never a lost message */
		log_warn(NULL, "sieve.runtime_failed", "account=%s script=%s error=%s",
			 log_str(ctx->primary), what, log_str(result->error));
	return 0;
}

/* Only the implicit keep: the default script's result stands. */
static bool only_implicit_keep(const struct sieve_result *r)
{
	return r->implicit_keep && r->action_count == 1 && r->actions[0].type == SIEVE_ACT_KEEP &&
	       r->actions[0].flags == NULL && r->edit_count == 0;
}

/* ---- editheader -------------------------------------------------------- */

static bool edit_protected(const char *name)
{
	return strcasecmp(name, "Received") == 0 || strcasecmp(name, "Auto-Submitted") == 0;
}

/* The message with the edits applied, in order (RFC 5293). */
static void apply_edits(struct deliver_ctx *ctx, const struct sieve_result *r, struct buf *out)
{
	struct buf cur;

	buf_init(&cur, 0);
	(void)buf_append(&cur, ctx->data, ctx->len);
	for (size_t i = 0; i < r->edit_count; i++) {
		const struct sieve_header_edit *e = &r->edits[i];
		struct buf next;
		size_t end = header_end(cur.data, cur.len), pos = 0;

		if (e->name == NULL || edit_protected(e->name))
			continue;
		buf_init(&next, 0);
		if (e->add && !e->last)
			(void)buf_printf(&next, "%s: %s\r\n", e->name, e->value != NULL ? e->value : "");
		while (pos < end) {
			size_t line_end = pos, colon = pos;
			bool drop = false;

			for (;;) {
				const char *lf = memchr(cur.data + line_end, '\n', end - line_end);

				line_end = lf == NULL ? end : (size_t)(lf - cur.data) + 1;
				if (line_end >= end ||
				    (cur.data[line_end] != ' ' && cur.data[line_end] != '\t'))
					break;
			}
			while (colon < line_end && cur.data[colon] != ':')
				colon++;
			if (!e->add && colon < line_end &&
			    slice_eq_ci(slice_from(cur.data + pos, colon - pos), e->name)) {
				struct buf v;

				buf_init(&v, 0);
				for (size_t k = colon + 1; k < line_end; k++) {
					if (cur.data[k] != '\r' && cur.data[k] != '\n')
						(void)buf_append(&v, &cur.data[k], 1);
				}
				drop = e->value == NULL ||
				       strcmp(slice_trim(slice_cstr(v.data != NULL ? v.data : "")).ptr,
					      e->value) == 0;
				if (drop && e->value != NULL) {
					struct slice t = slice_trim(
						slice_cstr(v.data != NULL ? v.data : ""));

					drop = t.len == strlen(e->value);
				}
				buf_free(&v);
			}
			if (!drop)
				(void)buf_append(&next, cur.data + pos, line_end - pos);
			pos = line_end;
		}
		if (e->add && e->last)
			(void)buf_printf(&next, "%s: %s\r\n", e->name, e->value != NULL ? e->value : "");
		(void)buf_append(&next, cur.data + end, cur.len - end);
		buf_free(&cur);
		cur = next;
	}
	*out = cur;
}

/* ---- keep / fileinto --------------------------------------------------- */

struct store_state {
	bool stored_any, stored_inbox, tempfail, permfail;
	struct deliver_result first;
	char why[320];
};

static void flags_of(struct arena *a, const char *const *flags, uint32_t *bits_r,
		     const char ***keywords_r, size_t *count_r)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} sys[] = {
		{ "\\Seen", STORE_FLAG_SEEN },       { "\\Answered", STORE_FLAG_ANSWERED },
		{ "\\Flagged", STORE_FLAG_FLAGGED }, { "\\Deleted", STORE_FLAG_DELETED },
		{ "\\Draft", STORE_FLAG_DRAFT },
	};
	size_t n = 0, count = 0;

	*bits_r = 0;
	*keywords_r = NULL;
	*count_r = 0;
	if (flags == NULL)
		return;
	while (flags[n] != NULL)
		n++;
	*keywords_r = arena_alloc(a, (n + 1) * sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		bool is_sys = false;

		for (size_t k = 0; k < ARRAY_SIZE(sys); k++) {
			if (strcasecmp(flags[i], sys[k].name) == 0) {
				*bits_r |= sys[k].bit;
				is_sys = true;
			}
		}
		/* other \-flags (\Recent, unknown) are not storable */
		if (!is_sys && flags[i][0] != '\\' && flags[i][0] != '\0' &&
		    count < STORE_KEYWORDS_PER_MESSAGE_MAX)
			(*keywords_r)[count++] = flags[i];
	}
	*count_r = count;
}

static void file_copy(struct deliver_ctx *ctx, const char *mailbox, bool create,
		       const char *const *flags, const struct buf *msg, struct store_state *st)
{
	struct deliver_result r;
	const char **keywords;
	size_t kw_count;
	uint32_t bits;
	bool inbox = mailbox == NULL || strcasecmp(mailbox, "INBOX") == 0;

	if (!inbox && create) {
		struct store_error serr;
		int64_t id;

		/* :create (RFC 5490): an existing mailbox is fine */
		if (store_mailbox_create(ctx->ms->store, ctx->account_id, mailbox, 0, &id, &serr) <
			    0 &&
		    serr.code != STORE_EXISTS)
			log_info(NULL, "sieve.create_failed", "account=%s mailbox=%s error=%s",
				 log_str(ctx->primary), log_str(mailbox), log_str(serr.msg));
	}
	flags_of(ctx->arena, flags, &bits, &keywords, &kw_count);
	deliver_message_keywords(ctx->ms, ctx->primary, inbox ? NULL : mailbox, msg->data,
				 msg->len, bits, keywords, kw_count, 0, &r);
	if (r.status != DELIVER_OK) {
		if (r.status == DELIVER_TEMPFAIL)
			st->tempfail = true;
		else
			st->permfail = true;
		snprintf(st->why, sizeof(st->why), "%s", r.reason);
		return;
	}
	if (strcmp(r.mailbox, "INBOX") == 0)
		st->stored_inbox = true;
	if (!st->stored_any)
		st->first = r;
	st->stored_any = true;
}

/* ---- redirect ---------------------------------------------------------- */

static unsigned hops_of(struct deliver_ctx *ctx)
{
	const char *v = header_get(ctx, HOPS_HEADER);
	uint32_t n = 0;

	if (v == NULL || str_to_u32(slice_cstr(v), &n) < 0)
		return 0;
	return n;
}

/* 1 queued, 0 not possible (keep instead), -1 queue failure (451). */
static int redirect(struct deliver_ctx *ctx, const struct sieve_action *act, const struct buf *msg)
{
	const struct config *cfg = ctx->ms->cfg;
	unsigned hops = hops_of(ctx), done = 0;
	char id[RELAY_ID_LEN + 1], err[512], key[128];
	struct buf out;
	int ret;

	if (ctx->ms->relay == NULL) {
		log_info(NULL, "sieve.redirect_no_relay", "account=%s to=%s hint=\"kept in INBOX\"",
			 log_str(ctx->primary), log_str(act->address));
		return 0;
	}
	if (cfg != NULL && hops >= cfg->sieve.max_redirect_hops) {
		log_warn(NULL, "sieve.redirect_hops", "account=%s to=%s hops=%u max=%u",
			 log_str(ctx->primary), log_str(act->address), hops,
			 cfg->sieve.max_redirect_hops);
		return 0;
	}
	if (cfg != NULL && ctx->ms->records != NULL &&
	    deliver_record_count(ctx->ms->records, "redirect", ctx->account_id,
				 (int64_t)time(NULL) -
					 (int64_t)(cfg->sieve.redirect_rate_window_ms / 1000),
				 &done) == 0 &&
	    done >= cfg->sieve.redirect_rate_limit) {
		log_warn(NULL, "sieve.redirect_rate_limited", "account=%s to=%s count=%u limit=%u",
			 log_str(ctx->primary), log_str(act->address), done,
			 cfg->sieve.redirect_rate_limit);
		return 0;
	}
	buf_init(&out, 0);
	/* our marks on top: the loop marker names the account that sent it */
	(void)buf_printf(&out, LOOP_HEADER ": %s\r\n" HOPS_HEADER ": %u\r\n", ctx->primary,
			 hops + 1);
	(void)buf_append(&out, msg->data, msg->len);
	ret = relay_queue_add(ctx->ms->relay, "redirect", ctx->in->mail_from, act->address,
			      out.data, out.len, id, err, sizeof(err));
	buf_free(&out);
	if (ret < 0) {
		log_error(NULL, "sieve.redirect_queue_failed", "account=%s to=%s error=%s",
			  log_str(ctx->primary), log_str(act->address), log_str(err));
		return -1;
	}
	if (ctx->ms->records != NULL) {
		snprintf(key, sizeof(key), "%s", id);
		(void)deliver_record_add(ctx->ms->records, "redirect", ctx->account_id, key);
	}
	log_info(NULL, "sieve.redirect", "account=%s to=%s queue_id=%s hops=%u",
		 log_str(ctx->primary), log_str(act->address), id, hops + 1);
	relay_queue_kick(ctx->ms->relay);
	return 1;
}

/* ---- vacation ---------------------------------------------------------- */

static bool address_in(const char *field, const char *const *addrs)
{
	if (field == NULL || addrs == NULL)
		return false;
	for (size_t i = 0; addrs[i] != NULL; i++) {
		const char *p = field;
		size_t n = strlen(addrs[i]);

		/* a whole address: not preceded or followed by address characters */
		while (n > 0 && (p = strcasestr(p, addrs[i])) != NULL) {
			bool start = p == field || strchr(" <,\t\"", p[-1]) != NULL;
			bool end = p[n] == '\0' || strchr(" >,\t\"", p[n]) != NULL;

			if (start && end)
				return true;
			p += n;
		}
	}
	return false;
}

static const char *vacation_suppressed(struct deliver_ctx *ctx, const struct sieve_action *act,
				       const char *const *own)
{
	const char *v, *to = header_get(ctx, "To"), *cc = header_get(ctx, "Cc");
	const char *sender = ctx->in->mail_from;

	if (sender == NULL || sender[0] == '\0')
		return "null sender";
	if ((v = header_get(ctx, "Auto-Submitted")) != NULL && strcasecmp(v, "no") != 0)
		return "auto-submitted";
	if ((v = header_get(ctx, "Precedence")) != NULL &&
	    (strcasecmp(v, "bulk") == 0 || strcasecmp(v, "junk") == 0 ||
	     strcasecmp(v, "list") == 0))
		return "precedence";
	if (header_get(ctx, "List-Id") != NULL)
		return "mailing list";
	if (address_in(sender, own))
		return "from ourselves";
	/* RFC 5230 §4.5: only mail addressed to us (To or Cc) */
	if (!address_in(to, own) && !address_in(cc, own) &&
	    !address_in(to, act->vacation_addresses) && !address_in(cc, act->vacation_addresses))
		return "not addressed to the account";
	if (strncasecmp(sender, "MAILER-DAEMON", 13) == 0 || strncasecmp(sender, "owner-", 6) == 0)
		return "system sender";
	return NULL;
}

static bool is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80 || *s == '\r' || *s == '\n')
			return false;
	}
	return true;
}

/* Subject: as is when ASCII, else one RFC 2047 B-encoded UTF-8 word per
   up to 45 bytes (whole characters). */
static void subject_header(struct buf *out, const char *subject)
{
	size_t len = strlen(subject), pos = 0;

	if (is_ascii(subject)) {
		(void)buf_printf(out, "Subject: %s\r\n", subject);
		return;
	}
	(void)buf_append_str(out, "Subject:");
	while (pos < len) {
		size_t n = MIN((size_t)45, len - pos);
		char b64[64];

		/* do not cut a UTF-8 sequence */
		while (pos + n < len && n > 1 && ((unsigned char)subject[pos + n] & 0xc0) == 0x80)
			n--;
		b64[base64_encode(subject + pos, n, b64)] = '\0';
		(void)buf_printf(out, " =?UTF-8?B?%s?=\r\n", b64);
		pos += n;
	}
}

static void vacation_reply(struct deliver_ctx *ctx, const struct sieve_action *act,
			   const char *const *own, struct buf *out)
{
	const char *from = act->vacation_from != NULL && address_in(act->vacation_from, own)
				   ? act->vacation_from
				   : ctx->primary;
	const char *orig_subject = header_get(ctx, "Subject");
	const char *msgid = header_get(ctx, "Message-ID");
	const char *refs = header_get(ctx, "References");
	const char *subject;
	char date[64], host[128];
	time_t now = time(NULL);
	unsigned char rnd[8];
	struct tm tm;

	if (act->vacation_subject != NULL)
		subject = act->vacation_subject;
	else
		subject = arena_printf(ctx->arena, "Auto: %s",
				       orig_subject != NULL ? orig_subject : "");
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	(void)buf_printf(out, "From: <%s>\r\nTo: <%s>\r\n", from, ctx->in->mail_from);
	subject_header(out, subject);
	(void)buf_printf(out, "Date: %s\r\nMessage-ID: <vacation.%02x%02x%02x%02x%02x%02x%02x%02x@%s>\r\n",
			 date, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
			 host);
	if (msgid != NULL && is_ascii(msgid)) {
		(void)buf_printf(out, "In-Reply-To: %s\r\n", msgid);
		(void)buf_printf(out, "References: %s%s%s\r\n",
				 refs != NULL && is_ascii(refs) ? refs : "",
				 refs != NULL && is_ascii(refs) ? " " : "", msgid);
	}
	/* RFC 3834 §5 */
	(void)buf_append_str(out, "Auto-Submitted: auto-replied (vacation)\r\nMIME-Version: 1.0\r\n");
	if (act->vacation_mime) {
		/* :mime: the reason is a MIME entity, headers included */
		(void)buf_append_str(out, act->vacation_reason != NULL ? act->vacation_reason : "");
	} else {
		(void)buf_append_str(out, "Content-Type: text/plain; charset=utf-8\r\n"
					  "Content-Transfer-Encoding: 8bit\r\n\r\n");
		for (const char *p = act->vacation_reason != NULL ? act->vacation_reason : ""; *p;
		     p++) {
			if (*p == '\n' && (p == act->vacation_reason || p[-1] != '\r'))
				(void)buf_append_str(out, "\r");
			(void)buf_append(out, p, 1);
		}
	}
	if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0)
		(void)buf_append_str(out, "\r\n");
}

/* 0 done (sent or suppressed), -1 queue failure. */
static int vacation(struct deliver_ctx *ctx, const struct sieve_action *act,
		    const char *const *own)
{
	const char *why = vacation_suppressed(ctx, act, own);
	uint64_t period = act->vacation_seconds != 0 ? act->vacation_seconds : 7 * 86400;
	char key[600], id[RELAY_ID_LEN + 1], err[512];
	struct buf reply;
	int ret;

	if (why != NULL) {
		log_info(NULL, "sieve.vacation_suppressed", "account=%s sender=%s reason=\"%s\"",
			 log_str(ctx->primary), log_str(ctx->in->mail_from), why);
		return 0;
	}
	snprintf(key, sizeof(key), "%s\n%s", ctx->in->mail_from,
		 act->vacation_handle != NULL ? act->vacation_handle : "");
	for (char *p = key; *p != '\0' && *p != '\n'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (ctx->ms->records != NULL &&
	    deliver_record_seen(ctx->ms->records, "vacation", ctx->account_id, key,
				(int64_t)time(NULL) - (int64_t)period) == 1) {
		log_info(NULL, "sieve.vacation_suppressed", "account=%s sender=%s "
			 "reason=\"already replied\"", log_str(ctx->primary),
			 log_str(ctx->in->mail_from));
		return 0;
	}
	if (ctx->ms->relay == NULL) {
		log_info(NULL, "sieve.vacation_no_relay", "account=%s sender=%s",
			 log_str(ctx->primary), log_str(ctx->in->mail_from));
		return 0;
	}
	buf_init(&reply, 0);
	vacation_reply(ctx, act, own, &reply);
	/* RFC 3834 §3.3: the reply goes out with a null return path */
	ret = relay_queue_add(ctx->ms->relay, "vacation", "", ctx->in->mail_from, reply.data,
			      reply.len, id, err, sizeof(err));
	buf_free(&reply);
	if (ret < 0) {
		log_error(NULL, "sieve.vacation_queue_failed", "account=%s error=%s",
			  log_str(ctx->primary), log_str(err));
		return -1;
	}
	if (ctx->ms->records != NULL)
		(void)deliver_record_add(ctx->ms->records, "vacation", ctx->account_id, key);
	log_info(NULL, "sieve.vacation", "account=%s to=%s queue_id=%s", log_str(ctx->primary),
		 log_str(ctx->in->mail_from), id);
	relay_queue_kick(ctx->ms->relay);
	return 0;
}

/* ---- putting it together ---------------------------------------------- */

static void reject(struct deliver_ctx *ctx, const struct sieve_action *act,
		   struct deliver_result *res)
{
	const char *reason = act->reason != NULL && act->reason[0] != '\0' ? act->reason
									     : "Message rejected";
	size_t n = 0;

	res->status = DELIVER_REJECTED;
	/* one printable line for the LMTP reply */
	n = (size_t)snprintf(res->reply, sizeof(res->reply), "<%s> ", ctx->in->rcpt);
	for (const char *p = reason; *p != '\0' && n + 1 < sizeof(res->reply); p++)
		res->reply[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p;
	while (n > 0 && res->reply[n - 1] == ' ')
		n--;
	res->reply[MIN(n, sizeof(res->reply) - 1)] = '\0';
	snprintf(res->reason, sizeof(res->reason), "sieve %s", act->ereject ? "ereject" : "reject");
}

static void perform(struct deliver_ctx *ctx, const struct sieve_result *r, const char *const *own,
		    struct deliver_result *res)
{
	struct store_state st = { 0 };
	bool need_inbox = false, queue_failed = false;
	struct buf msg;

	for (size_t i = 0; i < r->action_count; i++) {
		if (r->actions[i].type == SIEVE_ACT_REJECT) {
			reject(ctx, &r->actions[i], res);
			return;
		}
	}
	apply_edits(ctx, r, &msg);
	for (size_t i = 0; i < r->action_count; i++) {
		const struct sieve_action *a = &r->actions[i];

		switch (a->type) {
		case SIEVE_ACT_KEEP:
			file_copy(ctx, NULL, false, a->flags, &msg, &st);
			break;
		case SIEVE_ACT_FILEINTO: {
			/* RFC 9042 :mailboxid, then RFC 8579 :specialuse win
			   over the name when they find a mailbox */
			const char *target = mailboxid_name(ctx, a->mailboxid);

			if (target == NULL)
				target = special_use_mailbox(ctx, a->special_use);
			file_copy(ctx, target != NULL ? target : a->mailbox,
				  target == NULL && a->create, a->flags, &msg, &st);
			break;
		}
		case SIEVE_ACT_REDIRECT: {
			int q = redirect(ctx, a, &msg);

			if (q == 0)
				need_inbox = true; /* Sora: no relay → INBOX */
			else if (q < 0)
				queue_failed = true;
			break;
		}
		case SIEVE_ACT_VACATION:
			if (vacation(ctx, a, own) < 0)
				queue_failed = true;
			break;
		case SIEVE_ACT_DISCARD:
		case SIEVE_ACT_REJECT:
			break;
		}
	}
	if (need_inbox && !st.stored_inbox)
		file_copy(ctx, NULL, false, NULL, &msg, &st);
	buf_free(&msg);
	if (st.tempfail || queue_failed) {
		res->status = DELIVER_TEMPFAIL;
		snprintf(res->reason, sizeof(res->reason), "%s",
			 queue_failed ? "relay queue write failed" : st.why);
	} else if (st.permfail && !st.stored_any) {
		res->status = DELIVER_PERMFAIL;
		snprintf(res->reason, sizeof(res->reason), "%s", st.why);
	} else if (st.stored_any) {
		*res = st.first;
	} else {
		/* discarded or sent on: nothing stored, all done */
		res->status = DELIVER_OK;
		snprintf(res->mailbox, sizeof(res->mailbox), "(none)");
	}
}

/* Sora: the Sieve envelope "to" keeps +detail; for an alias with a
   detail it becomes primarylocal+detail@primarydomain. */
static const char *sieve_envelope_to(struct deliver_ctx *ctx)
{
	const char *rcpt = ctx->in->rcpt, *plus, *at, *pat = strrchr(ctx->primary, '@');
	char norm[STORE_ADDRESS_MAX + 1];

	if (pat == NULL || store_address_normalize(rcpt, norm, NULL) < 0)
		return rcpt;
	at = strrchr(norm, '@');
	plus = strchr(norm, '+');
	if (plus == NULL || at == NULL || plus > at)
		return rcpt;
	/* the base address is the primary one: nothing to rewrite */
	if ((size_t)(plus - norm) == (size_t)(pat - ctx->primary) &&
	    strncmp(norm, ctx->primary, (size_t)(plus - norm)) == 0 && strcmp(at, pat) == 0)
		return rcpt;
	return arena_printf(ctx->arena, "%.*s+%.*s%s", (int)(pat - ctx->primary), ctx->primary,
			    (int)(at - plus - 1), plus + 1, pat);
}

void deliver_run(struct deliver_ctx *ctx, struct deliver_result *res)
{
	struct header_find loop = { .name = LOOP_HEADER, .contains = ctx->primary };
	struct sieve_result def = { 0 }, user = { 0 };
	const struct sieve_result *use;
	struct store_sieve_script active;
	struct store_error serr;
	struct sieve_message msg = {
		.data = ctx->data,
		.len = ctx->len,
		.envelope_from = ctx->in->mail_from,
		.envelope_to = sieve_envelope_to(ctx),
		.auth_user = ctx->in->auth_user,
		.now = (int64_t)time(NULL),
	};
	struct run_env renv = { .ctx = ctx };
	bool have_def, have_user = false;

	/* our own redirect came back to us */
	headers_each(ctx->data, ctx->len, ctx->arena, header_find_cb, &loop);
	if (loop.count > 0) {
		res->status = DELIVER_LOOP;
		snprintf(res->reason, sizeof(res->reason), LOOP_HEADER " names this account");
		return;
	}
	renv.own = own_addresses(ctx);
	have_def = run_script(ctx, "default", default_script, &msg, &renv, &def) == 0;
	if (store_sieve_get_active(ctx->ms->store, ctx->account_id, ctx->arena, &active, &serr) ==
	    0) {
		if (active.content != NULL)
			have_user = run_script(ctx, active.name, active.content, &msg, &renv,
					       &user) == 0;
	} else if (serr.code != STORE_NOT_FOUND) {
		/* not knowing the user's rules is no reason to ignore them:
		   the MTA tries again later */
		res->status = DELIVER_TEMPFAIL;
		snprintf(res->reason, sizeof(res->reason), "sieve script: %s", serr.msg);
		if (have_def)
			sieve_result_free(&def);
		return;
	}
	/* Sora: the user's script overrides the default one unless it only
	   keeps implicitly; a failed user script is an implicit keep */
	if (have_user && (user.failed || !only_implicit_keep(&user) || !have_def))
		use = &user;
	else if (have_def)
		use = &def;
	else
		use = NULL;
	if (use == NULL)
		deliver_message(ctx->ms, ctx->primary, NULL, ctx->data, ctx->len, 0, 0, res);
	else
		perform(ctx, use, renv.own, res);
	if (have_def)
		sieve_result_free(&def);
	if (have_user)
		sieve_result_free(&user);
}
