/* USER/PASS (RFC 1939 §7) and AUTH (RFC 5034: PLAIN and LOGIN, initial
   response allowed), and the maildrop snapshot taken right after.

   The credentials are copied into a job; on the worker pool auth_verify()
   decides the login and, when it succeeds, the same job reads the INBOX's
   UIDs and sizes in one store snapshot, so the client gets +OK only with
   its message list in hand and the numbering never changes afterwards
   (RFC 1939 §5). A failure is answered after the rate limiter's delay,
   from a timer on the loop. The completion finds the session through
   conn_session(): NULL means the client left, and the results go. */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "pop3-private.h"

enum pop3_load {
	POP3_LOAD_OK,
	POP3_LOAD_TEMPFAIL,
	POP3_LOAD_TOO_LARGE,
};

/* The maildrop snapshot taken in the login job, right after a good
   verification (auth-login.h hooks). */
struct pop3_maildrop {
	const struct mail_services *ms;
	size_t max_messages;
	enum pop3_load load;
	char load_error[STORE_ERROR_MSG_MAX + 32];
	int64_t mailbox_id;
	char *primary_address;
	struct pop3_msg *msgs;
	size_t count, cap;
};

static void maildrop_free(void *extra)
{
	struct pop3_maildrop *md = extra;

	free(md->primary_address);
	free(md->msgs);
	free(md);
}

static int login_fetch_cb(const struct store_message *msg, void *ctx)
{
	struct pop3_maildrop *md = ctx;

	if (md->count == md->max_messages) {
		md->load = POP3_LOAD_TOO_LARGE;
		return 1;
	}
	if (md->count == md->cap) {
		md->cap = md->cap == 0 ? 64 : md->cap * 2;
		md->msgs = xrealloc(md->msgs, md->cap * sizeof(*md->msgs));
	}
	md->msgs[md->count++] = (struct pop3_msg){ .uid = msg->uid, .size = msg->size };
	return 0;
}

/* On the worker, after a good login: INBOX, its messages, the account's
   primary address (blob keys are built from it, not from an alias). */
static void maildrop_load(const struct auth_result *res, void *extra)
{
	struct pop3_maildrop *md = extra;
	struct store *st = md->ms->store;
	struct arena *a = arena_new(1024);
	struct store_account account;
	struct store_mailbox mbox;
	struct store_error err = { 0 };

	if (store_account_get(st, res->account_id, a, &account, &err) < 0 ||
	    store_mailbox_get(st, res->account_id, "INBOX", a, &mbox, &err) < 0 ||
	    store_fetch(st, mbox.id, NULL, 0, STORE_FETCH_SIZE, 0, login_fetch_cb, md,
			&err) < 0) {
		md->load = POP3_LOAD_TEMPFAIL;
		snprintf(md->load_error, sizeof(md->load_error), "%s: %s",
			 store_err_name(err.code), err.msg);
	} else {
		md->mailbox_id = mbox.id;
		md->primary_address = xstrdup(account.primary_address);
	}
	arena_free(&a);
}

static void login_failed(struct pop3_client *pc, const struct auth_result *res)
{
	struct conn *c = pc->conn;

	if (res->status == AUTH_TEMPFAIL) {
		char msg[128];

		log_error(conn_log(c), "auth.tempfail", "reason=%s", log_str(res->reason));
		snprintf(msg, sizeof(msg), "[SYS/TEMP] Temporary authentication failure, "
			 "session %s", conn_log(c)->sid);
		pop3_err(pc, msg);
	} else {
		log_info(conn_log(c), "auth.failed", "reason=%s delay_ms=%llu",
			 log_str(res->reason), (unsigned long long)res->delay_ms);
		/* the same answer for a wrong password, an unknown user and a
		   blocked one: the limiter is no oracle */
		(void)pop3_client_error(pc, "[AUTH] Authentication failed");
	}
	pop3_resume(pc);
}

/* The login is good; the snapshot may not be. */
static void login_succeeded(struct pop3_client *pc, const struct auth_result *res,
			    struct pop3_maildrop *md)
{
	struct conn *c = pc->conn;
	char msg[128];

