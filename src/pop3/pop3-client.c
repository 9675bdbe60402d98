/* POP3 sessions: greeting, the command reader and dispatcher, errors,
   timeouts and shutdown. The commands live in pop3-auth.c,
   pop3-commands.c and pop3-retr.c; the state they share is described in
   pop3-private.h. */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "pop3-private.h"

enum pop3_cmd_flags {
	POP3_CMD_AUTHZ = 1 << 0, /* AUTHORIZATION state */
	POP3_CMD_TRANS = 1 << 1, /* TRANSACTION state */
	POP3_CMD_ANY = POP3_CMD_AUTHZ | POP3_CMD_TRANS,
};

struct pop3_command {
	const char *verb;
	enum pop3_ret (*fn)(struct pop3_client *pc, struct pop3_cmd *cmd);
	unsigned flags;
};

static const struct pop3_command pop3_commands[] = {
	{ "CAPA", pop3_cmd_capa, POP3_CMD_ANY },
	{ "USER", pop3_cmd_user, POP3_CMD_AUTHZ },
	{ "PASS", pop3_cmd_pass, POP3_CMD_AUTHZ },
	{ "AUTH", pop3_cmd_auth, POP3_CMD_AUTHZ },
	{ "STLS", pop3_cmd_stls, POP3_CMD_AUTHZ },
	/* Sora: also after login, where classic Outlook sends it */
	{ "UTF8", pop3_cmd_utf8, POP3_CMD_ANY },
	{ "LANG", pop3_cmd_lang, POP3_CMD_ANY },
	{ "QUIT", pop3_cmd_quit, POP3_CMD_ANY },
	{ "STAT", pop3_cmd_stat, POP3_CMD_TRANS },
	{ "LIST", pop3_cmd_list, POP3_CMD_TRANS },
	{ "UIDL", pop3_cmd_uidl, POP3_CMD_TRANS },
	{ "RETR", pop3_cmd_retr, POP3_CMD_TRANS },
	{ "TOP", pop3_cmd_top, POP3_CMD_TRANS },
	{ "DELE", pop3_cmd_dele, POP3_CMD_TRANS },
	{ "RSET", pop3_cmd_rset, POP3_CMD_TRANS },
	{ "NOOP", pop3_cmd_noop, POP3_CMD_TRANS },
	{ "LAST", pop3_cmd_last, POP3_CMD_ANY },
	{ "XCLIENT", pop3_cmd_xclient, POP3_CMD_AUTHZ },
};

struct pop3_server *pop3_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, struct auth *auth,
				    const struct mail_services *ms)
{
	struct pop3_server *srv = xcalloc(1, sizeof(*srv));

	srv->cfg = cfg;
	srv->starttls = starttls;
	srv->hostname = hostname;
	srv->auth = auth;
	if (ms != NULL)
		srv->ms = *ms;
	return srv;
}

void pop3_server_free(struct pop3_server **srv)
{
	free(*srv);
	*srv = NULL;
}

void pop3_ok(struct pop3_client *pc, const char *text)
{
	if (text == NULL || text[0] == '\0')
		(void)conn_send_str(pc->conn, "+OK\r\n");
	else
		(void)conn_sendf(pc->conn, "+OK %s\r\n", text);
}

void pop3_err(struct pop3_client *pc, const char *text)
{
	(void)conn_sendf(pc->conn, "-ERR %s\r\n", text);
}

enum pop3_ret pop3_client_error(struct pop3_client *pc, const char *text)
{
	unsigned max = pc->state == POP3_ST_AUTHORIZATION ? POP3_MAX_ERRORS_AUTHZ
							  : POP3_MAX_ERRORS_TRANS;

	pop3_err(pc, text);
	log_debug(conn_log(pc->conn), "pop3.error", "n=%u error=%s", pc->errors + 1,
		  log_str(text));
	if (++pc->errors >= max) {
		pop3_err(pc, "Too many errors, closing connection");
		conn_close(pc->conn, "too many errors");
	}
	return POP3_DONE;
}

bool pop3_plaintext_auth_allowed(const struct pop3_client *pc)
{
	return conn_is_secure(pc->conn) || pc->srv->cfg->insecure_auth;
}

