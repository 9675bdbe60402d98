/* THREAD and UID THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES.

   Both work from the stored thread columns (Message-ID, In-Reply-To,
   References, base subject, Date in UTC) of the messages the search
   criteria selected; nothing is parsed at THREAD time.

   REFERENCES follows RFC 5256 §4 step by step: an id table of containers
   linked parent/child from each message's References (In-Reply-To when
   there are none) without ever creating a loop or replacing a parent,
   the root set, pruning of dummy containers, grouping of the roots by base
   subject, and sorting of every set of siblings by sent date. Containers
   and tables live in the caller's arena (the job's): one allocation per
   message-id, freed with the job. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/util.h"
#include "imap-search.h"

struct tnode {
	const struct search_msg *msg;	     /* NULL: dummy (a referenced id we do not have) */
	struct tnode *parent, *child, *next; /* first child, next sibling */
	const char *id;
	struct tnode *hnext; /* id table chain */
};

struct id_table {
	struct tnode **buckets;
	size_t mask;
	struct arena *a;
};

/* RFC 5256 §2.2: the sent date, or the INTERNALDATE without a usable Date */
static int64_t msg_date(const struct search_msg *m)
{
	return m->sent_date != 0 ? m->sent_date : m->internal_date;
}

static uint64_t hash_str(const char *s, size_t len, bool fold)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (fold && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 1099511628211ull;
	}
	return h;
}

static void table_init(struct id_table *t, size_t expect, struct arena *a)
{
	size_t size = 64;

	while (size < expect * 2)
		size *= 2;
	t->buckets = arena_alloc(a, size * sizeof(*t->buckets));
	memset(t->buckets, 0, size * sizeof(*t->buckets));
	t->mask = size - 1;
	t->a = a;
}

/* The container for id (len bytes), created when new. */
static struct tnode *table_get(struct id_table *t, const char *id, size_t len)
{
	struct tnode **b = &t->buckets[hash_str(id, len, false) & t->mask];
	struct tnode *n;

	for (n = *b; n != NULL; n = n->hnext) {
		if (strlen(n->id) == len && memcmp(n->id, id, len) == 0)
			return n;
	}
	n = arena_alloc(t->a, sizeof(*n));
	*n = (struct tnode){.id = arena_strndup(t->a, id, len), .hnext = *b};
	*b = n;
	return n;
}

/* true when x is y or below y */
static bool is_below(const struct tnode *x, const struct tnode *y)
{
	for (; x != NULL; x = x->parent) {
		if (x == y)
			return true;
	}
	return false;
}

