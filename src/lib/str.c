#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static inline char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

struct slice slice_cstr(const char *s)
{
	return (struct slice){ .ptr = s, .len = strlen(s) };
}

bool slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool slice_eq_ci(struct slice a, const char *s)
{
	size_t n = strlen(s);

	if (a.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower(a.ptr[i]) != ascii_lower(s[i]))
			return false;
	}
	return true;
}

bool slice_starts_with_ci(struct slice a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.len >= n && slice_eq_ci(slice_from(a.ptr, n), prefix);
}

ssize_t slice_find(struct slice a, char c)
{
	const char *p = a.len == 0 ? NULL : memchr(a.ptr, c, a.len);

	return p == NULL ? -1 : (ssize_t)(p - a.ptr);
}

struct slice slice_trim(struct slice a)
{
	while (a.len > 0 && (a.ptr[0] == ' ' || a.ptr[0] == '\t')) {
		a.ptr++;
		a.len--;
	}
	while (a.len > 0 && (a.ptr[a.len - 1] == ' ' || a.ptr[a.len - 1] == '\t' ||
			     a.ptr[a.len - 1] == '\r' || a.ptr[a.len - 1] == '\n'))
		a.len--;
	return a;
}

int str_to_u64(struct slice s, uint64_t *num_r)
{
	uint64_t n = 0;

	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d;

		if (s.ptr[i] < '0' || s.ptr[i] > '9')
			return -1;
		d = (unsigned)(s.ptr[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*num_r = n;
	return 0;
}

int str_to_u32(struct slice s, uint32_t *num_r)
{
	uint64_t n;

	if (str_to_u64(s, &n) < 0 || n > UINT32_MAX)
		return -1;
	*num_r = (uint32_t)n;
	return 0;
}

void buf_init(struct buf *b, size_t max)
{
	*b = (struct buf){ .max = max };
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_wipe(struct buf *b)
{
	util_wipe(b->data, b->cap);
	buf_free(b);
}

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;

	if (need < b->len || (b->max != 0 && b->len + extra > b->max))
		return -1;
	if (need <= b->cap)
		return 0;
	cap = b->cap == 0 ? 64 : b->cap;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_clear(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void buf_clear(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}