void pop3_set_idle_timeout(struct pop3_client *pc)
{
	const struct config_server *cfg = pc->srv->cfg;

	conn_set_idle_timeout(pc->conn, pc->state == POP3_ST_AUTHORIZATION
						 ? cfg->auth_idle_timeout_ms
						 : cfg->idle_timeout_ms);
}

static void pop3_goodbye_shutdown(struct pop3_client *pc)
{
	/* RFC 1939 §6: no UPDATE state, the DELE marks are dropped */
	pop3_err(pc, "[SYS/TEMP] Server shutting down");
	conn_close(pc->conn, "server shutting down");
}

void pop3_busy(struct pop3_client *pc)
{
	pc->busy = true;
	conn_pause_input(pc->conn);
}

void pop3_resume(struct pop3_client *pc)
{
	pc->busy = false;
	if (conn_is_closing(pc->conn))
		return;
	if (pc->shutdown_pending) {
		pop3_goodbye_shutdown(pc);
		return;
	}
	conn_resume_input(pc->conn);
}

static bool pop3_is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* RFC 1939 §3: a keyword, then arguments separated by single spaces;
   like Sora, runs of blanks are accepted and PASS keeps its raw rest. */
void pop3_parse_line(struct slice line, struct pop3_cmd *cmd)
{
	size_t i = 0;

	*cmd = (struct pop3_cmd){ 0 };
	while (i < line.len && !pop3_is_blank(line.ptr[i]))
		i++;
	cmd->verb = slice_from(line.ptr, i);
	if (i < line.len)
		i++;
	cmd->raw_arg = slice_from(line.ptr + i, line.len - i);
	while (i < line.len) {
		size_t start;

		while (i < line.len && pop3_is_blank(line.ptr[i]))
			i++;
		if (i == line.len)
			break;
		start = i;
		while (i < line.len && !pop3_is_blank(line.ptr[i]))
			i++;
		if (cmd->arg_count == POP3_MAX_ARGS) {
			cmd->too_many_args = true;
			break;
		}
		cmd->args[cmd->arg_count++] = slice_from(line.ptr + start, i - start);
	}
}

/* Echo the verb only when it is short printable ASCII. */
static enum pop3_ret pop3_unknown(struct pop3_client *pc, struct slice verb)
{
	char msg[64];

	if (verb.len > 16)
		return pop3_client_error(pc, "Unknown command");
	for (size_t i = 0; i < verb.len; i++) {
		if (verb.ptr[i] <= ' ' || verb.ptr[i] >= 0x7f)
			return pop3_client_error(pc, "Unknown command");
	}
	snprintf(msg, sizeof(msg), "Unknown command: %.*s", (int)verb.len, verb.ptr);
	return pop3_client_error(pc, msg);
}

static enum pop3_ret pop3_command(struct pop3_client *pc, struct slice line)
{
	struct pop3_cmd cmd;
	unsigned state_flag = pc->state == POP3_ST_AUTHORIZATION ? POP3_CMD_AUTHZ
								  : POP3_CMD_TRANS;

	if (memchr(line.ptr, '\0', line.len) != NULL)
		return pop3_client_error(pc, "NUL byte in command");
	pop3_parse_line(line, &cmd);
	for (size_t i = 0; i < ARRAY_SIZE(pop3_commands); i++) {
		const struct pop3_command *def = &pop3_commands[i];

		if (!slice_eq_ci(cmd.verb, def->verb))
			continue;
		/* the verb only: arguments may hold a password */
		log_debug(conn_log(pc->conn), "pop3.command", "verb=%s", def->verb);
		if ((def->flags & state_flag) == 0)
			return pop3_client_error(pc, state_flag == POP3_CMD_AUTHZ
							     ? "Not authenticated"
							     : "Already authenticated");
		if (cmd.too_many_args)
			return pop3_client_error(pc, "Too many arguments");
		return def->fn(pc, &cmd);
	}
	return pop3_unknown(pc, cmd.verb);
}

/* The line is longer than allowed: like Sora, answer and drop the
   connection (the rest of the line cannot be told from commands). */
