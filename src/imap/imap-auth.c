/* LOGIN and AUTHENTICATE (RFC 9051 §6.2.2, §6.2.3; RFC 4959 SASL-IR).

   The credentials are copied into a job and verified by src/auth on the
   worker pool; the connection's input is paused meanwhile, so pipelined
   commands wait for the answer. A failure is answered after the rate
   limiter's delay, from a timer on the connection's loop. The completion
   finds the session through conn_session(): NULL means the client left. */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "imap-commands.h"

#define IMAP_MAX_AUTH_FAILURES 3

static void imap_auth_reply(struct imap_client *ic, const char *tag, const struct auth_result *res)
{
	struct conn *c = ic->conn;

	ic->auth_busy = false;
	/* the LOGIN/AUTHENTICATE command ends here: its arena is free again */
	if (ic->cmd_arena != NULL)
		arena_reset(ic->cmd_arena);
	if (res->status == AUTH_OK) {
		struct buf caps;

		ic->state = IMAP_ST_AUTH;
		ic->account_id = res->account_id;
		ic->auth_failures = 0;
		snprintf(conn_log(c)->user, sizeof(conn_log(c)->user), "%s", res->address);
		log_info(conn_log(c), "login", "master=%s rehashed=%s",
			 res->via_master ? "yes" : "no", res->rehashed ? "yes" : "no");
		/* the parser was made with pre-login limits */
		if (ic->parser != NULL && imap_parser_is_idle(ic->parser))
			imap_parser_free(&ic->parser);
		conn_set_idle_timeout(c, ic->srv->cfg->idle_timeout_ms);
		buf_init(&caps, 0);
		imap_capabilities(ic, &caps);
		(void)conn_sendf(c, "%s OK [CAPABILITY %s] Logged in\r\n", tag, caps.data);
		buf_free(&caps);
	} else if (res->status == AUTH_TEMPFAIL) {
		log_error(conn_log(c), "auth.tempfail", "reason=%s", log_str(res->reason));
		(void)conn_sendf(c, "%s NO [UNAVAILABLE] Temporary authentication failure, "
				    "session %s\r\n", tag, conn_log(c)->sid);
	} else {
		log_info(conn_log(c), "auth.failed", "reason=%s delay_ms=%llu",
			 log_str(res->reason), (unsigned long long)res->delay_ms);
		(void)conn_sendf(c, "%s NO [AUTHENTICATIONFAILED] Authentication failed\r\n", tag);
		if (++ic->auth_failures >= IMAP_MAX_AUTH_FAILURES) {
			(void)conn_send_str(c, "* BYE Too many authentication failures\r\n");
			conn_close(c, "too many authentication failures");
			return;
		}
	}
	conn_resume_input(c);
}

static void auth_login_done(struct auth_login *al, const struct auth_result *res, void *extra)
{
	struct imap_client *ic = al->ctx;

	(void)extra;
	imap_auth_reply(ic, ic->auth_tag, res);
}

void imap_auth_init(struct imap_client *ic)
{
	auth_login_init(&ic->login, ic->conn, auth_login_done, ic);
}

static void imap_auth_submit(struct imap_client *ic, const char *tag, const char *authzid,
			     const char *login, size_t login_len, const char *password,
			     size_t password_len)
{
	struct auth_login_creds creds = {
		.authzid = authzid,
		.login = login,
		.login_len = login_len,
		.password = password,
		.password_len = password_len,
	};

	snprintf(ic->auth_tag, sizeof(ic->auth_tag), "%s", tag);
	ic->auth_busy = true;
	auth_login_submit(&ic->login, ic->srv->auth, ic->srv->workers, &creds, NULL);
}

/* NO, or NULL when a login may be tried on this connection. */
static const char *imap_auth_refusal(const struct imap_client *ic)
{
	if (!imap_plaintext_auth_allowed(ic))
		return "[PRIVACYREQUIRED] Plaintext authentication is disabled on an "
		       "unencrypted connection, use TLS";
	if (ic->srv->auth == NULL)
		return "[UNAVAILABLE] Authentication is not available: no account store";
	return NULL;
}

static bool imap_astring(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED ||
	       a->type == IMAP_ARG_LITERAL;
}