	if (md->load != POP3_LOAD_OK) {
		if (md->load == POP3_LOAD_TOO_LARGE) {
			log_warn(conn_log(c), "pop3.maildrop.too_large", "user=%s messages>%zu",
				 log_str(res->address), md->max_messages);
			pop3_err(pc, "[SYS/TEMP] Mailbox too large to open in this session");
		} else {
			log_error(conn_log(c), "store.fail", "op=maildrop user=%s err=%s",
				  log_str(res->address), log_str(md->load_error));
			snprintf(msg, sizeof(msg), "[SYS/TEMP] Cannot open the mailbox, "
				 "session %s", conn_log(c)->sid);
			pop3_err(pc, msg);
		}
		pop3_resume(pc);
		return;
	}
	pc->state = POP3_ST_TRANSACTION;
	pc->errors = 0;
	pc->account_id = res->account_id;
	pc->mailbox_id = md->mailbox_id;
	pc->primary_address = md->primary_address;
	md->primary_address = NULL;
	pc->msgs = md->msgs;
	pc->msg_count = md->count;
	md->msgs = NULL;
	pc->live_count = pc->msg_count;
	pc->live_size = 0;
	for (size_t i = 0; i < pc->msg_count; i++)
		pc->live_size += pc->msgs[i].size;
	snprintf(conn_log(c)->user, sizeof(conn_log(c)->user), "%s", res->address);
	log_info(conn_log(c), "login", "master=%s rehashed=%s messages=%zu",
		 res->via_master ? "yes" : "no", res->rehashed ? "yes" : "no",
		 pc->msg_count);
	pop3_set_idle_timeout(pc);
	pop3_ok(pc, "Authentication successful");
	pop3_resume(pc);
}

static void login_done(struct auth_login *al, const struct auth_result *res, void *extra)
{
	struct pop3_client *pc = al->ctx;

	if (res->status == AUTH_OK)
		login_succeeded(pc, res, extra);
	else
		login_failed(pc, res);
}

void pop3_auth_init(struct pop3_client *pc)
{
	auth_login_init(&pc->login, pc->conn, login_done, pc);
}

static void login_submit(struct pop3_client *pc, const char *authzid, const char *login,
			 size_t login_len, const char *password, size_t password_len)
{
	struct pop3_maildrop *md = xcalloc(1, sizeof(*md));
	uint64_t limit = pc->srv->cfg->session_memory_limit;
	struct auth_login_creds creds = {
		.authzid = authzid,
		.login = login,
		.login_len = login_len,
		.password = password,
		.password_len = password_len,
		.client_ip = pc->client_ip, /* "" = the connection's */
	};
	struct auth_login_hooks hooks = {
		.work = maildrop_load,
		.free_extra = maildrop_free,
		.extra = md,
	};

	md->ms = &pc->srv->ms;
	md->max_messages = limit == 0 ? SIZE_MAX : (size_t)(limit / sizeof(struct pop3_msg));
	pop3_busy(pc);
	auth_login_submit(&pc->login, pc->srv->auth, pc->srv->ms.workers, &creds, &hooks);
}

/* -ERR text when no login may be tried on this connection, else NULL.
   *counted: the refusal is a client error (Sora counts it). */
static const char *login_refusal(const struct pop3_client *pc, bool *counted)
{
	const struct pop3_server *srv = pc->srv;

	*counted = true;
	if (!pop3_plaintext_auth_allowed(pc))
		return "[AUTH] Plaintext authentication disallowed on non-secure connection";
	*counted = false;
	if (srv->auth == NULL || srv->ms.store == NULL || srv->ms.workers == NULL)
		return "[SYS/TEMP] Authentication is not available";
	return NULL;
}

static bool login_refused(struct pop3_client *pc)
{
	bool counted;
	const char *refusal = login_refusal(pc, &counted);

	if (refusal == NULL)
		return false;
	if (counted)
		(void)pop3_client_error(pc, refusal);
	else
		pop3_err(pc, refusal);
	return true;
}

static bool has_control_chars(struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		if ((unsigned char)s.ptr[i] < 0x20 || s.ptr[i] == 0x7f)
			return true;
	}
	return false;
}

