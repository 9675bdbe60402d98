/* ManageSieve sessions: greeting and capabilities, the command reader and
   dispatcher, the commands before login (STARTTLS, AUTHENTICATE, LOGIN)
   and the few that work in every state. The script commands live in
   managesieve-commands.c; the shared state is in managesieve-private.h. */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "../net/loop.h"
#include "managesieve-private.h"

enum msieve_cmd_flags {
	CMD_NONAUTH = 1 << 0,
	CMD_AUTH = 1 << 1,
	CMD_ANY = CMD_NONAUTH | CMD_AUTH,
};

struct msieve_command {
	const char *verb;
	void (*fn)(struct msieve_client *mc, struct msieve_cmd *cmd);
	unsigned flags;
};

static void cmd_capability(struct msieve_client *mc, struct msieve_cmd *cmd);
static void cmd_starttls(struct msieve_client *mc, struct msieve_cmd *cmd);
static void cmd_authenticate(struct msieve_client *mc, struct msieve_cmd *cmd);
static void cmd_login(struct msieve_client *mc, struct msieve_cmd *cmd);
static void cmd_noop(struct msieve_client *mc, struct msieve_cmd *cmd);
static void cmd_logout(struct msieve_client *mc, struct msieve_cmd *cmd);
static void cmd_unauthenticate(struct msieve_client *mc, struct msieve_cmd *cmd);

static const struct msieve_command msieve_commands[] = {
	{ "CAPABILITY", cmd_capability, CMD_ANY },
	{ "STARTTLS", cmd_starttls, CMD_NONAUTH },
	{ "AUTHENTICATE", cmd_authenticate, CMD_NONAUTH },
	{ "LOGIN", cmd_login, CMD_NONAUTH },
	{ "NOOP", cmd_noop, CMD_ANY },
	{ "LOGOUT", cmd_logout, CMD_ANY },
	{ "UNAUTHENTICATE", cmd_unauthenticate, CMD_AUTH },
	{ "LISTSCRIPTS", msieve_cmd_listscripts, CMD_AUTH },
	{ "GETSCRIPT", msieve_cmd_getscript, CMD_AUTH },
	{ "PUTSCRIPT", msieve_cmd_putscript, CMD_AUTH },
	{ "CHECKSCRIPT", msieve_cmd_checkscript, CMD_AUTH },
	{ "HAVESPACE", msieve_cmd_havespace, CMD_AUTH },
	{ "RENAMESCRIPT", msieve_cmd_renamescript, CMD_AUTH },
	{ "SETACTIVE", msieve_cmd_setactive, CMD_AUTH },
	{ "DELETESCRIPT", msieve_cmd_deletescript, CMD_AUTH },
};

/* ---- server ---------------------------------------------------------- */

struct msieve_server *msieve_server_new(const struct config_server *cfg, bool starttls,
					struct auth *auth, const struct mail_services *ms,
					const struct msieve_settings *set)
{
	struct msieve_server *srv = xcalloc(1, sizeof(*srv));
	struct buf caps;

	srv->cfg = cfg;
	srv->starttls = starttls;
	srv->auth = auth;
	if (ms != NULL)
		srv->ms = *ms;
	if (set != NULL)
		srv->set = *set;
	if (srv->set.max_script_size == 0)
		srv->set.max_script_size = MSIEVE_MAX_SCRIPT_SIZE_DEFAULT;
	if (srv->set.max_scripts == 0)
		srv->set.max_scripts = MSIEVE_MAX_SCRIPTS_DEFAULT;
	buf_init(&caps, 0);
	if (srv->set.extensions == NULL) {
		(void)buf_append_str(&caps, sieve_extensions_default());
	} else {
		for (size_t i = 0; srv->set.extensions[i] != NULL; i++)
			(void)buf_printf(&caps, "%s%s", i > 0 ? " " : "", srv->set.extensions[i]);
	}
	srv->sieve_caps = xstrndup(caps.data != NULL ? caps.data : "", caps.len);
	buf_free(&caps);
	return srv;
}

