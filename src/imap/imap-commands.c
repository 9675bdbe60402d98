#include "imap-commands.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/str.h"

/* RFC 2971 §3.3 limits for the client's ID list */
#define ID_MAX_PAIRS 30
#define ID_MAX_FIELD 30
#define ID_MAX_VALUE 1024

typedef enum cmd_ret imap_cmd_fn(struct imap_cmd *cmd);

struct imap_command {
	const char *name;
	imap_cmd_fn *fn; /* NULL: known, valid after login, not served here */
	unsigned flags;
};

static enum cmd_ret imap_cmd_reply(struct imap_cmd *cmd, const char *status, const char *fmt,
				   va_list ap) PRINTF_FMT(3, 0);
static enum cmd_ret imap_cmd_reply(struct imap_cmd *cmd, const char *status, const char *fmt,
				   va_list ap)
{
	char text[512];

	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	(void)conn_sendf(cmd->client->conn, "%s %s %s\r\n", cmd->tag, status, text);
	return CMD_DONE;
}

enum cmd_ret imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_cmd_reply(cmd, "OK", fmt, ap);
	va_end(ap);
	return CMD_DONE;
}

enum cmd_ret imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_cmd_reply(cmd, "NO", fmt, ap);
	va_end(ap);
	return CMD_DONE;
}

enum cmd_ret imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_cmd_reply(cmd, "BAD", fmt, ap);
	va_end(ap);
	(void)imap_client_count_bad(cmd->client);
	return CMD_DONE;
}

bool imap_plaintext_auth_allowed(const struct imap_client *ic)
{
	return conn_is_secure(ic->conn) || ic->srv->cfg->insecure_auth;
}

void imap_capabilities(const struct imap_client *ic, struct buf *out)
{
	(void)buf_append_str(out, "IMAP4rev2 IMAP4rev1 LITERAL+ LITERAL- ID");
	if (ic->state == IMAP_ST_NOT_AUTH) {
		if (conn_can_starttls(ic->conn) && ic->srv->starttls)
			(void)buf_append_str(out, " STARTTLS");
		/* RFC 9051 §6.2.3: no LOGIN where passwords would cross in clear */
		if (!imap_plaintext_auth_allowed(ic))
			(void)buf_append_str(out, " LOGINDISABLED");
		else if (ic->srv->auth != NULL)
			(void)buf_append_str(out, " AUTH=PLAIN AUTH=LOGIN SASL-IR");
	}
}

static enum cmd_ret cmd_capability(struct imap_cmd *cmd)
{
	struct buf caps;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "CAPABILITY takes no arguments");
	buf_init(&caps, 0);
	imap_capabilities(cmd->client, &caps);
	(void)conn_sendf(cmd->client->conn, "* CAPABILITY %s\r\n", caps.data);
	buf_free(&caps);
	return imap_cmd_ok(cmd, "CAPABILITY completed");
}

static enum cmd_ret cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "NOOP takes no arguments");
	return imap_cmd_ok(cmd, "NOOP completed");
}

static enum cmd_ret cmd_logout(struct imap_cmd *cmd)
{
	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "LOGOUT takes no arguments");
	cmd->client->state = IMAP_ST_LOGOUT;
	(void)conn_send_str(cmd->client->conn, "* BYE Logging out\r\n");
	imap_cmd_ok(cmd, "LOGOUT completed");
	conn_close(cmd->client->conn, "logout");
	return CMD_DONE;
}

static bool id_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL;
}

/* RFC 2971: ID ( "field" "value" … ) or ID NIL */
static enum cmd_ret cmd_id(struct imap_cmd *cmd)
{
	const struct imap_arg *arg = cmd->args->count == 1 ? &cmd->args->args[0] : NULL;
	struct buf fields;

	if (arg == NULL || (arg->type != IMAP_ARG_NIL && arg->type != IMAP_ARG_LIST))
		return imap_cmd_bad(cmd, "ID expects a parenthesised list or NIL");
	buf_init(&fields, 2048);
	if (arg->type == IMAP_ARG_LIST) {
		if (arg->list_count % 2 != 0 || arg->list_count / 2 > ID_MAX_PAIRS) {
			buf_free(&fields);
			return imap_cmd_bad(cmd, "ID list must hold at most 30 field/value pairs");
		}
		for (size_t i = 0; i < arg->list_count; i += 2) {
			const struct imap_arg *f = &arg->list[i], *v = &arg->list[i + 1];

			if (!id_string(f) || f->str.len > ID_MAX_FIELD ||
			    (!id_string(v) && v->type != IMAP_ARG_NIL) ||
			    v->str.len > ID_MAX_VALUE) {
				buf_free(&fields);
				return imap_cmd_bad(cmd, "Invalid ID field or value");
			}
			(void)buf_printf(&fields, "%s%s=%s", i == 0 ? "" : " ",
					 log_strn(f->str.ptr, f->str.len),
					 v->type == IMAP_ARG_NIL ? "NIL"
								  : log_strn(v->str.ptr, v->str.len));
		}
	}
	if (fields.len > 0)
		log_info(conn_log(cmd->client->conn), "imap.id", "%s", fields.data);
	buf_free(&fields);
	(void)conn_send_str(cmd->client->conn, "* ID (\"name\" \"Sora\" \"vendor\" \"Sora in C\" "
					       "\"version\" \"" SORA_VERSION "\")\r\n");
	return imap_cmd_ok(cmd, "ID completed");
}

