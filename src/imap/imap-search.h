#ifndef SORA_IMAP_SEARCH_H
#define SORA_IMAP_SEARCH_H

/* The search engine shared by SEARCH, UID SEARCH, ESEARCH (RFC 7377
   MULTISEARCH), SORT (RFC 5256, RFC 5957, RFC 5267 ESORT) and THREAD
   (RFC 5256). Private to src/imap.

   cmd-search.c parses the criteria on the loop and evaluates them on a
   worker against one store_fetch() of the mailbox; SORT (cmd-sort.c) and
   THREAD (cmd-thread.c) order the hits from the stored sort columns only:
   no message body or header is parsed at SORT/THREAD time. The ordering
   functions below are pure, so unit tests call them directly. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/arena.h"
#include "../lib/str.h"
#include "imap-commands.h"

/* RFC 5256 SORT keys and RFC 5957 DISPLAYFROM/DISPLAYTO */
enum sort_key {
	SK_ARRIVAL,
	SK_CC,
	SK_DATE,
	SK_FROM,
	SK_SIZE,
	SK_SUBJECT,
	SK_TO,
	SK_DISPLAYFROM,
	SK_DISPLAYTO,
	SK_COUNT
};

#define SORT_MAX_KEYS 16

struct sort_crit {
	enum sort_key key;
	bool reverse;
};

/* One candidate message: what criteria, SORT and THREAD look at. */
struct search_msg {
	uint32_t uid, seq, flags;
	uint64_t modseq;
	const char *sort_str[SK_COUNT]; /* the string keys ("" when absent) */
	const char *keywords;
	int64_t internal_date, sent_date, save_date; /* sent_date 0: no usable Date */
	uint64_t size;
	int64_t email_id; /* RFC 8474 EMAILID */
	/* THREAD: without <>, NULL when absent; references as stored ("<a> <b>") */
	const char *message_id, *in_reply_to, *references;
	bool subject_is_reply; /* the Subject had a Re:/Fwd: the base subject lost */
	/* HEADER of a field the store does not index: the raw header block
	   (NULL when not needed or unreadable) and the blob it came from */
	const char *header;
	const char *content_hash;
};

/* ---- cmd-search.c: the engine ---- */

enum search_mode { SEARCH_MODE_SEARCH, SEARCH_MODE_SORT, SEARCH_MODE_THREAD };
/* REFS (draft-ietf-morg-inthread, as Sora and Dovecot serve it): the
   REFERENCES links without the grouping by base subject, threads ordered
   by their most recent message */
enum thread_algo { THREAD_ORDEREDSUBJECT, THREAD_REFERENCES, THREAD_REFS };

/* RFC 4731 / RFC 5267 RETURN options */
enum search_return {
	SR_MIN = 1 << 0,
	SR_MAX = 1 << 1,
	SR_ALL = 1 << 2,
	SR_COUNT = 1 << 3,
	SR_SAVE = 1 << 4, /* RFC 5182 SEARCHRES */
};

struct search_spec {
	enum search_mode mode;
	unsigned int ret; /* RETURN options; 0: none given (plain SEARCH/SORT reply) */
	struct sort_crit sort[SORT_MAX_KEYS];
	size_t sort_count;
	enum thread_algo algo;
};

/* "(MIN MAX ...)": 0, or -1 for an unknown option. () means ALL. */
int imap_search_return_parse(const struct imap_arg *list, unsigned int *ret_r);
/* CHARSET names served: UTF-8 and US-ASCII (everything is UTF-8 inside). */
bool imap_search_charset_ok(struct slice name);
/* Parses keys (the search criteria) and runs the search on a worker,
   answering as spec says; answers BAD itself for bad criteria. */
enum cmd_ret imap_search_start(struct imap_cmd *cmd, const struct search_spec *spec,
			       const struct imap_arg *keys, size_t key_count);

/* Parses keys as SEARCH would for ic and evaluates the tree on msgs
   (text criteria, which need the store, match nothing; now is WITHIN's
   clock). -1 for bad criteria, else how many of msgs match. For the fuzz
   target and tests; no store involved. */
int imap_search_eval_keys(struct imap_client *ic, const struct imap_arg *keys, size_t key_count,
			  struct arena *a, const struct search_msg *msgs, size_t count,
			  int64_t now);

/* ---- cmd-sort.c ---- */

/* Parses a SORT criteria list ("(REVERSE DATE SUBJECT)"). 0, or -1. */
int imap_sort_criteria_parse(const struct imap_arg *list, struct sort_crit *crit, size_t *count_r);
/* RFC 5256 §3 ordering: the keys in turn, then the sequence number. */
int imap_sort_cmp(const struct search_msg *a, const struct search_msg *b,
		  const struct sort_crit *crit, size_t crit_count);
void imap_sort_msgs(const struct search_msg **msgs, size_t count, const struct sort_crit *crit,
		    size_t crit_count);

/* ---- cmd-thread.c ---- */

/* Appends the RFC 5256 thread list ("(1 2)(3 (4)(5))", nothing for no
   messages) of msgs, numbered by UID or sequence number. msgs need not be
   in any order. Temporary memory comes from a. */
void imap_thread_build(enum thread_algo algo, const struct search_msg *const *msgs, size_t count,
		       bool by_uid, struct arena *a, struct buf *out);

#endif