static void unlink_child(struct tnode *c)
{
	struct tnode **pp;

	if (c->parent == NULL)
		return;
	for (pp = &c->parent->child; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->parent = NULL;
	c->next = NULL;
}

static void add_child(struct tnode *parent, struct tnode *c)
{
	struct tnode **pp = &parent->child;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = c;
	c->parent = parent;
	c->next = NULL;
}

/* Links c under parent unless that would make a loop. */
static void link_safe(struct tnode *parent, struct tnode *c)
{
	if (parent == c || is_below(parent, c))
		return;
	add_child(parent, c);
}

/* Next "<msg-id>" of a References value; false at the end. */
static bool next_ref(const char **p, const char **id_r, size_t *len_r)
{
	const char *lt = strchr(*p, '<'), *gt;

	if (lt == NULL)
		return false;
	gt = strchr(lt + 1, '>');
	if (gt == NULL)
		return false;
	*p = gt + 1;
	if (gt == lt + 1)
		return next_ref(p, id_r, len_r);
	*id_r = lt + 1;
	*len_r = (size_t)(gt - lt - 1);
	return true;
}

/* RFC 5256 §4 REFERENCES step 1 for one message */
static struct tnode *thread_add(struct id_table *t, const struct search_msg *m)
{
	struct tnode *c = NULL, *prev = NULL;
	const char *p, *id;
	size_t len;

	if (m->message_id != NULL && m->message_id[0] != '\0') {
		c = table_get(t, m->message_id, strlen(m->message_id));
		if (c->msg != NULL)
			c = NULL; /* a duplicate Message-ID: treated as unique */
	}
	if (c == NULL) {
		c = arena_alloc(t->a, sizeof(*c));
		*c = (struct tnode){.id = ""};
	}
	c->msg = m;
	/* 1.A: chain the references, keeping links that exist */
	p = m->references != NULL ? m->references : "";
	if (strchr(p, '<') == NULL && m->in_reply_to != NULL && m->in_reply_to[0] != '\0') {
		prev = table_get(t, m->in_reply_to, strlen(m->in_reply_to));
	} else {
		while (next_ref(&p, &id, &len)) {
			struct tnode *r = table_get(t, id, len);

			if (prev != NULL && r->parent == NULL)
				link_safe(prev, r);
			prev = r;
		}
	}
	/* 1.B: the last reference is the parent; a parent from a truncated
	   References elsewhere is replaced */
	if (prev != NULL && prev != c && !is_below(prev, c)) {
		unlink_child(c);
		add_child(prev, c);
	} else if (prev == NULL) {
		unlink_child(c);
	}
	return c;
}

/* RFC 5256 §4 step 3, on the sibling list at *head. */
static void prune(struct tnode **head, bool is_root)
{
	struct tnode **pp = head;

	while (*pp != NULL) {
		struct tnode *c = *pp;

		prune(&c->child, false);
		if (c->msg != NULL) {
			pp = &c->next;
			continue;
		}
		if (c->child == NULL) {
			*pp = c->next; /* 3.A: an empty dummy goes */
			continue;
		}
		if (!is_root || c->child->next == NULL) {
			/* 3.B: the children take the dummy's place */
			struct tnode *k = c->child, *last = NULL;

			for (; k != NULL; k = k->next) {
				k->parent = c->parent;
				last = k;
			}
			last->next = c->next;
			*pp = c->child;
			continue; /* look at the promoted children in turn */
		}
		pp = &c->next;
	}
}

/* The message whose date and subject stand for c: a dummy's first child */
static const struct search_msg *node_msg(const struct tnode *c)
{
	while (c != NULL && c->msg == NULL)
		c = c->child;
	return c != NULL ? c->msg : NULL;
}

static int node_cmp(const void *pa, const void *pb)
{
	const struct search_msg *a = node_msg(*(const struct tnode *const *)pa);
	const struct search_msg *b = node_msg(*(const struct tnode *const *)pb);
	int64_t da, db;

	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	da = msg_date(a);
	db = msg_date(b);
	if (da != db)
		return da < db ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sorts every sibling list below *head (children first, so that a dummy
   is dated by its earliest child), then *head itself. */
static void sort_siblings(struct tnode **head, struct arena *a)
{
	size_t n = 0, i = 0;
	struct tnode **v;

	for (struct tnode *c = *head; c != NULL; c = c->next) {
		sort_siblings(&c->child, a);
		n++;
	}
	if (n < 2)
		return;
	v = arena_alloc(a, n * sizeof(*v));
	for (struct tnode *c = *head; c != NULL; c = c->next)
		v[i++] = c;
	qsort(v, n, sizeof(*v), node_cmp);
	for (i = 0; i + 1 < n; i++)
		v[i]->next = v[i + 1];
	v[n - 1]->next = NULL;
	*head = v[0];
}

struct subj_entry {
	const char *subject;
	struct tnode *node;
	struct subj_entry *hnext;
};

static const char *node_subject(const struct tnode *c)
{
	const struct search_msg *m = node_msg(c);

	return m != NULL && m->sort_str[SK_SUBJECT] != NULL ? m->sort_str[SK_SUBJECT] : "";
}

static bool node_is_reply(const struct tnode *c)
{
	return c->msg != NULL && c->msg->subject_is_reply;
}

static struct subj_entry **subj_slot(struct subj_entry **buckets, size_t mask, const char *s)
{
	struct subj_entry **b = &buckets[hash_str(s, strlen(s), true) & mask];

	while (*b != NULL && strcasecmp((*b)->subject, s) != 0)
		b = &(*b)->hnext;
	return b;
}

/* RFC 5256 §4 step 5: roots with one base subject are gathered. roots[i]
   is set to NULL when it moved under another root. */
static void group_by_subject(struct tnode **roots, size_t n, struct arena *a)
{
	struct id_table sizing;
	struct subj_entry **buckets;
	size_t mask;

	table_init(&sizing, n, a); /* only for its size */
	buckets = (struct subj_entry **)sizing.buckets;
	mask = sizing.mask;
	/* 5.A/B: the table keeps, per subject, a dummy over a message and an
	   original over a reply */
	for (size_t i = 0; i < n; i++) {
		const char *s = node_subject(roots[i]);
		struct subj_entry **slot;

		if (s[0] == '\0')
			continue;
		slot = subj_slot(buckets, mask, s);
		if (*slot == NULL) {
			*slot = arena_alloc(a, sizeof(**slot));
			**slot = (struct subj_entry){.subject = s, .node = roots[i]};
		} else if ((roots[i]->msg == NULL && (*slot)->node->msg != NULL) ||
			   (roots[i]->msg != NULL && (*slot)->node->msg != NULL &&
			    node_is_reply((*slot)->node) && !node_is_reply(roots[i]))) {
			(*slot)->node = roots[i];
		}
	}
	/* 5.C: merge each root into the table's container for its subject */
	for (size_t i = 0; i < n; i++) {
		struct tnode *r = roots[i], *t;
		const char *s = r != NULL ? node_subject(r) : "";
		struct subj_entry *e;

		if (s[0] == '\0')
			continue;
		e = *subj_slot(buckets, mask, s);
		if (e == NULL)
			continue;
		t = e->node;
		if (t == r)
			continue;
		if (t->msg == NULL && r->msg == NULL) {
			/* two dummies: one gets the other's children */
			while (r->child != NULL) {
				struct tnode *k = r->child;

				unlink_child(k);
				add_child(t, k);
			}
		} else if (t->msg == NULL) {
			add_child(t, r);
		} else if (r->msg == NULL) {
			/* cannot happen with the table rule above; kept total */
			for (size_t j = 0; j < n; j++) {
				if (roots[j] == t)
					roots[j] = NULL;
			}
			add_child(r, t);
			e->node = r;
			continue;
		} else if (node_is_reply(r) && !node_is_reply(t)) {
			add_child(t, r);
		} else {
			/* both originals, or both replies: siblings under a new dummy */
			struct tnode *d = arena_alloc(a, sizeof(*d));

			*d = (struct tnode){.id = ""};
			for (size_t j = 0; j < n; j++) {
				if (roots[j] == t)
					roots[j] = d;
			}
			add_child(d, t);
			add_child(d, r);
			e->node = d;
		}
		roots[i] = NULL;
	}
}

static void write_node(const struct tnode *c, bool by_uid, struct buf *out)
{
	bool wrote = false;

	if (c->msg != NULL) {
		(void)buf_printf(out, "%u", by_uid ? c->msg->uid : c->msg->seq);
		wrote = true;
	}
	if (c->child == NULL)
		return;
	if (c->child->next == NULL) {
		(void)buf_append_str(out, wrote ? " " : "");
		write_node(c->child, by_uid, out);
		return;
	}
	if (wrote)
		(void)buf_append_str(out, " ");
	for (const struct tnode *k = c->child; k != NULL; k = k->next) {
		(void)buf_append_str(out, "(");
		write_node(k, by_uid, out);
		(void)buf_append_str(out, ")");
	}
}

/* The latest date in the tree under c (c included) */
static int64_t newest_date(const struct tnode *c)
{
	int64_t d = c->msg != NULL ? msg_date(c->msg) : INT64_MIN;

	for (const struct tnode *k = c->child; k != NULL; k = k->next) {
		int64_t kd = newest_date(k);

		if (kd > d)
			d = kd;
	}
	return d;
}

struct refs_root {
	struct tnode *node;
	int64_t newest;
	uint32_t seq;
};

static int refs_root_cmp(const void *pa, const void *pb)
{
	const struct refs_root *a = pa, *b = pb;

	if (a->newest != b->newest)
		return a->newest < b->newest ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* THREAD=REFS: roots by their newest message (children stay by date) */
static struct tnode *refs_order(struct tnode *roots, struct arena *a)
{
	size_t n = 0, i = 0;
	struct refs_root *v;

	for (struct tnode *c = roots; c != NULL; c = c->next)
		n++;
	if (n < 2)
		return roots;
	v = arena_alloc(a, n * sizeof(*v));
	for (struct tnode *c = roots; c != NULL; c = c->next) {
		const struct search_msg *m = node_msg(c);

		v[i++] = (struct refs_root){c, newest_date(c), m != NULL ? m->seq : 0};
	}
	qsort(v, n, sizeof(*v), refs_root_cmp);
	for (i = 0; i + 1 < n; i++)
		v[i].node->next = v[i + 1].node;
	v[n - 1].node->next = NULL;
	return v[0].node;
}

static void thread_references(const struct search_msg *const *msgs, size_t count, bool by_uid,
			      bool group_subjects, struct arena *a, struct buf *out)
{
	struct id_table t;
	struct tnode **all = arena_alloc(a, (count + 1) * sizeof(*all));
	struct tnode *roots = NULL, **tail = &roots, **rv;
	size_t n = 0, i = 0;

	table_init(&t, count * 2, a);
	for (size_t j = 0; j < count; j++)
		all[j] = thread_add(&t, msgs[j]);
	/* step 2: the root set, from every container ever made: walk up
	   from each message (dummies without messages below are dropped by
	   pruning anyway) */
	for (size_t j = 0; j < count; j++) {
		struct tnode *c = all[j];

		while (c->parent != NULL)
			c = c->parent;
		if (c->hnext == c)
			continue; /* already a root (hnext reused as a mark) */
		/* the id table is no longer needed (step 3) */
		c->hnext = c;
		*tail = c;
		tail = &c->next;
		c->next = NULL;
	}
	prune(&roots, true);
	sort_siblings(&roots, a);
	if (!group_subjects) {
		roots = refs_order(roots, a);
		goto write;
	}
	for (struct tnode *c = roots; c != NULL; c = c->next)
		n++;
	rv = arena_alloc(a, (n + 1) * sizeof(*rv));
	for (struct tnode *c = roots; c != NULL; c = c->next)
		rv[i++] = c;
	group_by_subject(rv, n, a);
	roots = NULL;
	tail = &roots;
	for (i = 0; i < n; i++) {
		if (rv[i] == NULL)
			continue;
		rv[i]->parent = NULL;
		*tail = rv[i];
		tail = &rv[i]->next;
	}
	*tail = NULL;
	sort_siblings(&roots, a);
write:
	for (struct tnode *c = roots; c != NULL; c = c->next) {
		(void)buf_append_str(out, "(");
		write_node(c, by_uid, out);
		(void)buf_append_str(out, ")");
	}
}

static const char *msg_subject(const struct search_msg *m)
{
	return m->sort_str[SK_SUBJECT] != NULL ? m->sort_str[SK_SUBJECT] : "";
}

static int subject_date_cmp(const void *pa, const void *pb)
{
	static const struct sort_crit crit[] = {{SK_SUBJECT, false}, {SK_DATE, false}};

	return imap_sort_cmp(*(const struct search_msg *const *)pa,
			     *(const struct search_msg *const *)pb, crit, ARRAY_SIZE(crit));
}

static int first_date_cmp(const void *pa, const void *pb)
{
	const struct search_msg *a = **(const struct search_msg *const *const *)pa;
	const struct search_msg *b = **(const struct search_msg *const *const *)pb;

	if (msg_date(a) != msg_date(b))
		return msg_date(a) < msg_date(b) ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* RFC 5256 §4 ORDEREDSUBJECT: sorted by base subject and date, each run of
   one base subject is a thread whose first message is the parent of the
   others; threads ordered by the date of their first message. */
static void thread_orderedsubject(const struct search_msg *const *msgs, size_t count, bool by_uid,
				  struct arena *a, struct buf *out)
{
	const struct search_msg **v = arena_alloc(a, (count + 1) * sizeof(*v));
	const struct search_msg ***starts = arena_alloc(a, (count + 1) * sizeof(*starts));
	size_t threads = 0;

	memcpy(v, msgs, count * sizeof(*v));
	qsort(v, count, sizeof(*v), subject_date_cmp);
	for (size_t i = 0; i < count; i++) {
		if (i == 0 || strcasecmp(msg_subject(v[i]), msg_subject(v[i - 1])) != 0)
			starts[threads++] = &v[i];
	}
	qsort(starts, threads, sizeof(*starts), first_date_cmp);
	for (size_t t = 0; t < threads; t++) {
		const struct search_msg **m = starts[t], **end = m + 1;
		size_t kids;

		while (end < v + count && strcasecmp(msg_subject(*end), msg_subject(*m)) == 0)
			end++;
		kids = (size_t)(end - m) - 1;
		(void)buf_printf(out, "(%u", by_uid ? m[0]->uid : m[0]->seq);
		for (size_t k = 1; k <= kids; k++) {
			uint32_t num = by_uid ? m[k]->uid : m[k]->seq;

			if (kids == 1)
				(void)buf_printf(out, " %u", num);
			else
				(void)buf_printf(out, "%s(%u)", k == 1 ? " " : "", num);
		}
		(void)buf_append_str(out, ")");
	}
}

void imap_thread_build(enum thread_algo algo, const struct search_msg *const *msgs, size_t count,
		       bool by_uid, struct arena *a, struct buf *out)
{
	if (count == 0)
		return;
	if (algo == THREAD_REFERENCES || algo == THREAD_REFS)
		thread_references(msgs, count, by_uid, algo == THREAD_REFERENCES, a, out);
	else
		thread_orderedsubject(msgs, count, by_uid, a, out);
}

/* THREAD algorithm charset search-keys */
enum cmd_ret imap_cmd_thread(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct search_spec spec = {.mode = SEARCH_MODE_THREAD};

	if (args->count < 3 || args->args[0].type != IMAP_ARG_ATOM ||
	    args->args[1].type == IMAP_ARG_LIST || args->args[1].type == IMAP_ARG_NIL)
		return imap_cmd_bad(cmd, "THREAD expects an algorithm, a charset and search keys");
	if (slice_eq_ci(args->args[0].str, "ORDEREDSUBJECT"))
		spec.algo = THREAD_ORDEREDSUBJECT;
	else if (slice_eq_ci(args->args[0].str, "REFERENCES"))
		spec.algo = THREAD_REFERENCES;
	else if (slice_eq_ci(args->args[0].str, "REFS"))
		spec.algo = THREAD_REFS;
	else
		return imap_cmd_bad(cmd, "Unsupported THREAD algorithm");
	if (!imap_search_charset_ok(args->args[1].str))
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
	return imap_search_start(cmd, &spec, args->args + 2, args->count - 2);
}
