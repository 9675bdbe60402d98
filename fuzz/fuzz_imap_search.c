/* libFuzzer target for the SEARCH / SORT / THREAD argument parsers and
   the THREAD algorithms (imap/imap-search.h).

   Byte 0 picks the mode:
   - even: the rest is IMAP command lines. Each complete command's
     arguments go through the RETURN-option, SORT-criteria and search-key
     parsers (with a session holding a UID map and a "$"), and the parsed
     criteria are evaluated on a few messages with headers, so every key,
     HEADER's field matching and the nesting limit run. A key parser must
     never read past its arguments or recurse without bound.
   - odd: the rest is lines "message-id subject references…" (space
     separated), one message each, dated by line number (byte 1 shuffles).
     ORDEREDSUBJECT, REFERENCES and REFS must give each message exactly
     once, with balanced parentheses, whatever loops, duplicates and
     missing parents the references describe. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-search.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x)                                                                             \
	((x) ? (void)0 : (fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x), abort()))

#define MAX_MSGS 64

static void fuzz_search(const uint8_t *data, size_t size)
{
	static uint32_t uids[] = {1, 2, 3, 5, 8, 13, 21, 34};
	static uint32_t saved[] = {2, 3, 21};
	struct imap_parser_limits limits;
	struct imap_parser *p;
	struct arena *a = arena_new(4096);
	struct imap_client ic = {.uids = uids,
				 .uid_count = ARRAY_SIZE(uids),
				 .searchres = saved,
				 .searchres_count = ARRAY_SIZE(saved),
				 .state = IMAP_ST_SELECTED};
	struct search_msg msgs[3];
	struct slice in = slice_from((const char *)data, size);

	for (size_t i = 0; i < ARRAY_SIZE(msgs); i++) {
		msgs[i] = (struct search_msg){
		    .uid = uids[i * 3],
		    .seq = (uint32_t)i * 3 + 1,
		    .flags = (uint32_t)i,
		    .keywords = i == 1 ? "$Junk foo" : "",
		    .internal_date = 1700000000 + (int64_t)i * 86400,
		    .sent_date = i == 2 ? 0 : 1700000000,
		    .save_date = 1700000000,
		    .size = i * 1000,
		    .header = i == 0   ? "X-A: one\r\n two\r\nSubject: x\r\n"
			      : i == 1 ? "x-a:\r\n"
				       : NULL,
		};
		for (size_t k = 0; k < SK_COUNT; k++)
			msgs[i].sort_str[k] = "";
	}
	imap_parser_limits_default(&limits);
	limits.max_literal = 4096;
	p = imap_parser_new(&limits);
	while (in.len > 0) {
		struct imap_cmd_args *args = NULL;
		const char *error = NULL;
		size_t used = 0;
		int ret = imap_parser_feed(p, in, &used, a, &args, &error);

		in.ptr += used;
		in.len -= used;
		if (ret == 0)
			break;
		if (ret > 0) {
			unsigned int r = 0;
			struct sort_crit crit[SORT_MAX_KEYS];
			size_t crit_count = 0;
			int hits;

			if (args->count > 0) {
				(void)imap_search_return_parse(&args->args[0], &r);
				if (imap_sort_criteria_parse(&args->args[0], crit, &crit_count) ==
				    0)
					FUZZ_ASSERT(crit_count > 0 && crit_count <= SORT_MAX_KEYS);
			}
			hits = imap_search_eval_keys(&ic, args->args, args->count, a, msgs,
						     ARRAY_SIZE(msgs), 1700500000);
			FUZZ_ASSERT(hits >= -1 && hits <= (int)ARRAY_SIZE(msgs));
		} else if (used == 0) {
			break;
		}
		if (used == 0 && ret != 0)
			break;
		arena_reset(a);
	}
	imap_parser_free(&p);
	arena_free(&a);
}

static void check_thread(enum thread_algo algo, const struct search_msg *const *v, size_t n,
			 struct arena *a)
{
	struct buf out;
	int depth = 0;
	size_t seen[MAX_MSGS + 1] = {0};

	buf_init(&out, 0);
	imap_thread_build(algo, v, n, false, a, &out);
	for (const char *s = out.data != NULL ? out.data : ""; *s != '\0'; s++) {
		if (*s == '(') {
			depth++;
		} else if (*s == ')') {
			FUZZ_ASSERT(--depth >= 0);
		} else if (*s >= '0' && *s <= '9') {
			unsigned long num = strtoul(s, (char **)&s, 10);

			FUZZ_ASSERT(num >= 1 && num <= n);
			seen[num]++;
			s--;
		} else {
			FUZZ_ASSERT(*s == ' ');
		}
	}
	FUZZ_ASSERT(depth == 0);
	for (size_t i = 1; i <= n; i++)
		FUZZ_ASSERT(seen[i] == 1);
	buf_free(&out);
}

static void fuzz_thread(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(4096);
	struct search_msg *msgs = arena_alloc(a, MAX_MSGS * sizeof(*msgs));
	const struct search_msg **v = arena_alloc(a, MAX_MSGS * sizeof(*v));
	char *text = arena_strndup(a, (const char *)data + 1, size > 0 ? size - 1 : 0);
	uint8_t shuffle = size > 0 ? data[0] : 0;
	size_t n = 0;

	for (char *line = text; line != NULL && *line != '\0' && n < MAX_MSGS;) {
		char *nl = strchr(line, '\n'), *sp;
		struct search_msg *m = &msgs[n];

		if (nl != NULL)
			*nl = '\0';
		*m = (struct search_msg){.seq = (uint32_t)n + 1,
					 .uid = (uint32_t)n + 1,
					 .sent_date = (int64_t)((n * 7 + shuffle) % 13),
					 .internal_date = (int64_t)n};
		for (size_t k = 0; k < SK_COUNT; k++)
			m->sort_str[k] = "";
		m->message_id = line;
		sp = strchr(line, ' ');
		if (sp != NULL) {
			*sp = '\0';
			m->sort_str[SK_SUBJECT] = sp + 1;
			sp = strchr(sp + 1, ' ');
			if (sp != NULL) {
				*sp = '\0';
				m->references = sp + 1;
				m->in_reply_to = (shuffle & 1) != 0 ? sp + 1 : NULL;
			}
		}
		m->subject_is_reply = ((shuffle >> (n % 8)) & 1) != 0;
		v[n] = m;
		n++;
		line = nl != NULL ? nl + 1 : NULL;
	}
	check_thread(THREAD_ORDEREDSUBJECT, v, n, a);
	check_thread(THREAD_REFERENCES, v, n, a);
	check_thread(THREAD_REFS, v, n, a);
	arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0)
		fuzz_search(data + 1, size - 1);
	else
		fuzz_thread(data + 1, size - 1);
	return 0;
}
