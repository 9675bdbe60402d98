/* SORT ordering (RFC 5256 §3, RFC 5957) and THREAD (RFC 5256 §4:
   ORDEREDSUBJECT and REFERENCES) on hand-made messages: the pure
   functions of src/imap/cmd-sort.c and cmd-thread.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap-search.h"

#define MAXM 16

struct fixture {
	struct search_msg m[MAXM];
	const struct search_msg *v[MAXM];
	size_t n;
	struct arena *a;
};

static struct fixture fx;

static int setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.a = arena_new(4096);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(&fx.a);
	return 0;
}

/* message n (seq n, uid 100 + n) */
static struct search_msg *msg(const char *subject, int64_t sent, int64_t arrival)
{
	struct search_msg *m = &fx.m[fx.n];

	*m = (struct search_msg){.seq = (uint32_t)fx.n + 1,
				 .uid = 100 + (uint32_t)fx.n + 1,
				 .sent_date = sent,
				 .internal_date = arrival};
	for (size_t k = 0; k < SK_COUNT; k++)
		m->sort_str[k] = "";
	m->sort_str[SK_SUBJECT] = subject;
	fx.v[fx.n] = m;
	fx.n++;
	return m;
}

static void assert_order(const struct sort_crit *crit, size_t count, const uint32_t *want)
{
	const struct search_msg *v[MAXM];

	memcpy(v, fx.v, fx.n * sizeof(*v));
	imap_sort_msgs(v, fx.n, crit, count);
	for (size_t i = 0; i < fx.n; i++)
		assert_int_equal(v[i]->seq, want[i]);
}

static const char *thread(enum thread_algo algo, bool by_uid)
{
	struct buf out;
	const char *s;

	buf_init(&out, 0);
	imap_thread_build(algo, fx.v, fx.n, by_uid, fx.a, &out);
	s = arena_strdup(fx.a, out.data != NULL ? out.data : "");
	buf_free(&out);
	return s;
}

static void test_date_falls_back_to_internaldate(void **state)
{
	static const struct sort_crit crit[] = {{SK_DATE, false}};
	static const uint32_t want[] = {2, 3, 1};

	(void)state;
	msg("a", 3000, 10);
	msg("b", 0, 1000); /* no Date: sorts at its arrival */
	msg("c", 2000, 10);
	assert_order(crit, 1, want);
}

static void test_ties_by_sequence_even_reversed(void **state)
{
	static const struct sort_crit crit[] = {{SK_DATE, true}};
	static const uint32_t want[] = {3, 1, 2, 4};

	(void)state;
	msg("a", 500, 1);
	msg("b", 500, 1);
	msg("c", 900, 1);
	msg("d", 100, 1);
	/* REVERSE flips the key, never the mailbox order of exact ties */
	assert_order(crit, 1, want);
}

static void test_subject_then_arrival_and_size(void **state)
{
	static const struct sort_crit crit[] = {{SK_SUBJECT, false}, {SK_ARRIVAL, true}};
	static const struct sort_crit by_size[] = {{SK_SIZE, false}};
	static const uint32_t want[] = {3, 1, 2};
	static const uint32_t want_size[] = {2, 3, 1};

	(void)state;
	msg("beta", 0, 10)->size = 300;
	msg("BETA", 0, 5)->size = 100;
	msg("alpha", 0, 1)->size = 200;
	/* i;ascii-casemap: "beta" and "BETA" tie on SUBJECT */
	assert_order(crit, 2, want);
	assert_order(by_size, 1, want_size);
}

static void test_display_and_missing_keys(void **state)
{
	static const struct sort_crit crit[] = {{SK_DISPLAYFROM, false}};
	static const uint32_t want[] = {2, 3, 1};

	(void)state;
	msg("", 0, 0)->sort_str[SK_DISPLAYFROM] = "zed";
	msg("", 0, 0)->sort_str[SK_DISPLAYFROM] = ""; /* no From: sorts first */
	msg("", 0, 0)->sort_str[SK_DISPLAYFROM] = "Alice";
	assert_order(crit, 1, want);
}

