/* Header fields of one MIME part: Content-* for BODYSTRUCTURE, envelope
   fields for the root and encapsulated messages, References for THREAD.

   Which occurrence counts follows Dovecot 2.3: the first Content-Type,
   Content-ID, Content-Description, Content-MD5 and Content-Location; the
   first valid Content-Transfer-Encoding and Content-Language; the first
   Content-Disposition with parameters (else the last one); the last Date,
   Subject, Message-ID and In-Reply-To; address headers add up. */
#include <string.h>
#include <strings.h>

#include "mime-private.h"

enum env_list { ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO, ENV_CC, ENV_BCC, ENV_LIST_COUNT };

static_assert(ENV_LIST_COUNT == ARRAY_SIZE(((struct mime_hdr *)0)->env_tail),
	      "env_tail out of sync");

static bool name_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* an unstructured value, NUL replaced by U+FFFD (Dovecot does the same) */
static const char *value_dup(struct arena *a, const char *v, size_t len)
{
	size_t nuls = 0, o = 0;
	char *out;

	for (size_t i = 0; i < len; i++)
		nuls += v[i] == '\0';
	if (nuls == 0)
		return arena_strndup(a, v, len);
	out = arena_alloc(a, len + 2 * nuls + 1);
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '\0') {
			out[o++] = v[i];
			continue;
		}
		memcpy(out + o, "\xef\xbf\xbd", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

void mime_hdr_init(struct mime_hdr *h)
{
	*h = (struct mime_hdr){ .addr_budget = MIME_ADDRESS_MAX };
	buf_init(&h->tmp, 0);
}

void mime_hdr_deinit(struct mime_hdr *h)
{
	buf_free(&h->tmp);
}

void mime_hdr_begin(struct mime_hdr *h, struct mime_part *part, bool with_envelope,
		    bool is_root, bool is_mime, struct arena *a)
{
	struct buf tmp = h->tmp;
	unsigned int budget = h->addr_budget;

	*h = (struct mime_hdr){ .part = part, .is_root = is_root, .is_mime = is_mime,
				.tmp = tmp, .addr_budget = budget };
	if (with_envelope) {
		struct mime_envelope *env = arena_alloc(a, sizeof(*env));

		h->env = env;
		h->env_tail[ENV_FROM] = &env->from;
		h->env_tail[ENV_SENDER] = &env->sender;
		h->env_tail[ENV_REPLY_TO] = &env->reply_to;
		h->env_tail[ENV_TO] = &env->to;
		h->env_tail[ENV_CC] = &env->cc;
		h->env_tail[ENV_BCC] = &env->bcc;
		part->envelope = env;
	}
}

static enum mime_ct_kind ct_kind(const char *ct, size_t len)
{
	if (len == 14 && strncasecmp(ct, "message/rfc822", 14) == 0)
		return MIME_CT_MESSAGE;
	if (len >= 4 && strncasecmp(ct, "text", 4) == 0 && (len == 4 || ct[4] == '/'))
		return MIME_CT_TEXT;
	if (len >= 10 && strncasecmp(ct, "multipart/", 10) == 0) {
		if (len == 16 && strncasecmp(ct + 10, "digest", 6) == 0)
			return MIME_CT_DIGEST;
		return MIME_CT_MULTIPART;
	}
	return MIME_CT_OTHER;
}

static void parse_content_type(struct mime_hdr *h, struct arena *a, const char *v, size_t len)
{
	struct mime_part *part = h->part;
	struct mime_lex l;
	const char *ct, *slash;
	int ret;

	mime_lex_init(&l, v, len, NULL);
	(void)mime_lex_skip_lwsp(&l);
	buf_clear(&h->tmp);
	ret = mime_lex_content_type(&l, &h->tmp);
	ct = h->tmp.data == NULL ? "" : h->tmp.data;
	h->ct_kind = ct_kind(ct, h->tmp.len);
	slash = memchr(ct, '/', h->tmp.len);
	if (slash == NULL) {
		part->type = arena_strndup(a, ct, h->tmp.len);
		part->subtype = "";
	} else {
		part->type = arena_strndup(a, ct, (size_t)(slash - ct));
		part->subtype = arena_strdup(a, slash + 1);
	}
	if (ret < 0)
		return; /* broken: keep what we got, no parameters */
	mime_params_parse(&l, a, &part->params, &part->param_count);
	if (h->ct_kind != MIME_CT_MULTIPART && h->ct_kind != MIME_CT_DIGEST)
		return;
	for (unsigned int i = 0; i < part->param_count; i++) {
		if (strcasecmp(part->params[i].name, "boundary") == 0) {
			const char *b = part->params[i].value;

			h->boundary = arena_strndup(a, b, MIN(strlen(b), MIME_BOUNDARY_MAX));
			break;
		}
	}
}

static void parse_encoding(struct mime_hdr *h, struct arena *a, const char *v, size_t len)
{
	struct mime_lex l;

	mime_lex_init(&l, v, len, NULL);
	(void)mime_lex_skip_lwsp(&l);
	buf_clear(&h->tmp);
	if (mime_lex_token(&l, &h->tmp) >= 0 && mime_lex_skip_lwsp(&l) == 0 && h->tmp.len > 0)
		h->part->encoding = arena_strndup(a, h->tmp.data, h->tmp.len);
}

static void parse_disposition(struct mime_hdr *h, struct arena *a, const char *v, size_t len)
{
	struct mime_part *part = h->part;
	struct mime_lex l;

	mime_lex_init(&l, v, len, NULL);
	(void)mime_lex_skip_lwsp(&l);
	buf_clear(&h->tmp);
	if (mime_lex_token(&l, &h->tmp) < 0)
		return;
	part->disposition = arena_strndup(a, h->tmp.data == NULL ? "" : h->tmp.data, h->tmp.len);
	mime_params_parse(&l, a, &part->disp_params, &part->disp_param_count);
}

/* Language-Header = "Content-Language" ":" 1#Language-tag */
static void parse_language(struct mime_hdr *h, struct arena *a, const char *v, size_t len)
{
	const char **langs = NULL;
	unsigned int count = 0, cap = 0;
	struct mime_lex l;

	mime_lex_init(&l, v, len, NULL);
	(void)mime_lex_skip_lwsp(&l);
	buf_clear(&h->tmp);
	while (mime_lex_atom(&l, &h->tmp) >= 0) {
		if (count == cap) {
			const char **n;

			cap = cap == 0 ? 4 : cap * 2;
			n = arena_alloc(a, cap * sizeof(*n));
			if (count > 0)
				memcpy(n, langs, count * sizeof(*n));
			langs = n;
		}
		langs[count++] = arena_strndup(a, h->tmp.data, h->tmp.len);
		buf_clear(&h->tmp);
		if (l.p >= l.end || *l.p != ',')
			break;
		l.p++;
		(void)mime_lex_skip_lwsp(&l);
	}
	if (count > 0) {
		h->part->languages = langs;
		h->part->language_count = count;
	}
}

static void content_field(struct mime_hdr *h, struct arena *a, const char *name, size_t nlen,
			  const char *v, size_t len)
{
	struct mime_part *part = h->part;

	if (name_is(name, nlen, "Type")) {
		/* a Content-Type makes the part MIME even without MIME-Version */
		h->is_mime = true;
		if (!h->seen_ct) {
			h->seen_ct = true;
			parse_content_type(h, a, v, len);
		}
	} else if (name_is(name, nlen, "Transfer-Encoding")) {
		if (part->encoding == NULL)
			parse_encoding(h, a, v, len);
	} else if (name_is(name, nlen, "ID")) {
		if (!h->seen_id) {
			h->seen_id = true;
			part->id = value_dup(a, v, len);
		}
	} else if (name_is(name, nlen, "Description")) {
		if (!h->seen_desc) {
			h->seen_desc = true;
			part->description = value_dup(a, v, len);
		}
	} else if (name_is(name, nlen, "MD5")) {
		if (!h->seen_md5) {
			h->seen_md5 = true;
			part->md5 = value_dup(a, v, len);
		}
	} else if (name_is(name, nlen, "Location")) {
		if (!h->seen_loc) {
			h->seen_loc = true;
			part->location = value_dup(a, v, len);
		}
	} else if (name_is(name, nlen, "Language")) {
		if (part->language_count == 0)
			parse_language(h, a, v, len);
	} else if (name_is(name, nlen, "Disposition")) {
		if (part->disp_param_count == 0)
			parse_disposition(h, a, v, len);
	}
}

static void add_addresses(struct mime_hdr *h, enum env_list which, struct arena *a,
			  const char *v, size_t len)
{
	struct mime_address *list = mime_address_list_parse(v, len, a, &h->addr_budget);

	if (list == NULL)
		return;
	*h->env_tail[which] = list;
	while (list->next != NULL)
		list = list->next;
	h->env_tail[which] = &list->next;
}

static void envelope_field(struct mime_hdr *h, struct arena *a, const char *name, size_t nlen,
			   const char *v, size_t len)
{
	static const char *const list_names[ENV_LIST_COUNT] = {
		[ENV_FROM] = "From", [ENV_SENDER] = "Sender", [ENV_REPLY_TO] = "Reply-To",
		[ENV_TO] = "To",     [ENV_CC] = "Cc",         [ENV_BCC] = "Bcc",
	};
	struct mime_envelope *env = h->env;

	if (name_is(name, nlen, "Date"))
		env->date = value_dup(a, v, len);
	else if (name_is(name, nlen, "Subject"))
		env->subject = value_dup(a, v, len);
	else if (name_is(name, nlen, "Message-ID"))
		env->message_id = value_dup(a, v, len);
	else if (name_is(name, nlen, "In-Reply-To"))
		env->in_reply_to = value_dup(a, v, len);
	else {
		for (unsigned int i = 0; i < ENV_LIST_COUNT; i++) {
			if (name_is(name, nlen, list_names[i])) {
				add_addresses(h, i, a, v, len);
				break;
			}
		}
	}
}

bool mime_hdr_wants(const struct mime_hdr *h, const char *name, size_t name_len)
{
	static const char *const envelope[] = { "Date", "Subject", "From",	   "Sender",
						"Reply-To", "To",	   "Cc",	   "Bcc",
						"In-Reply-To", "Message-ID" };

	if ((name_len > 8 && strncasecmp(name, "Content-", 8) == 0) ||
	    name_is(name, name_len, "MIME-Version"))
		return true;
	if (h->is_root && name_is(name, name_len, "References"))
		return true;
	if (h->env == NULL)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(envelope); i++) {
		if (name_is(name, name_len, envelope[i]))
			return true;
	}
	return false;
}