static enum cmd_ret cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;

	if (cmd->args->count != 0)
		return imap_cmd_bad(cmd, "STARTTLS takes no arguments");
	if (conn_is_tls(ic->conn))
		return imap_cmd_bad(cmd, "TLS is already active");
	if (!ic->srv->starttls || !conn_can_starttls(ic->conn))
		return imap_cmd_bad(cmd, "STARTTLS is not available on this port");
	imap_cmd_ok(cmd, "Begin TLS negotiation now");
	/* RFC 9051 §6.2.1: everything after the command is discarded; the
	   client asks for CAPABILITY again over TLS */
	(void)conn_starttls(ic->conn);
	return CMD_DONE;
}

static const struct imap_command imap_commands[] = {
	{ "CAPABILITY", cmd_capability, IMAP_CMD_ANY },
	{ "NOOP", cmd_noop, IMAP_CMD_ANY },
	{ "LOGOUT", cmd_logout, IMAP_CMD_ANY },
	{ "ID", cmd_id, IMAP_CMD_ANY },
	{ "STARTTLS", cmd_starttls, IMAP_CMD_NOAUTH },
	{ "LOGIN", imap_cmd_login, IMAP_CMD_NOAUTH | IMAP_CMD_SECRET_ARGS },
	{ "AUTHENTICATE", imap_cmd_authenticate, IMAP_CMD_NOAUTH | IMAP_CMD_SECRET_ARGS },
	/* RFC 9051 and extension commands valid only after login */
	{ "ENABLE", NULL, IMAP_CMD_AUTH },
	{ "SELECT", NULL, IMAP_CMD_AUTH },
	{ "EXAMINE", NULL, IMAP_CMD_AUTH },
	{ "CREATE", NULL, IMAP_CMD_AUTH },
	{ "DELETE", NULL, IMAP_CMD_AUTH },
	{ "RENAME", NULL, IMAP_CMD_AUTH },
	{ "SUBSCRIBE", NULL, IMAP_CMD_AUTH },
	{ "UNSUBSCRIBE", NULL, IMAP_CMD_AUTH },
	{ "LIST", NULL, IMAP_CMD_AUTH },
	{ "LSUB", NULL, IMAP_CMD_AUTH },
	{ "NAMESPACE", NULL, IMAP_CMD_AUTH },
	{ "STATUS", NULL, IMAP_CMD_AUTH },
	{ "APPEND", NULL, IMAP_CMD_AUTH },
	{ "IDLE", NULL, IMAP_CMD_AUTH },
	{ "GETQUOTA", NULL, IMAP_CMD_AUTH },
	{ "GETQUOTAROOT", NULL, IMAP_CMD_AUTH },
	{ "UNAUTHENTICATE", NULL, IMAP_CMD_AUTH },
	{ "COMPRESS", NULL, IMAP_CMD_AUTH },
	{ "CHECK", NULL, IMAP_CMD_SELECTED },
	{ "CLOSE", NULL, IMAP_CMD_SELECTED },
	{ "UNSELECT", NULL, IMAP_CMD_SELECTED },
	{ "EXPUNGE", NULL, IMAP_CMD_SELECTED },
	{ "SEARCH", NULL, IMAP_CMD_SELECTED },
	{ "FETCH", NULL, IMAP_CMD_SELECTED },
	{ "STORE", NULL, IMAP_CMD_SELECTED },
	{ "COPY", NULL, IMAP_CMD_SELECTED },
	{ "MOVE", NULL, IMAP_CMD_SELECTED },
	{ "UID", NULL, IMAP_CMD_SELECTED },
	{ "SORT", NULL, IMAP_CMD_SELECTED },
	{ "THREAD", NULL, IMAP_CMD_SELECTED },
};

static const struct imap_command *imap_command_find(struct slice name)
{
	for (size_t i = 0; i < ARRAY_SIZE(imap_commands); i++) {
		if (slice_eq_ci(name, imap_commands[i].name))
			return &imap_commands[i];
	}
	return NULL;
}

static bool state_allows(const struct imap_client *ic, unsigned flags)
{
	if ((flags & IMAP_CMD_NOAUTH) != 0)
		return ic->state == IMAP_ST_NOT_AUTH;
	if ((flags & IMAP_CMD_SELECTED) != 0)
		return ic->state == IMAP_ST_SELECTED;
	if ((flags & IMAP_CMD_AUTH) != 0)
		return ic->state == IMAP_ST_AUTH || ic->state == IMAP_ST_SELECTED;
	return true;
}

enum cmd_ret imap_command_run(struct imap_client *ic, const struct imap_cmd_args *args)
{
	const struct imap_command *def = imap_command_find(args->name);
	struct imap_cmd cmd = { .client = ic, .args = args, .tag = args->tag.ptr };

	if (def == NULL)
		return imap_cmd_bad(&cmd, "Unknown command %s",
				    log_strn(args->name.ptr, MIN(args->name.len, 32)));
	log_debug(conn_log(ic->conn), "imap.command", "tag=%s command=%s%s",
		  log_strn(args->tag.ptr, args->tag.len), def->name,
		  (def->flags & IMAP_CMD_SECRET_ARGS) != 0 ? " args=<redacted>" : "");
	if (!state_allows(ic, def->flags)) {
		if (ic->state == IMAP_ST_NOT_AUTH)
			return imap_cmd_bad(&cmd, "Command %s is not valid before login",
					    def->name);
		return imap_cmd_bad(&cmd, "Command %s is not valid in this state", def->name);
	}
	if (def->fn == NULL)
		return imap_cmd_no(&cmd, "[UNAVAILABLE] %s is not implemented in this build",
				   def->name);
	ic->bad_commands = 0;
	return def->fn(&cmd);
}
