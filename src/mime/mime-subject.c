/* Columns the metadata store keeps for SORT, THREAD and SEARCH: the RFC
   5256 base subject, the first From/To/Cc address and display name (RFC
   5957), the Date as UTC, Message-ID, In-Reply-To and References. */
#include <string.h>
#include <strings.h>

#include "mime-private.h"

/* ---- RFC 5256 §2.1 base subject ---- */

struct subj {
	char *s;
	size_t len;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void subj_cut_front(struct subj *sb, size_t n)
{
	sb->s += n;
	sb->len -= n;
}

static bool starts_ci(const struct subj *sb, size_t at, const char *prefix)
{
	size_t n = strlen(prefix);

	return sb->len - at >= n && strncasecmp(sb->s + at, prefix, n) == 0;
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP; returns its length or 0 */
static size_t blob_len(const struct subj *sb, size_t at)
{
	size_t i = at;

	if (i >= sb->len || sb->s[i] != '[')
		return 0;
	for (i++; i < sb->len && sb->s[i] != ']'; i++) {
		if (sb->s[i] == '[')
			return 0;
	}
	if (i >= sb->len)
		return 0;
	for (i++; i < sb->len && is_wsp(sb->s[i]); i++)
		;
	return i - at;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP;
   subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static size_t leader_len(const struct subj *sb)
{
	size_t i = 0, n;

	if (sb->len > 0 && is_wsp(sb->s[0]))
		return 1;
	while ((n = blob_len(sb, i)) > 0)
		i += n;
	if (starts_ci(sb, i, "re"))
		i += 2;
	else if (starts_ci(sb, i, "fwd"))
		i += 3;
	else if (starts_ci(sb, i, "fw"))
		i += 2;
	else
		return 0;
	while (i < sb->len && is_wsp(sb->s[i]))
		i++;
	i += blob_len(sb, i);
	return i < sb->len && sb->s[i] == ':' ? i + 1 : 0;
}

static bool has_nonwsp(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_wsp(s[i]))
			return true;
	}
	return false;
}

static void base_subject(struct subj *sb)
{
	for (;;) {
		bool changed;

		/* (2) trailing "(fwd)" and blanks */
		for (;;) {
			if (sb->len > 0 && is_wsp(sb->s[sb->len - 1]))
				sb->len--;
			else if (sb->len >= 5 && strncasecmp(sb->s + sb->len - 5, "(fwd)", 5) == 0)
				sb->len -= 5;
			else
				break;
		}
		do {
			size_t n;

			changed = false;
			/* (3) leaders */
			while ((n = leader_len(sb)) > 0) {
				subj_cut_front(sb, n);
				changed = true;
			}
			/* (4) a blob, when something is left */
			n = blob_len(sb, 0);
			if (n > 0 && has_nonwsp(sb->s + n, sb->len - n)) {
				subj_cut_front(sb, n);
				changed = true;
			}
		} while (changed); /* (5) */
		/* (6) "[fwd:" ... "]" */
		if (sb->len >= 6 && starts_ci(sb, 0, "[fwd:") && sb->s[sb->len - 1] == ']') {
			subj_cut_front(sb, 5);
			sb->len--;
			continue;
		}
		break;
	}
}

/* (1) blanks and line ends become one space */
static const char *subject_normalise(const char *decoded, struct arena *a)
{
	size_t len = strlen(decoded), o = 0;
	char *out = arena_alloc(a, len + 1);
	struct subj sb;

	for (size_t i = 0; i < len; i++) {
		char c = decoded[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && o > 0 && out[o - 1] == ' ')
			continue;
		out[o++] = c;
	}
	sb = (struct subj){ .s = out, .len = o };
	base_subject(&sb);
	sb.s[sb.len] = '\0';
	return sb.s;
}

const char *mime_base_subject(struct slice raw, struct arena *a)
{
	return subject_normalise(mime_decode_words(raw.ptr, raw.len, false, a), a);
}

/* ---- msg-id lists ---- */

static void id_add(const char ***ids, unsigned int *count, unsigned int *cap, const char *id,
		   struct arena *a)
{
	if (*count == *cap) {
		const char **n;

		*cap = *cap == 0 ? 4 : *cap * 2;
		n = arena_alloc(a, *cap * sizeof(*n));
		if (*count > 0)
			memcpy(n, *ids, *count * sizeof(*n));
		*ids = n;
	}
	(*ids)[(*count)++] = id;
}

/* msg-ids "<...>" of a header value, without the brackets and with
   folding whitespace removed; loose: a value without any "<" that is
   one word counts as one id */
static unsigned int msgids(const char *v, struct arena *a, const char ***ids_r, unsigned int max)
{
	const char **ids = NULL, *open = NULL;
	unsigned int count = 0, cap = 0;

	/* one pass: an id is the text between a "<" and the next ">" */
	for (const char *p = v; *p != '\0' && count < max; p++) {
		if (*p == '<') {
			open = p;
		} else if (*p == '>' && open != NULL) {
			char *id = arena_alloc(a, (size_t)(p - open));
			size_t o = 0;

			for (const char *q = open + 1; q < p; q++) {
				if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
					id[o++] = *q;
			}
			id[o] = '\0';
			open = NULL;
			if (o > 0)
				id_add(&ids, &count, &cap, id, a);
		}
	}
	if (count == 0 && strchr(v, '<') == NULL) {
		struct slice s = slice_trim(slice_cstr(v));

		if (s.len > 0 && memchr(s.ptr, ' ', s.len) == NULL &&
		    memchr(s.ptr, '\t', s.len) == NULL && memchr(s.ptr, '\n', s.len) == NULL)
			id_add(&ids, &count, &cap, arena_strndup(a, s.ptr, s.len), a);
	}
	*ids_r = ids;
	return count;
}

static const char *first_msgid(const char *v, struct arena *a)
{
	const char **ids;

	if (v == NULL)
		return NULL;
	return msgids(v, a, &ids, 1) > 0 ? ids[0] : NULL;
}

/* ---- addresses ---- */

static void sort_addr(struct mime_sort_addr *sa, const struct mime_address *list,
		      struct arena *a)
{
	for (; list != NULL; list = list->next) {
		if (list->domain != NULL)
			break; /* group markers have no domain */
	}
	if (list == NULL)
		return;
	sa->mailbox = list->mailbox;
	sa->domain = list->domain;
	if (list->name != NULL && list->name[0] != '\0')
		sa->display = mime_decode_words(list->name, strlen(list->name), true, a);
	if (sa->display == NULL || sa->display[0] == '\0')
		sa->display = arena_printf(a, "%s@%s", list->mailbox, list->domain);
}

void mime_message_columns(struct mime_message *msg, const char *references, struct arena *a)
{
	const struct mime_envelope *env = msg->root->envelope;
	const char **refs;

	msg->base_subject = "";
	if (env == NULL)
		return;
	if (env->subject != NULL) {
		msg->subject = mime_decode_words(env->subject, strlen(env->subject), false, a);
		msg->base_subject = subject_normalise(msg->subject, a);
	}
	sort_addr(&msg->from, env->from, a);
	sort_addr(&msg->to, env->to, a);
	sort_addr(&msg->cc, env->cc, a);
	if (env->date == NULL ||
	    mime_date_parse(slice_cstr(env->date), &msg->date, &msg->date_tz) < 0) {
		msg->date = 0;
		msg->date_tz = 0;
	}
	msg->message_id = first_msgid(env->message_id, a);
	msg->in_reply_to = first_msgid(env->in_reply_to, a);
	if (references != NULL) {
		msg->reference_count = msgids(references, a, &refs, UINT32_MAX);
		msg->references = refs;
	}
}
