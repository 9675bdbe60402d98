#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
	struct arena_block *head; /* current block first */
	size_t block_size, total;
};

static struct arena_block *block_new(size_t size)
{
	struct arena_block *b = xmalloc(sizeof(*b) + size);

	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

struct arena *arena_new(size_t block_size)
{
	struct arena *a = xmalloc(sizeof(*a));

	if (block_size < 256)
		block_size = 256;
	a->block_size = block_size;
	a->head = block_new(block_size);
	a->total = 0;
	return a;
}

void arena_free(struct arena **ap)
{
	struct arena *a = ap == NULL ? NULL : *ap;

	if (a == NULL)
		return;
	while (a->head != NULL) {
		struct arena_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
	free(a);
	*ap = NULL;
}

void arena_reset(struct arena *a)
{
	struct arena_block *b = a->head;

	/* keep the last block in the chain: it is the first one allocated */
	while (b->next != NULL) {
		struct arena_block *next = b->next;

		free(b);
		b = next;
	}
	b->used = 0;
	a->head = b;
	a->total = 0;
}

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->head;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (need < size)
		util_require_failed(__FILE__, __LINE__, "arena size overflow");
	if (b->size - b->used < need) {
		size_t bsize = need > a->block_size ? need : a->block_size;

		if (need > a->block_size / 2 && b->used < b->size / 2) {
			/* a big one-off: give it its own block behind the
			   current one so the current block's room is kept */
			struct arena_block *big = block_new(need);

			big->next = b->next;
			b->next = big;
			big->used = need;
			a->total += need;
			memset(big->data, 0, need);
			return big->data;
		}
		b = block_new(bsize);
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += need;
	a->total += need;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	if (fmt == NULL) /* also tells gcc's sanitizer builds it cannot be */
		return arena_strdup(a, "");
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return arena_strdup(a, "");
	p = arena_alloc(a, (size_t)n + 1);
	(void)vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

size_t arena_used(const struct arena *a)
{
	return a->total;
}
