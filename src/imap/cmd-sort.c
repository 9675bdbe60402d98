/* SORT and UID SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT
   (RFC 5267 RETURN options on SORT; CONTEXT is not served).

   The keys come from the columns the MIME layer filled at delivery
   (base subject, first address mailboxes, display names, Date in UTC):
   sorting reads them through store_fetch(STORE_FETCH_HEADERS) and never
   parses a message. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/util.h"
#include "imap-search.h"

static const char *const sort_key_names[] = {"ARRIVAL", "CC", "DATE",	     "FROM",	 "SIZE",
					     "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"};
static_assert(ARRAY_SIZE(sort_key_names) == SK_COUNT, "sort_key_names out of sync");

int imap_sort_criteria_parse(const struct imap_arg *l, struct sort_crit *crit, size_t *count_r)
{
	bool reverse = false;
	size_t count = 0;

	if (l->type != IMAP_ARG_LIST || l->list_count == 0)
		return -1;
	for (size_t i = 0; i < l->list_count; i++) {
		const struct imap_arg *a = &l->list[i];
		size_t k;

		if (a->type != IMAP_ARG_ATOM)
			return -1;
		if (slice_eq_ci(a->str, "REVERSE") && !reverse) {
			reverse = true;
			continue;
		}
		for (k = 0; k < SK_COUNT; k++) {
			if (slice_eq_ci(a->str, sort_key_names[k]))
				break;
		}
		if (k == SK_COUNT || count == SORT_MAX_KEYS)
			return -1;
		crit[count++] = (struct sort_crit){.key = (enum sort_key)k, .reverse = reverse};
		reverse = false;
	}
	if (reverse)
		return -1; /* REVERSE must precede a key */
	*count_r = count;
	return 0;
}

static int cmp_num(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }

/* RFC 5256 §3 DATE: the sent date in UTC; without a usable Date header,
   the INTERNALDATE */
static int64_t sort_date(const struct search_msg *m)
{
	return m->sent_date != 0 ? m->sent_date : m->internal_date;
}

int imap_sort_cmp(const struct search_msg *a, const struct search_msg *b,
		  const struct sort_crit *crit, size_t crit_count)
{
	for (size_t i = 0; i < crit_count; i++) {
		enum sort_key k = crit[i].key;
		int c;

		switch (k) {
		case SK_ARRIVAL:
			c = cmp_num(a->internal_date, b->internal_date);
			break;
		case SK_DATE:
			c = cmp_num(sort_date(a), sort_date(b));
			break;
		case SK_SIZE:
			c = a->size < b->size ? -1 : a->size > b->size;
			break;
		default:
			/* i;ascii-casemap (RFC 5256 §3), missing = "" */
			c = strcasecmp(a->sort_str[k] != NULL ? a->sort_str[k] : "",
				       b->sort_str[k] != NULL ? b->sort_str[k] : "");
			c = c < 0 ? -1 : c > 0;
			break;
		}
		if (c != 0)
			return crit[i].reverse ? -c : c;
	}
	/* exact ties keep mailbox order, whatever REVERSE said */
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct sort_ctx {
	const struct sort_crit *crit;
	size_t count;
};

static int sort_qsort_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *ctx = arg;

	return imap_sort_cmp(*(const struct search_msg *const *)pa,
			     *(const struct search_msg *const *)pb, ctx->crit, ctx->count);
}

void imap_sort_msgs(const struct search_msg **msgs, size_t count, const struct sort_crit *crit,
		    size_t crit_count)
{
	struct sort_ctx ctx = {.crit = crit, .count = crit_count};

	if (count > 1)
		qsort_r(msgs, count, sizeof(*msgs), sort_qsort_cmp, &ctx);
}

/* SORT [RETURN (options)] (criteria) charset search-keys */
enum cmd_ret imap_cmd_sort(struct imap_cmd *cmd)
{
	const struct imap_cmd_args *args = cmd->args;
	struct search_spec spec = {.mode = SEARCH_MODE_SORT};
	size_t first = 0;

	if (args->count > 0 && args->args[0].type == IMAP_ARG_ATOM &&
	    slice_eq_ci(args->args[0].str, "RETURN")) {
		if (args->count < 2 || imap_search_return_parse(&args->args[1], &spec.ret) < 0)
			return imap_cmd_bad(cmd, "Invalid or unsupported SORT RETURN options");
		first = 2;
	}
	if (args->count < first + 3 || args->args[first + 1].type == IMAP_ARG_LIST ||
	    args->args[first + 1].type == IMAP_ARG_NIL)
		return imap_cmd_bad(cmd, "SORT expects criteria, a charset and search keys");
	if (imap_sort_criteria_parse(&args->args[first], spec.sort, &spec.sort_count) < 0)
		return imap_cmd_bad(cmd, "Invalid SORT criteria");
	if (!imap_search_charset_ok(args->args[first + 1].str))
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
	return imap_search_start(cmd, &spec, args->args + first + 2, args->count - first - 2);
}