void msieve_server_free(struct msieve_server **srvp)
{
	struct msieve_server *srv = *srvp;

	if (srv == NULL)
		return;
	free(srv->sieve_caps);
	free(srv);
	*srvp = NULL;
}

/* ---- replies --------------------------------------------------------- */

void msieve_put_string(struct buf *b, const char *s, size_t len)
{
	bool quotable = len <= MSIEVE_QUOTED_MAX;

	for (size_t i = 0; quotable && i < len; i++)
		quotable = s[i] != '\r' && s[i] != '\n' && s[i] != '\0';
	if (!quotable) {
		(void)buf_printf(b, "{%zu}\r\n", len);
		(void)buf_append(b, s, len);
		return;
	}
	(void)buf_append(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			(void)buf_append(b, "\\", 1);
		(void)buf_append(b, &s[i], 1);
	}
	(void)buf_append(b, "\"", 1);
}

void msieve_put_response(struct buf *b, const char *status, const char *code, const char *text)
{
	(void)buf_append_str(b, status);
	if (code != NULL)
		(void)buf_printf(b, " (%s)", code);
	if (text != NULL) {
		(void)buf_append(b, " ", 1);
		msieve_put_string(b, text, strlen(text));
	}
	(void)buf_append(b, "\r\n", 2);
}

void msieve_send_response(struct msieve_client *mc, const char *status, const char *code,
			  const char *text)
{
	struct buf b;

	buf_init(&b, 0);
	msieve_put_response(&b, status, code, text);
	(void)conn_send(mc->conn, b.data, b.len);
	buf_free(&b);
}

static void msieve_bye(struct msieve_client *mc, const char *text, const char *reason)
{
	msieve_send_response(mc, "BYE", NULL, text);
	conn_close(mc->conn, reason);
}

void msieve_client_error(struct msieve_client *mc, const char *code, const char *text)
{
	msieve_send_response(mc, "NO", code, text);
	log_debug(conn_log(mc->conn), "managesieve.error", "n=%u error=%s", mc->errors + 1,
		  log_str(text));
	if (++mc->errors >= MSIEVE_MAX_ERRORS)
		msieve_bye(mc, "Too many errors", "too many errors");
}

static bool plaintext_auth_allowed(const struct msieve_client *mc)
{
	return conn_is_secure(mc->conn) || mc->srv->cfg->insecure_auth;
}

/* Sora's block (sora-features §4), then UNAUTHENTICATE (RFC 5804 §2.14). */
static void put_capabilities(struct msieve_client *mc, struct buf *b)
{
	const struct msieve_server *srv = mc->srv;

	(void)buf_append_str(b, "\"IMPLEMENTATION\" \"ManageSieve\"\r\n\"VERSION\" \"1.0\"\r\n");
	(void)buf_append_str(b, "\"SIEVE\" ");
	msieve_put_string(b, srv->sieve_caps, strlen(srv->sieve_caps));
	(void)buf_append_str(b, "\r\n");
	if (srv->starttls && conn_can_starttls(mc->conn))
		(void)buf_append_str(b, "\"STARTTLS\"\r\n");
	(void)buf_append_str(b, plaintext_auth_allowed(mc) ? "\"SASL\" \"PLAIN\"\r\n"
							   : "\"SASL\" \"\"\r\n");
	(void)buf_printf(b, "\"MAXSCRIPTSIZE\" \"%llu\"\r\n",
			 (unsigned long long)srv->set.max_script_size);
	(void)buf_append_str(b, "\"UNAUTHENTICATE\"\r\n");
}

static void send_capabilities(struct msieve_client *mc, const char *ok_line)
{
	struct buf b;

	buf_init(&b, 0);
	put_capabilities(mc, &b);
	(void)buf_append_str(&b, ok_line);
	(void)conn_send(mc->conn, b.data, b.len);
	buf_free(&b);
}

/* ---- state ----------------------------------------------------------- */

static void set_idle_timeout(struct msieve_client *mc)
{
	const struct config_server *cfg = mc->srv->cfg;

	conn_set_idle_timeout(mc->conn, mc->authenticated ? cfg->idle_timeout_ms
							  : cfg->auth_idle_timeout_ms);
}