void mime_hdr_field(struct mime_hdr *h, struct arena *a, const char *name, size_t name_len,
		    const char *value, size_t value_len)
{
	if (name_len > 8 && strncasecmp(name, "Content-", 8) == 0)
		content_field(h, a, name + 8, name_len - 8, value, value_len);
	else if (name_is(name, name_len, "MIME-Version"))
		h->is_mime = true;
	if (h->env != NULL)
		envelope_field(h, a, name, name_len, value, value_len);
	if (h->is_root && name_is(name, name_len, "References")) {
		h->references = value_dup(a, value, value_len);
	}
}

void mime_hdr_end(struct mime_hdr *h, struct arena *a)
{
	struct mime_part *part = h->part;
	const char *name;

	if (!h->is_mime) {
		/* without MIME-Version or Content-Type, Content-* mean nothing */
		part->type = part->subtype = NULL;
		part->params = part->disp_params = NULL;
		part->param_count = part->disp_param_count = 0;
		part->id = part->description = part->encoding = NULL;
		part->md5 = part->location = part->disposition = NULL;
		part->languages = NULL;
		part->language_count = 0;
		h->ct_kind = MIME_CT_NONE;
		h->boundary = NULL;
		return;
	}
	part->flags |= MIME_PART_IS_MIME;
	for (unsigned int i = 0; i < part->param_count; i++) {
		if (strcasecmp(part->params[i].name, "charset") == 0) {
			part->charset = part->params[i].value;
			break;
		}
	}
	name = mime_param_decoded(part->disp_params, part->disp_param_count, "filename", a);
	if (name == NULL)
		name = mime_param_decoded(part->params, part->param_count, "name", a);
	part->filename = name;
}
