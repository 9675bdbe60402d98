/* The queue entry's JSON: written by us, read back by us (and by an
   operator's jq). A small reader for exactly this flat shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/util.h"
#include "relay-private.h"

void relay_entry_free(struct relay_entry *e)
{
	free(e->id);
	free(e->from);
	free(e->to);
	free(e->type);
	for (size_t i = 0; i < e->error_count; i++)
		free(e->errors[i]);
	free(e->errors);
	*e = (struct relay_entry){ 0 };
}

static void json_str(struct buf *out, const char *s)
{
	(void)buf_append_str(out, "\"");
	for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0';
	     p++) {
		if (*p == '"' || *p == '\\')
			(void)buf_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			(void)buf_printf(out, "\\u%04x", *p);
		else
			(void)buf_append(out, p, 1);
	}
	(void)buf_append_str(out, "\"");
}

static void json_time(struct buf *out, int64_t t)
{
	char text[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		(void)buf_append_str(out, "null");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_str(out, text);
}

void relay_entry_to_json(const struct relay_entry *e, struct buf *out)
{
	(void)buf_append_str(out, "{\n  \"id\": ");
	json_str(out, e->id);
	(void)buf_append_str(out, ",\n  \"from\": ");
	json_str(out, e->from);
	(void)buf_append_str(out, ",\n  \"to\": ");
	json_str(out, e->to);
	(void)buf_append_str(out, ",\n  \"type\": ");
	json_str(out, e->type);
	(void)buf_append_str(out, ",\n  \"queued_at\": ");
	json_time(out, e->queued_at);
	(void)buf_printf(out, ",\n  \"attempts\": %u,\n  \"last_attempt\": ", e->attempts);
	json_time(out, e->last_attempt);
	(void)buf_append_str(out, ",\n  \"next_retry\": ");
	json_time(out, e->next_retry);
	(void)buf_append_str(out, ",\n  \"errors\": [");
	for (size_t i = 0; i < e->error_count; i++) {
		(void)buf_append_str(out, i == 0 ? "" : ", ");
		json_str(out, e->errors[i]);
	}
	(void)buf_append_str(out, "]\n}\n");
}

/* --- reading --- */

struct rd {
	const char *p, *end;
};

static void skip_ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

static char *read_str(struct rd *r)
{
	struct buf b;

	skip_ws(r);
	if (r->p >= r->end || *r->p != '"')
		return NULL;
	r->p++;
	buf_init(&b, 1 << 20);
	while (r->p < r->end && *r->p != '"') {
		char ch = *r->p++;

		if (ch == '\\' && r->p < r->end) {
			ch = *r->p++;
			if (ch == 'u' && r->end - r->p >= 4) {
				char hex[5] = { r->p[0], r->p[1], r->p[2], r->p[3], 0 };

				ch = (char)strtol(hex, NULL, 16);
				r->p += 4;
			} else if (ch == 'n') {
				ch = '\n';
			}
		}
		if (buf_append(&b, &ch, 1) < 0)
			break;
	}
	if (r->p >= r->end) {
		buf_free(&b);
		return NULL;
	}
	r->p++;
	if (b.data == NULL)
		return xstrdup("");
	return b.data;
}

static int64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

	return end != NULL && *end == '\0' ? (int64_t)timegm(&tm) : 0;
}

static int read_value(struct rd *r, const char *key, struct relay_entry *e)
{
	skip_ws(r);
	if (r->p < r->end && *r->p == '[') {
		r->p++;
		for (;;) {
			char *s;

			skip_ws(r);
			if (r->p < r->end && *r->p == ']') {
				r->p++;
				return 0;
			}
			if (r->p < r->end && *r->p == ',') {
				r->p++;
				continue;
			}
			s = read_str(r);
			if (s == NULL)
				return -1;
			if (strcmp(key, "errors") == 0 && e->error_count < 64) {
				e->errors = xrealloc(e->errors, (e->error_count + 1) * sizeof(char *));
				e->errors[e->error_count++] = s;
			} else {
				free(s);
			}
		}
	}
	if (r->p < r->end && *r->p == '"') {
		char *s = read_str(r), **slot = NULL;

		if (s == NULL)
			return -1;
		if (strcmp(key, "id") == 0)
			slot = &e->id;
		else if (strcmp(key, "from") == 0)
			slot = &e->from;
		else if (strcmp(key, "to") == 0)
			slot = &e->to;
		else if (strcmp(key, "type") == 0)
			slot = &e->type;
		if (slot != NULL) {
			free(*slot);
			*slot = s;
			return 0;
		}
		if (strcmp(key, "queued_at") == 0)
			e->queued_at = parse_time(s);
		else if (strcmp(key, "last_attempt") == 0)
			e->last_attempt = parse_time(s);
		else if (strcmp(key, "next_retry") == 0)
			e->next_retry = parse_time(s);
		free(s);
		return 0;
	}
	/* a number or null */
	{
		const char *start = r->p;

		while (r->p < r->end && *r->p != ',' && *r->p != '}' && *r->p != '\n')
			r->p++;
		if (strcmp(key, "attempts") == 0) {
			uint32_t n;

			if (str_to_u32(slice_trim(slice_from(start, (size_t)(r->p - start))), &n) < 0)
				return -1;
			e->attempts = n;
		}
	}
	return 0;
}

int relay_entry_from_json(const char *text, size_t len, struct relay_entry *e)
{
	struct rd r = { text, text + len };

	*e = (struct relay_entry){ 0 };
	skip_ws(&r);
	if (r.p >= r.end || *r.p != '{')
		return -1;
	r.p++;
	for (;;) {
		char *key;

		skip_ws(&r);
		if (r.p < r.end && *r.p == '}')
			break;
		if (r.p < r.end && *r.p == ',') {
			r.p++;
			continue;
		}
		key = read_str(&r);
		skip_ws(&r);
		if (key == NULL || r.p >= r.end || *r.p != ':') {
			free(key);
			goto fail;
		}
		r.p++;
		if (read_value(&r, key, e) < 0) {
			free(key);
			goto fail;
		}
		free(key);
	}
	if (e->id == NULL || e->from == NULL || e->to == NULL || e->type == NULL)
		goto fail;
	return 0;
fail:
	relay_entry_free(e);
	return -1;
}