void msieve_busy(struct msieve_client *mc)
{
	mc->busy = true;
	conn_pause_input(mc->conn);
}

void msieve_resume(struct msieve_client *mc)
{
	mc->busy = false;
	if (conn_is_closing(mc->conn))
		return;
	if (mc->shutdown_pending) {
		msieve_bye(mc, "Server shutting down", "server shutting down");
		return;
	}
	conn_resume_input(mc->conn);
}

/* ---- commands in every state ------------------------------------------ */

static void cmd_capability(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	if (cmd->count != 0) {
		msieve_client_error(mc, NULL, "Syntax: CAPABILITY");
		return;
	}
	send_capabilities(mc, "OK \"Capability completed.\"\r\n");
}

static void cmd_noop(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	struct buf b;

	if (cmd->count > 1) {
		msieve_client_error(mc, NULL, "Syntax: NOOP [tag]");
		return;
	}
	if (cmd->count == 0) {
		msieve_send_response(mc, "OK", NULL, "NOOP completed.");
		return;
	}
	/* RFC 5804 §2.13: echo the tag in a TAG response code */
	buf_init(&b, 0);
	(void)buf_append_str(&b, "OK (TAG ");
	msieve_put_string(&b, cmd->args[0].str, cmd->args[0].len);
	(void)buf_append_str(&b, ") \"Done\"\r\n");
	(void)conn_send(mc->conn, b.data, b.len);
	buf_free(&b);
}

static void cmd_logout(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	(void)cmd;
	msieve_send_response(mc, "OK", NULL, "Logout completed.");
	conn_close(mc->conn, "logout");
}

static void cmd_unauthenticate(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	if (cmd->count != 0) {
		msieve_client_error(mc, NULL, "Syntax: UNAUTHENTICATE");
		return;
	}
	/* RFC 5804 §2.14: back to the non-authenticated state; TLS stays */
	log_info(conn_log(mc->conn), "logout", "reason=unauthenticate");
	mc->authenticated = false;
	mc->account_id = 0;
	mc->errors = 0;
	conn_log(mc->conn)->user[0] = '\0';
	set_idle_timeout(mc);
	msieve_send_response(mc, "OK", NULL, "Unauthenticate completed.");
}

/* ---- STARTTLS (RFC 5804 §2.2) ---------------------------------------- */

static void cmd_starttls(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	if (cmd->count != 0) {
		msieve_client_error(mc, NULL, "Syntax: STARTTLS");
		return;
	}
	if (!mc->srv->starttls || !conn_can_starttls(mc->conn)) {
		msieve_client_error(mc, NULL, conn_is_tls(mc->conn) ? "TLS is already active"
								    : "STARTTLS is not available");
		return;
	}
	msieve_send_response(mc, "OK", NULL, "Begin TLS negotiation now.");
	if (conn_starttls(mc->conn) < 0) {
		conn_close(mc->conn, "STARTTLS failed");
		return;
	}
	/* §2.2: the server speaks first over TLS, with the capabilities */
	mc->caps_after_tls = true;
	conn_want_drained(mc->conn);
}

/* ---- logins ---------------------------------------------------------- */

static void login_done(struct auth_login *al, const struct auth_result *res, void *extra)
{
	struct msieve_client *mc = al->ctx;
	struct conn *c = mc->conn;
	char msg[128];

	(void)extra;
	if (res->status == AUTH_OK) {
		mc->authenticated = true;
		mc->account_id = res->account_id;
		mc->errors = 0;
		snprintf(conn_log(c)->user, sizeof(conn_log(c)->user), "%s", res->address);
		log_info(conn_log(c), "login", "master=%s rehashed=%s",
			 res->via_master ? "yes" : "no", res->rehashed ? "yes" : "no");
		set_idle_timeout(mc);
		msieve_send_response(mc, "OK", NULL, "Logged in.");
	} else if (res->status == AUTH_TEMPFAIL) {
		log_error(conn_log(c), "auth.tempfail", "reason=%s", log_str(res->reason));
		snprintf(msg, sizeof(msg), "Temporary authentication failure, session %s",
			 conn_log(c)->sid);
		msieve_send_response(mc, "NO", "TRYLATER", msg);
	} else {
		log_info(conn_log(c), "auth.failed", "reason=%s delay_ms=%llu",
			 log_str(res->reason), (unsigned long long)res->delay_ms);
		/* the same answer for a wrong password, an unknown user and a
		   refused attempt: the limiter is no oracle */
		msieve_client_error(mc, NULL, "Authentication failed");
	}
	msieve_resume(mc);
}

