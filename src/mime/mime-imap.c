/* BODYSTRUCTURE, BODY and ENVELOPE text (RFC 9051 §7.5.2), byte for byte
   what Dovecot 2.3 writes for the same message:
   - strings are quoted unless they hold CR, LF, 8-bit bytes or more than
     four quoted-specials: then they are literals {n}\r\n...;
   - the envelope subject and display names are cleaned "for humans" (tabs
     and runs of blanks become one space, blanks trimmed) and are written
     as literals whenever cleaning changed something;
   - a text part without a charset gets ("charset" "us-ascii") added, a
     multipart without parts gets an empty text/plain one, a multipart or
     message/rfc822 left unparsed (depth limit) is application/octet-stream. */
#include <string.h>
#include <strings.h>

#include "mime-private.h"

#define MAX_QUOTED_ESCAPES 4

static int add(struct buf *out, const char *s)
{
	return buf_append_str(out, s);
}

static int add_literal(struct buf *out, const char *s, size_t len)
{
	if (buf_printf(out, "{%zu}\r\n", len) < 0)
		return -1;
	return buf_append(out, s, len);
}

int mime_imap_nstring(struct buf *out, const char *s)
{
	unsigned int escapes = 0;
	size_t len;

	if (s == NULL)
		return add(out, "NIL");
	len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			if (++escapes > MAX_QUOTED_ESCAPES)
				return add_literal(out, s, len);
		} else if (c == '\r' || c == '\n' || c >= 0x80) {
			return add_literal(out, s, len);
		}
	}
	if (add(out, "\"") < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if ((s[i] == '"' || s[i] == '\\') && buf_append(out, "\\", 1) < 0)
			return -1;
		if (buf_append(out, &s[i], 1) < 0)
			return -1;
	}
	return add(out, "\"");
}

/* unfolded values: line breaks dropped, a space kept between words */
static int nstring_nolf(struct buf *out, const char *s)
{
	struct buf tmp;
	int ret;

	if (s == NULL || strpbrk(s, "\r\n") == NULL)
		return mime_imap_nstring(out, s);
	buf_init(&tmp, 0);
	for (size_t i = 0; s[i] != '\0'; i++) {
		char next = s[i + 1];

		if (s[i] != '\r' && s[i] != '\n')
			(void)buf_append(&tmp, &s[i], 1);
		else if (next != ' ' && next != '\t' && next != '\r' && next != '\n' && next != '\0')
			(void)buf_append(&tmp, " ", 1);
	}
	ret = mime_imap_nstring(out, tmp.data == NULL ? "" : tmp.data);
	buf_free(&tmp);
	return ret;
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Dovecot's imap_append_string_for_humans(): blanks collapsed and trimmed;
   unchanged strings are quoted, changed ones are literals */
static int nstring_for_humans(struct buf *out, const char *s)
{
	size_t len, removed = 0, start;
	bool last_blank = true, changed = false;

	if (s == NULL)
		return add(out, "NIL");
	len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_blank(c)) {
			if (c != ' ')
				changed = true;
			if (last_blank) {
				changed = true;
				removed++;
			}
			last_blank = true;
		} else {
			if (c == '"' || c == '\\' || c >= 0x80)
				changed = true;
			last_blank = false;
		}
	}
	if (last_blank && len > 0 && removed < len) {
		changed = true;
		removed++;
	}
	if (!changed) {
		if (add(out, "\"") < 0 || buf_append(out, s, len) < 0)
			return -1;
		return add(out, "\"");
	}
	if (removed >= len)
		return add(out, "\"\"");
	if (buf_printf(out, "{%zu}\r\n", len - removed) < 0)
		return -1;
	start = out->len;
	last_blank = true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_blank(c)) {
			if (!last_blank && buf_append(out, " ", 1) < 0)
				return -1;
			last_blank = true;
		} else {
			if (buf_append(out, &s[i], 1) < 0)
				return -1;
			last_blank = false;
		}
	}
	if (last_blank && out->len > start)
		out->data[--out->len] = '\0';
	return 0;
}

/* ---- ENVELOPE ---- */