enum pop3_ret pop3_cmd_user(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	if (login_refused(pc))
		return POP3_DONE;
	if (cmd->arg_count != 1)
		return pop3_client_error(pc, "Syntax: USER <username>");
	if (cmd->args[0].len > AUTH_LOGIN_FIELD_MAX || has_control_chars(cmd->args[0]))
		return pop3_client_error(pc, "Invalid username");
	free(pc->user);
	pc->user = xstrndup(cmd->args[0].ptr, cmd->args[0].len);
	pop3_ok(pc, NULL);
	return POP3_DONE;
}

enum pop3_ret pop3_cmd_pass(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	if (login_refused(pc))
		return POP3_DONE;
	if (pc->user == NULL)
		return pop3_client_error(pc, "Send USER first");
	/* the raw rest of the line: a password may hold blanks */
	if (cmd->raw_arg.len == 0)
		return pop3_client_error(pc, "Syntax: PASS <password>");
	if (cmd->raw_arg.len > AUTH_LOGIN_FIELD_MAX)
		return pop3_client_error(pc, "[AUTH] Authentication failed");
	/* the user name stays: RFC 1939 lets a client retry with PASS */
	login_submit(pc, NULL, pc->user, strlen(pc->user), cmd->raw_arg.ptr, cmd->raw_arg.len);
	return POP3_ASYNC;
}

static void sasl_done(struct pop3_client *pc)
{
	pc->sasl = NULL;
	arena_free(&pc->sasl_arena);
}

static void sasl_finish(struct pop3_client *pc, int ret, struct sasl_result *res,
			const struct sasl_error *err, struct slice challenge)
{
	if (ret == 0) {
		/* RFC 5034 §4: "+" SP base64 challenge (empty for PLAIN) */
		(void)conn_sendf(pc->conn, "+ %.*s\r\n", (int)challenge.len, challenge.ptr);
		return;
	}
	if (ret == 1) {
		login_submit(pc, res->authzid, res->authcid, res->authcid_len, res->password,
			     res->password_len);
		sasl_result_wipe(res);
	} else if (err->code == SASL_ERR_CANCELLED) {
		pop3_err(pc, "Authentication aborted");
	} else if (err->code == SASL_ERR_SYNTAX) {
		(void)pop3_client_error(pc, "Invalid base64 in authentication response");
	} else {
		(void)pop3_client_error(pc, "[AUTH] Authentication failed");
	}
	sasl_done(pc);
}

static void auth_list_mechanisms(struct pop3_client *pc)
{
	(void)conn_send_str(pc->conn, "+OK\r\n");
	for (int m = 0; m < SASL_MECH_COUNT; m++)
		(void)conn_sendf(pc->conn, "%s\r\n", sasl_mech_name((enum sasl_mech)m));
	(void)conn_send_str(pc->conn, ".\r\n");
}

enum pop3_ret pop3_cmd_auth(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice challenge = { 0 };
	enum sasl_mech mech;
	int ret;

	if (login_refused(pc))
		return POP3_DONE;
	if (cmd->arg_count == 0) {
		/* not in RFC 5034, but what clients probe (RFC 1734 era) */
		auth_list_mechanisms(pc);
		return POP3_DONE;
	}
	if (cmd->arg_count > 2)
		return pop3_client_error(pc, "Syntax: AUTH <mechanism> [initial-response]");
	if (sasl_mech_parse(cmd->args[0], &mech) < 0)
		return pop3_client_error(pc, "Unsupported SASL mechanism");
	pc->sasl_arena = arena_new(1024);
	pc->sasl = sasl_exchange_new(pc->sasl_arena, mech, NULL);
	ret = sasl_exchange_start(pc->sasl, cmd->arg_count == 2 ? &cmd->args[1] : NULL,
				  &challenge, &res, &err);
	sasl_finish(pc, ret, &res, &err, challenge);
	return pc->busy ? POP3_ASYNC : POP3_DONE;
}

void pop3_auth_continue(struct pop3_client *pc, struct slice line)
{
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice challenge = { 0 };
	int ret = sasl_exchange_step(pc->sasl, line, &challenge, &res, &err);

	sasl_finish(pc, ret, &res, &err, challenge);
}

void pop3_auth_cleanup(struct pop3_client *pc)
{
	auth_login_cleanup(&pc->login);
	sasl_done(pc);
}