/* NO when no login may be tried now; true when one may. */
static bool login_allowed(struct msieve_client *mc)
{
	const struct msieve_server *srv = mc->srv;

	if (!plaintext_auth_allowed(mc)) {
		msieve_client_error(mc, "ENCRYPT-NEEDED",
				    "Plaintext authentication is not allowed without TLS, "
				    "use STARTTLS");
		return false;
	}
	if (srv->auth == NULL || srv->ms.store == NULL || srv->ms.workers == NULL) {
		msieve_send_response(mc, "NO", "TRYLATER", "Authentication is not available");
		return false;
	}
	return true;
}

static void login_submit(struct msieve_client *mc, const char *authzid, const char *login,
			 size_t login_len, const char *password, size_t password_len)
{
	struct auth_login_creds creds = {
		.authzid = authzid,
		.login = login,
		.login_len = login_len,
		.password = password,
		.password_len = password_len,
	};

	mc->busy = true;
	auth_login_submit(&mc->login, mc->srv->auth, mc->srv->ms.workers, &creds, NULL);
}

/* Sora's non-standard LOGIN "user" "password". */
static void cmd_login(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	if (cmd->count != 2) {
		msieve_client_error(mc, NULL, "Syntax: LOGIN <user> <password>");
		return;
	}
	if (!login_allowed(mc))
		return;
	/* a NUL (from a literal) would cut the name short in the job */
	if (cmd->args[0].len > AUTH_LOGIN_FIELD_MAX || cmd->args[1].len > AUTH_LOGIN_FIELD_MAX ||
	    cmd->args[1].len == 0 || memchr(cmd->args[0].str, '\0', cmd->args[0].len) != NULL) {
		msieve_client_error(mc, NULL, "Authentication failed");
		return;
	}
	login_submit(mc, NULL, cmd->args[0].str, cmd->args[0].len, cmd->args[1].str,
		     cmd->args[1].len);
}

static void sasl_done(struct msieve_client *mc)
{
	mc->sasl = NULL;
	arena_free(&mc->sasl_arena);
}

static void sasl_finish(struct msieve_client *mc, int ret, struct sasl_result *res,
			const struct sasl_error *err, struct slice challenge)
{
	if (ret == 0) {
		/* RFC 5804 §2.1: the challenge is a string on a line of its own */
		struct buf b;

		buf_init(&b, 0);
		msieve_put_string(&b, challenge.ptr, challenge.len);
		(void)buf_append(&b, "\r\n", 2);
		(void)conn_send(mc->conn, b.data, b.len);
		buf_free(&b);
		return;
	}
	if (ret == 1) {
		login_submit(mc, res->authzid, res->authcid, res->authcid_len, res->password,
			     res->password_len);
		sasl_result_wipe(res);
	} else if (err->code == SASL_ERR_CANCELLED) {
		msieve_client_error(mc, NULL, "Authentication cancelled.");
	} else if (err->code == SASL_ERR_SYNTAX) {
		msieve_client_error(mc, NULL, "Invalid base64 in authentication response");
	} else {
		msieve_client_error(mc, NULL, "Authentication failed");
	}
	sasl_done(mc);
}

