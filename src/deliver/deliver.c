#include "deliver.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/arena.h"
#include "../lib/str.h"
#include "../lib/util.h"
#include "../mime/mime.h"
#include "../store/blob.h"
#include "../store/store.h"

static void set_status(struct deliver_result *res, enum deliver_status status, const char *what,
		       const char *msg)
{
	res->status = status;
	/* what is a short static word; msg is cut to fit */
	snprintf(res->reason, sizeof(res->reason), "%.16s%s%.256s", what,
		 what[0] != '\0' && msg[0] != '\0' ? ": " : "", msg);
}

void deliver_message(const struct mail_services *ms, const char *address, const char *mailbox,
		     const char *data, size_t len, uint32_t flags, int64_t internal_date,
		     struct deliver_result *res)
{
	deliver_message_keywords(ms, address, mailbox, data, len, flags, NULL, 0, internal_date,
				 res);
}

void deliver_message_keywords(const struct mail_services *ms, const char *address,
			      const char *mailbox, const char *data, size_t len, uint32_t flags,
			      const char *const *keywords, size_t keyword_count,
			      int64_t internal_date, struct deliver_result *res)
{
	struct arena *a = arena_new(16384);
	struct store_account account;
	struct store_mailbox mbox;
	struct store_message_new msg = { 0 };
	struct store_append item = { 0 };
	struct store_error serr;
	char perr[300];
	int64_t account_id;
	int ret;

	*res = (struct deliver_result){ .status = DELIVER_OK };
	if (store_account_find(ms->store, address, false, &account_id, &serr) < 0 ||
	    store_account_get(ms->store, account_id, a, &account, &serr) < 0) {
		set_status(res, serr.code == STORE_NOT_FOUND ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL,
			   "account", serr.msg);
		goto out;
	}
	if (store_mailbox_get(ms->store, account_id, mailbox != NULL ? mailbox : "INBOX", a, &mbox,
			      &serr) < 0 || mbox.is_noselect) {
		if (mailbox == NULL || (serr.code != STORE_NOT_FOUND && !mbox.is_noselect) ||
		    store_mailbox_get(ms->store, account_id, "INBOX", a, &mbox, &serr) < 0) {
			set_status(res, DELIVER_TEMPFAIL, "mailbox", serr.msg);
			goto out;
		}
	}
	ret = deliver_prepare(ms, account.primary_address, data, len, a, &msg, perr, sizeof(perr));
	if (ret < 0) {
		set_status(res, ret == DELIVER_PREPARE_REFUSED ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL,
			   "", perr);
		goto out;
	}
	msg.flags = flags;
	msg.keywords = keywords;
	msg.keyword_count = keyword_count;
	msg.internal_date = internal_date != 0 ? internal_date : (int64_t)time(NULL);
	item.mailbox_id = mbox.id;
	item.msg = &msg;
	if (store_append_batch(ms->store, &item, 1, &serr) < 0) {
		set_status(res, serr.code == STORE_INVALID ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL,
			   "store", serr.msg);
		goto out;
	}
	res->uid = item.uid_r;
	res->uidvalidity = item.uidvalidity_r;
	snprintf(res->mailbox, sizeof(res->mailbox), "%s", mbox.name);
out:
	arena_free(&a);
}