static int write_addresses(struct buf *out, const struct mime_address *a)
{
	if (a == NULL)
		return add(out, "NIL");
	if (add(out, "(") < 0)
		return -1;
	for (; a != NULL; a = a->next) {
		if (add(out, "(") < 0 || nstring_for_humans(out, a->name) < 0 ||
		    add(out, " ") < 0 || mime_imap_nstring(out, a->route) < 0 ||
		    add(out, " ") < 0 || mime_imap_nstring(out, a->mailbox) < 0 ||
		    add(out, " ") < 0 || mime_imap_nstring(out, a->domain) < 0 ||
		    add(out, ")") < 0)
			return -1;
	}
	return add(out, ")");
}

int mime_envelope(const struct mime_envelope *env, struct buf *out)
{
	static const struct mime_envelope empty;

	if (env == NULL)
		env = &empty;
	if (add(out, "(") < 0 || nstring_nolf(out, env->date) < 0 || add(out, " ") < 0 ||
	    nstring_for_humans(out, env->subject) < 0 || add(out, " ") < 0 ||
	    write_addresses(out, env->from) < 0 || add(out, " ") < 0 ||
	    write_addresses(out, env->sender != NULL ? env->sender : env->from) < 0 ||
	    add(out, " ") < 0 ||
	    write_addresses(out, env->reply_to != NULL ? env->reply_to : env->from) < 0 ||
	    add(out, " ") < 0 || write_addresses(out, env->to) < 0 || add(out, " ") < 0 ||
	    write_addresses(out, env->cc) < 0 || add(out, " ") < 0 ||
	    write_addresses(out, env->bcc) < 0 || add(out, " ") < 0 ||
	    nstring_nolf(out, env->in_reply_to) < 0 || add(out, " ") < 0 ||
	    nstring_nolf(out, env->message_id) < 0)
		return -1;
	return add(out, ")");
}

/* ---- BODYSTRUCTURE ---- */

static int write_params(struct buf *out, const struct mime_param *params, unsigned int count,
			bool default_charset)
{
	bool has_charset = false;

	if (count == 0 && !default_charset)
		return add(out, "NIL");
	if (add(out, "(") < 0)
		return -1;
	for (unsigned int i = 0; i < count; i++) {
		if (strcasecmp(params[i].name, "charset") == 0)
			has_charset = true;
		if ((i > 0 && add(out, " ") < 0) || mime_imap_nstring(out, params[i].name) < 0 ||
		    add(out, " ") < 0 || mime_imap_nstring(out, params[i].value) < 0)
			return -1;
	}
	if (default_charset && !has_charset &&
	    add(out, count > 0 ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"") < 0)
		return -1;
	return add(out, ")");
}

/* disposition, language, location: the extension data both kinds share */
static int write_ext_common(struct buf *out, const struct mime_part *part)
{
	if (add(out, " ") < 0)
		return -1;
	if (part->disposition == NULL) {
		if (add(out, "NIL") < 0)
			return -1;
	} else if (add(out, "(") < 0 || mime_imap_nstring(out, part->disposition) < 0 ||
		   add(out, " ") < 0 ||
		   write_params(out, part->disp_params, part->disp_param_count, false) < 0 ||
		   add(out, ")") < 0) {
		return -1;
	}
	if (add(out, " ") < 0)
		return -1;
	if (part->language_count == 0) {
		if (add(out, "NIL") < 0)
			return -1;
	} else {
		if (add(out, "(") < 0)
			return -1;
		for (unsigned int i = 0; i < part->language_count; i++) {
			if ((i > 0 && add(out, " ") < 0) ||
			    mime_imap_nstring(out, part->languages[i]) < 0)
				return -1;
		}
		if (add(out, ")") < 0)
			return -1;
	}
	if (add(out, " ") < 0)
		return -1;
	return nstring_nolf(out, part->location);
}

static int write_part(struct buf *out, const struct mime_part *part, bool extended);