static void cmd_authenticate(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice challenge = { 0 }, ir;
	int ret;

	if (cmd->count < 1 || cmd->count > 2) {
		msieve_client_error(mc, NULL, "Syntax: AUTHENTICATE <mechanism> [<response>]");
		return;
	}
	/* Sora offers PLAIN only */
	if (!slice_eq_ci(slice_from(cmd->args[0].str, cmd->args[0].len), "PLAIN")) {
		msieve_client_error(mc, NULL, "Unsupported authentication mechanism");
		return;
	}
	if (!login_allowed(mc))
		return;
	mc->sasl_arena = arena_new(1024);
	mc->sasl = sasl_exchange_new(mc->sasl_arena, SASL_MECH_PLAIN, NULL);
	if (cmd->count == 2)
		ir = slice_from(cmd->args[1].str, cmd->args[1].len);
	ret = sasl_exchange_start(mc->sasl, cmd->count == 2 ? &ir : NULL, &challenge, &res, &err);
	sasl_finish(mc, ret, &res, &err, challenge);
}

static void sasl_continue(struct msieve_client *mc, const struct msieve_arg *arg)
{
	struct sasl_result res = { 0 };
	struct sasl_error err = { 0 };
	struct slice challenge = { 0 };
	int ret = sasl_exchange_step(mc->sasl, slice_from(arg->str, arg->len), &challenge, &res,
				     &err);

	sasl_finish(mc, ret, &res, &err, challenge);
}

/* ---- the reader ------------------------------------------------------ */

static void dispatch(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	unsigned state = mc->authenticated ? CMD_AUTH : CMD_NONAUTH;

	if (cmd->verb.len == 0)
		return; /* an empty line */
	for (size_t i = 0; i < ARRAY_SIZE(msieve_commands); i++) {
		const struct msieve_command *def = &msieve_commands[i];

		if (!slice_eq_ci(cmd->verb, def->verb))
			continue;
		/* the verb only: arguments may hold a password */
		log_debug(conn_log(mc->conn), "managesieve.command", "verb=%s", def->verb);
		if ((def->flags & state) == 0) {
			msieve_client_error(mc, NULL, mc->authenticated ? "Already authenticated"
									: "Not authenticated");
			return;
		}
		def->fn(mc, cmd);
		return;
	}
	msieve_client_error(mc, NULL, "Unknown command");
}

static void parse_failed(struct msieve_client *mc, const struct msieve_parse_result *r)
{
	struct conn *c = mc->conn;

	switch (r->error) {
	case MSIEVE_PERR_LINE_TOO_LONG:
		msieve_bye(mc, "Line too long", "line too long");
		return;
	case MSIEVE_PERR_LITERAL_SIZE:
		conn_consume(c, r->used);
		if (!mc->authenticated || r->literal_size > MSIEVE_SKIP_MAX) {
			msieve_bye(mc, "Literal too large", "literal too large");
			return;
		}
		/* the client sends the octets without waiting: drop them */
		mc->skip_bytes = r->literal_size;
		mc->skip_line = true;
		msieve_client_error(mc, "QUOTA/MAXSIZE", "Script is too large");
		return;
	case MSIEVE_PERR_SYNTAX:
		if (mc->authenticated)
			conn_consume(c, r->used);
		else
			conn_consume_wipe(c, r->used);
		mc->skip_line = r->skip_line;
		if (mc->sasl != NULL) {
			sasl_done(mc);
			msieve_client_error(mc, NULL, "Authentication failed");
		} else {
			msieve_client_error(mc, NULL, r->msg);
		}
		return;
	}
}

/* Drops what an earlier error left to skip; false while more is due. */
static bool skip_input(struct msieve_client *mc)
{
	struct conn *c = mc->conn;
	struct slice in = conn_input(c);

	if (mc->skip_bytes > 0) {
		size_t n = (size_t)MIN((uint64_t)in.len, mc->skip_bytes);

		conn_consume(c, n);
		mc->skip_bytes -= n;
		if (mc->skip_bytes > 0)
			return false;
		in = conn_input(c);
	}
	if (mc->skip_line) {
		ssize_t lf = slice_find(in, '\n');

		if (lf < 0) {
			conn_consume(c, in.len);
			return false;
		}
		conn_consume(c, (size_t)lf + 1);
		mc->skip_line = false;
	}
	return true;
}

static void wipe_args(struct msieve_cmd *cmd)
{
	for (size_t i = 0; i < cmd->count; i++)
		util_wipe(cmd->args[i].str, cmd->args[i].len);
}