static void test_criteria_parse(void **state)
{
	struct imap_arg items[3] = {
	    {.type = IMAP_ARG_ATOM, .str = SLICE_LIT("REVERSE")},
	    {.type = IMAP_ARG_ATOM, .str = SLICE_LIT("displayfrom")},
	    {.type = IMAP_ARG_ATOM, .str = SLICE_LIT("SIZE")},
	};
	struct imap_arg list = {.type = IMAP_ARG_LIST, .list = items, .list_count = 3};
	struct imap_arg dangling = {.type = IMAP_ARG_LIST, .list = items, .list_count = 1};
	struct sort_crit crit[SORT_MAX_KEYS];
	size_t count = 0;

	(void)state;
	assert_int_equal(imap_sort_criteria_parse(&list, crit, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(crit[0].key, SK_DISPLAYFROM);
	assert_true(crit[0].reverse);
	assert_int_equal(crit[1].key, SK_SIZE);
	assert_false(crit[1].reverse);
	/* REVERSE without a key after it */
	assert_int_equal(imap_sort_criteria_parse(&dangling, crit, &count), -1);
}

static void test_orderedsubject(void **state)
{
	(void)state;
	msg("hello", 300, 0);
	msg("other", 100, 0);
	msg("hello", 200, 0);
	msg("hello", 400, 0);
	msg("single", 50, 0);
	/* threads by their first date; first message parents the rest */
	assert_string_equal(thread(THREAD_ORDEREDSUBJECT, false), "(5)(2)(3 (1)(4))");
	assert_string_equal(thread(THREAD_ORDEREDSUBJECT, true), "(105)(102)(103 (101)(104))");
}

static void test_references_chain_and_siblings(void **state)
{
	struct search_msg *m;

	(void)state;
	m = msg("topic", 100, 0);
	m->message_id = "a@x";
	m = msg("topic", 200, 0);
	m->message_id = "b@x";
	m->references = "<a@x>";
	m = msg("topic", 300, 0);
	m->message_id = "c@x";
	m->references = "<a@x> <b@x>";
	m = msg("topic", 250, 0);
	m->message_id = "d@x";
	m->in_reply_to = "a@x"; /* no References: In-Reply-To counts */
	/* a has children b (200) and d (250); c is below b */
	assert_string_equal(thread(THREAD_REFERENCES, false), "(1 (2 3)(4))");
}

static void test_references_dummy_parent(void **state)
{
	struct search_msg *m;

	(void)state;
	/* two replies to a message we do not have: the dummy stays at the
	   root because it holds more than one child */
	m = msg("lost", 200, 0);
	m->message_id = "r1@x";
	m->references = "<gone@x>";
	m = msg("lost", 100, 0);
	m->message_id = "r2@x";
	m->references = "<gone@x>";
	/* one reply to another missing message: promoted, no dummy */
	m = msg("alone", 300, 0);
	m->message_id = "r3@x";
	m->references = "<gone2@x> <gone3@x>";
	assert_string_equal(thread(THREAD_REFERENCES, false), "((2)(1))(3)");
}

static void test_references_no_loops_and_duplicates(void **state)
{
	struct search_msg *m;

	(void)state;
	/* a claims b as its parent, b claims a: one link wins, no loop */
	m = msg("x", 100, 0);
	m->message_id = "a@x";
	m->references = "<b@x>";
	m = msg("y", 200, 0);
	m->message_id = "b@x";
	m->references = "<a@x>";
	/* a message referring to itself */
	m = msg("z", 300, 0);
	m->message_id = "self@x";
	m->references = "<self@x>";
	/* a duplicate Message-ID is a message of its own */
	m = msg("w", 400, 0);
	m->message_id = "self@x";
	assert_string_equal(thread(THREAD_REFERENCES, false), "(2 1)(3)(4)");
}

static void test_references_subject_grouping(void **state)
{
	struct search_msg *m;

	(void)state;
	/* no references at all: a reply's subject joins the original */
	m = msg("meeting", 100, 0);
	m->message_id = "o@x";
	m = msg("meeting", 200, 0);
	m->message_id = "r@x";
	m->subject_is_reply = true;
	/* two originals with one subject: siblings under a dummy */
	m = msg("lunch", 300, 0);
	m->message_id = "l1@x";
	m = msg("lunch", 400, 0);
	m->message_id = "l2@x";
	/* no subject: never grouped */
	msg("", 500, 0)->message_id = "e1@x";
	msg("", 600, 0)->message_id = "e2@x";
	assert_string_equal(thread(THREAD_REFERENCES, false), "(1 2)((3)(4))(5)(6)");
}

static void test_references_sorted_by_sent_date(void **state)
{
	struct search_msg *m;

	(void)state;
	/* mailbox order differs from date order; a missing Date sorts at
	   INTERNALDATE */
	m = msg("late", 900, 0);
	m->message_id = "1@x";
	m = msg("early", 100, 0);
	m->message_id = "2@x";
	m = msg("nodate", 0, 500);
	m->message_id = "3@x";
	m = msg("early", 50, 0);
	m->message_id = "4@x";
	m->references = "<2@x>";
	assert_string_equal(thread(THREAD_REFERENCES, false), "(2 4)(3)(1)");
	assert_string_equal(thread(THREAD_REFERENCES, true), "(102 104)(103)(101)");
}

static void test_refs_no_subject_grouping_newest_last(void **state)
{
	struct search_msg *m;

	(void)state;
	/* two originals with one subject stay apart under REFS */
	m = msg("lunch", 300, 0);
	m->message_id = "l1@x";
	m = msg("lunch", 400, 0);
	m->message_id = "l2@x";
	/* an old thread with a recent reply sorts by that reply */
	m = msg("old", 100, 0);
	m->message_id = "o1@x";
	m = msg("old", 900, 0);
	m->message_id = "o2@x";
	m->references = "<o1@x>";
	assert_string_equal(thread(THREAD_REFS, false), "(1)(2)(3 4)");
	assert_string_equal(thread(THREAD_REFERENCES, false), "(3 4)((1)(2))");
}

static void test_thread_empty(void **state)
{
	(void)state;
	assert_string_equal(thread(THREAD_REFERENCES, false), "");
	assert_string_equal(thread(THREAD_ORDEREDSUBJECT, false), "");
	assert_string_equal(thread(THREAD_REFS, false), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_date_falls_back_to_internaldate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ties_by_sequence_even_reversed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subject_then_arrival_and_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_display_and_missing_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_criteria_parse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_orderedsubject, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_references_chain_and_siblings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_references_dummy_parent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_references_no_loops_and_duplicates, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_references_subject_grouping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_references_sorted_by_sent_date, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refs_no_subject_grouping_newest_last, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_thread_empty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