enum cmd_ret imap_cmd_login(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	const struct imap_arg *args = cmd->args->args;
	const char *refusal = imap_auth_refusal(ic);
	enum cmd_ret ret = CMD_ASYNC;

	if (cmd->args->count != 2 || !imap_astring(&args[0]) || !imap_astring(&args[1]))
		ret = imap_cmd_bad(cmd, "LOGIN expects a user name and a password");
	else if (refusal != NULL)
		ret = imap_cmd_no(cmd, "%s", refusal);
	else if (args[0].str.len > AUTH_LOGIN_FIELD_MAX || args[1].str.len > AUTH_LOGIN_FIELD_MAX)
		ret = imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] Authentication failed");
	else
		imap_auth_submit(ic, cmd->tag, NULL, args[0].str.ptr, args[0].str.len,
				 args[1].str.ptr, args[1].str.len);
	/* the command arena is reused: leave no password in it */
	if (cmd->args->count >= 2)
		util_wipe((char *)args[1].str.ptr, args[1].str.len);
	return ret;
}

static void sasl_finish(struct imap_client *ic, int ret, struct sasl_result *res,
			const struct sasl_error *err, struct slice challenge)
{
	struct conn *c = ic->conn;

	if (ret == 0) {
		(void)conn_sendf(c, "+ %.*s\r\n", (int)challenge.len, challenge.ptr);
		return;
	}
	if (ret == 1) {
		imap_auth_submit(ic, ic->sasl_tag, res->authzid, res->authcid, res->authcid_len,
				 res->password, res->password_len);
		sasl_result_wipe(res);
	} else if (err->code == SASL_ERR_CANCELLED) {
		(void)conn_sendf(c, "%s BAD Authentication cancelled\r\n", ic->sasl_tag);
	} else if (err->code == SASL_ERR_SYNTAX) {
		(void)conn_sendf(c, "%s BAD Invalid base64 in authentication response\r\n",
				 ic->sasl_tag);
	} else {
		(void)conn_sendf(c, "%s NO [AUTHENTICATIONFAILED] Authentication failed\r\n",
				 ic->sasl_tag);
	}
	ic->sasl = NULL;
	arena_free(&ic->sasl_arena);
}

enum cmd_ret imap_cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;
	const struct imap_arg *args = cmd->args->args;
	const char *refusal = imap_auth_refusal(ic);
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice challenge = { 0 }, ir;
	enum sasl_mech mech;
	int ret;

	if (cmd->args->count < 1 || cmd->args->count > 2 || args[0].type != IMAP_ARG_ATOM ||
	    (cmd->args->count == 2 && args[1].type != IMAP_ARG_ATOM))
		return imap_cmd_bad(cmd, "AUTHENTICATE expects a mechanism and an optional "
					 "initial response");
	if (refusal != NULL)
		return imap_cmd_no(cmd, "%s", refusal);
	if (sasl_mech_parse(args[0].str, &mech) < 0)
		return imap_cmd_no(cmd, "[CANNOT] Unsupported authentication mechanism");
	snprintf(ic->sasl_tag, sizeof(ic->sasl_tag), "%s", cmd->tag);
	ic->sasl_arena = arena_new(1024);
	ic->sasl = sasl_exchange_new(ic->sasl_arena, mech, NULL);
	if (cmd->args->count == 2)
		ir = args[1].str;
	ret = sasl_exchange_start(ic->sasl, cmd->args->count == 2 ? &ir : NULL, &challenge, &res,
				  &err);
	if (cmd->args->count == 2)
		util_wipe((char *)args[1].str.ptr, args[1].str.len);
	sasl_finish(ic, ret, &res, &err, challenge);
	return ic->auth_busy ? CMD_ASYNC : CMD_DONE;
}

void imap_auth_continue(struct imap_client *ic, struct slice line)
{
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice challenge = { 0 };
	int ret = sasl_exchange_step(ic->sasl, line, &challenge, &res, &err);

	sasl_finish(ic, ret, &res, &err, challenge);
}

void imap_auth_cleanup(struct imap_client *ic)
{
	auth_login_cleanup(&ic->login);
	ic->sasl = NULL;
	arena_free(&ic->sasl_arena);
}