static void msieve_input(struct msieve_client *mc)
{
	struct conn *c = mc->conn;
	const struct config_server *cfg = mc->srv->cfg;

	while (!conn_is_closing(c) && !mc->busy) {
		struct msieve_parse_limits lim = {
			.max_line = cfg->max_line_length,
			/* before login only SASL strings: one line's worth */
			.max_literal = mc->authenticated ? mc->srv->set.max_script_size
							 : cfg->max_line_length,
		};
		struct msieve_parse_result r;
		struct msieve_cmd cmd;
		bool secret = !mc->authenticated;
		struct slice in;
		int ret;

		if (!skip_input(mc))
			return;
		in = conn_input(c);
		if (in.len == 0 || in.len < mc->need)
			return;
		arena_reset(mc->cmd_arena);
		ret = msieve_parse(in, mc->sasl != NULL, &lim, mc->cmd_arena, &cmd, &r);
		if (ret == 0) {
			mc->need = r.need;
			return;
		}
		mc->need = 0;
		if (ret < 0) {
			parse_failed(mc, &r);
			continue;
		}
		/* consume before running: STARTTLS drops only what follows it */
		if (secret)
			conn_consume_wipe(c, r.used);
		else
			conn_consume(c, r.used);
		if (mc->sasl != NULL)
			sasl_continue(mc, &cmd.args[0]);
		else
			dispatch(mc, &cmd);
		if (secret)
			wipe_args(&cmd);
	}
}

/* ---- the connection's life ------------------------------------------- */

static void greet(struct msieve_client *mc)
{
	bool starttls = mc->srv->starttls && conn_can_starttls(mc->conn);

	/* sora-features §4: Sora's greeting, word for word */
	send_capabilities(mc, starttls ? "OK (STARTTLS) \"Sora\" ManageSieve server ready.\r\n"
				       : "OK \"Sora\" ManageSieve server ready.\r\n");
}

static void *msieve_start(struct conn *c, void *server_ctx)
{
	struct msieve_server *srv = server_ctx;
	struct msieve_client *mc = xcalloc(1, sizeof(*mc));

	mc->conn = c;
	mc->srv = srv;
	mc->cmd_arena = arena_new(4096);
	auth_login_init(&mc->login, c, login_done, mc);
	greet(mc);
	set_idle_timeout(mc);
	conn_set_deadline(c, srv->cfg->absolute_session_timeout_ms);
	return mc;
}

static void msieve_timeout(struct msieve_client *mc)
{
	if (conn_deadline_passed(mc->conn))
		msieve_bye(mc, "Maximum session duration exceeded", "session deadline");
	else
		msieve_bye(mc, "Disconnected for inactivity.", "idle timeout");
}

static void msieve_client_free(struct msieve_client *mc)
{
	auth_login_cleanup(&mc->login);
	sasl_done(mc);
	arena_free(&mc->cmd_arena);
	free(mc);
}

static void msieve_event(struct conn *c, enum conn_event ev, void *session)
{
	struct msieve_client *mc = session;

	if (CHECK_FAILED(mc != NULL && mc->conn == c)) {
		conn_close(c, "internal error");
		return;
	}
	switch (ev) {
	case CONN_EV_INPUT:
		msieve_input(mc);
		break;
	case CONN_EV_DRAINED:
		if (mc->caps_after_tls && conn_is_tls(c)) {
			mc->caps_after_tls = false;
			send_capabilities(mc, "OK \"TLS negotiation successful.\"\r\n");
		}
		break;
	case CONN_EV_TIMEOUT:
		msieve_timeout(mc);
		break;
	case CONN_EV_SHUTDOWN:
		if (mc->busy)
			mc->shutdown_pending = true;
		else
			msieve_bye(mc, "Server shutting down", "server shutting down");
		break;
	case CONN_EV_CLOSED:
		msieve_client_free(mc);
		break;
	}
}

const struct proto_ops msieve_proto_ops = {
	.name = "managesieve",
	.start = msieve_start,
	.event = msieve_event,
	.refuse_line = "BYE \"Too many connections, try again later\"\r\n",
};