static int write_multipart(struct buf *out, const struct mime_part *part, bool extended)
{
	if (part->children == NULL) {
		/* a multipart must have parts: say it has an empty one */
		if (add(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0") <
			    0 ||
		    (extended && add(out, " NIL NIL NIL NIL") < 0) || add(out, ")") < 0)
			return -1;
	}
	for (const struct mime_part *c = part->children; c != NULL; c = c->next) {
		if (add(out, "(") < 0 || write_part(out, c, extended) < 0 || add(out, ")") < 0)
			return -1;
	}
	if (add(out, " ") < 0 ||
	    mime_imap_nstring(out, part->subtype != NULL ? part->subtype : "x-unknown") < 0)
		return -1;
	if (!extended)
		return 0;
	if (add(out, " ") < 0 || write_params(out, part->params, part->param_count, false) < 0)
		return -1;
	return write_ext_common(out, part);
}

/* a container the parser did not open cannot be described as one */
static bool is_unopened_container(const struct mime_part *part)
{
	return strcasecmp(part->type, "multipart") == 0 ||
	       (strcasecmp(part->type, "message") == 0 && part->subtype != NULL &&
		strcasecmp(part->subtype, "rfc822") == 0);
}

static int write_leaf(struct buf *out, const struct mime_part *part, bool extended)
{
	bool text = false;

	if ((part->flags & MIME_PART_MESSAGE) != 0) {
		if (add(out, "\"message\" \"rfc822\"") < 0)
			return -1;
	} else if (part->type == NULL) {
		text = true;
		if (add(out, "\"text\" \"plain\"") < 0)
			return -1;
	} else if (is_unopened_container(part)) {
		if (add(out, "\"application\" \"octet-stream\"") < 0)
			return -1;
	} else {
		text = strcasecmp(part->type, "text") == 0;
		if (mime_imap_nstring(out, part->type) < 0 || add(out, " ") < 0 ||
		    mime_imap_nstring(out, part->subtype != NULL ? part->subtype : "") < 0)
			return -1;
	}
	if (add(out, " ") < 0 || write_params(out, part->params, part->param_count, text) < 0 ||
	    add(out, " ") < 0 || nstring_nolf(out, part->id) < 0 || add(out, " ") < 0 ||
	    nstring_nolf(out, part->description) < 0 || add(out, " ") < 0 ||
	    mime_imap_nstring(out, part->encoding != NULL ? part->encoding : "7bit") < 0 ||
	    buf_printf(out, " %llu", (unsigned long long)part->body_vsize) < 0)
		return -1;
	if (text) {
		if (buf_printf(out, " %llu", (unsigned long long)part->body_lines) < 0)
			return -1;
	} else if ((part->flags & MIME_PART_MESSAGE) != 0 && part->children != NULL) {
		if (add(out, " ") < 0 || mime_envelope(part->children->envelope, out) < 0 ||
		    add(out, " (") < 0 || write_part(out, part->children, extended) < 0 ||
		    buf_printf(out, ") %llu", (unsigned long long)part->body_lines) < 0)
			return -1;
	}
	if (!extended)
		return 0;
	if (add(out, " ") < 0 || nstring_nolf(out, part->md5) < 0)
		return -1;
	return write_ext_common(out, part);
}

static int write_part(struct buf *out, const struct mime_part *part, bool extended)
{
	if ((part->flags & MIME_PART_MULTIPART) != 0)
		return write_multipart(out, part, extended);
	return write_leaf(out, part, extended);
}

/* Dovecot remembers "plain 7-bit ASCII text" as a flag and writes such a
   message's structure in one canonical spelling ("TEXT/PLAIN; CHARSET=
   US-ASCII" comes out lowercase); clients fetching BODYSTRUCTURE with other
   items always see that form, so we write it too. */
static bool is_plain_7bit(const struct mime_part *part)
{
	if (part->parent != NULL || part->children != NULL ||
	    (part->flags & MIME_PART_TEXT) == 0 ||
	    (part->subtype != NULL && strcasecmp(part->subtype, "plain") != 0))
		return false;
	if (part->param_count > 1 ||
	    (part->param_count == 1 && (strcasecmp(part->params[0].name, "charset") != 0 ||
					strcasecmp(part->params[0].value, "us-ascii") != 0)))
		return false;
	if (part->encoding != NULL && strcasecmp(part->encoding, "7bit") != 0)
		return false;
	return part->id == NULL && part->description == NULL && part->md5 == NULL &&
	       part->disposition == NULL && part->language_count == 0 && part->location == NULL;
}

int mime_bodystructure(const struct mime_part *root, bool extended, struct buf *out)
{
	if (is_plain_7bit(root)) {
		return buf_printf(out,
				  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
				  "%llu %llu%s)",
				  (unsigned long long)root->body_vsize,
				  (unsigned long long)root->body_lines,
				  extended ? " NIL NIL NIL NIL" : "");
	}
	if (add(out, "(") < 0 || write_part(out, root, extended) < 0)
		return -1;
	return add(out, ")");
}