static void pop3_line_too_long(struct pop3_client *pc)
{
	pop3_err(pc, "Line too long");
	conn_close(pc->conn, "line too long");
}

static void pop3_input(struct pop3_client *pc)
{
	struct conn *c = pc->conn;

	while (!conn_is_closing(c) && !pc->busy) {
		struct slice in = conn_input(c);
		size_t max = pc->sasl != NULL ? POP3_SASL_LINE_MAX : pc->srv->cfg->max_line_length;
		/* before login a line may hold a password: wipe what we copy */
		bool secret = pc->state == POP3_ST_AUTHORIZATION;
		ssize_t lf = slice_find(in, '\n');
		struct slice line;
		char *copy;

		if (lf < 0) {
			if (in.len > max + 1)
				pop3_line_too_long(pc);
			return;
		}
		line = slice_from(in.ptr, (size_t)lf);
		if (line.len > 0 && line.ptr[line.len - 1] == '\r')
			line.len--;
		if (line.len > max) {
			pop3_line_too_long(pc);
			return;
		}
		/* consume before running: STLS drops only what follows it */
		copy = xstrndup(line.ptr, line.len);
		if (secret)
			conn_consume_wipe(c, (size_t)lf + 1);
		else
			conn_consume(c, (size_t)lf + 1);
		if (pc->sasl != NULL) {
			pop3_auth_continue(pc, slice_from(copy, line.len));
		} else {
			struct slice trimmed = slice_trim(slice_from(copy, line.len));

			if (trimmed.len > 0)
				(void)pop3_command(pc, trimmed);
		}
		util_wipe(copy, line.len);
		free(copy);
	}
}

static void *pop3_start(struct conn *c, void *server_ctx)
{
	struct pop3_server *srv = server_ctx;
	struct pop3_client *pc = xcalloc(1, sizeof(*pc));

	pc->conn = c;
	pc->srv = srv;
	pc->state = POP3_ST_AUTHORIZATION;
	pop3_auth_init(pc);
	(void)conn_send_str(c, "+OK Sora-POP3-Server ready\r\n");
	pop3_set_idle_timeout(pc);
	conn_set_deadline(c, srv->cfg->absolute_session_timeout_ms);
	return pc;
}

static void pop3_timeout(struct pop3_client *pc)
{
	struct conn *c = pc->conn;

	/* in the middle of a multi-line answer no status line can follow */
	if (pc->stream.kind != POP3_STREAM_NONE) {
		conn_close(c, conn_deadline_passed(c) ? "session deadline" : "idle timeout");
		return;
	}
	if (conn_deadline_passed(c)) {
		pop3_err(pc, "[IN-USE] Maximum session duration exceeded");
		conn_close(c, "session deadline");
		return;
	}
	pop3_err(pc, "Idle timeout, connection timed out");
	conn_close(c, "idle timeout");
}

static void pop3_client_free(struct pop3_client *pc)
{
	pop3_auth_cleanup(pc);
	pop3_stream_free(&pc->stream);
	if (pc->user != NULL)
		util_wipe(pc->user, strlen(pc->user));
	free(pc->user);
	free(pc->primary_address);
	free(pc->msgs);
	free(pc);
}

static void pop3_event(struct conn *c, enum conn_event ev, void *session)
{
	struct pop3_client *pc = session;

	if (CHECK_FAILED(pc != NULL && pc->conn == c)) {
		conn_close(c, "internal error");
		return;
	}
	switch (ev) {
	case CONN_EV_INPUT:
		pop3_input(pc);
		break;
	case CONN_EV_DRAINED:
		pop3_stream_resume(pc);
		break;
	case CONN_EV_TIMEOUT:
		pop3_timeout(pc);
		break;
	case CONN_EV_SHUTDOWN:
		/* finish the command in progress (a QUIT expunge, a body) first */
		if (pc->busy)
			pc->shutdown_pending = true;
		else
			pop3_goodbye_shutdown(pc);
		break;
	case CONN_EV_CLOSED:
		pop3_client_free(pc);
		break;
	}
}

const struct proto_ops pop3_proto_ops = {
	.name = "pop3",
	.start = pop3_start,
	.event = pop3_event,
	.refuse_line = "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
};
