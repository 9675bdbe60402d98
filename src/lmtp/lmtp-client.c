#include "lmtp-client.h"

#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/str.h"
#include "../lib/util.h"

#define LMTP_MAX_BAD_COMMANDS 10

struct lmtp_server {
	const struct config_server *cfg;
	bool starttls;
	const char *hostname;
	struct cidr_list trusted;
};

enum lmtp_state {
	LMTP_ST_GREETED, /* LHLO needed */
	LMTP_ST_READY,   /* after LHLO */
};

struct lmtp_client {
	struct conn *conn;
	const struct lmtp_server *srv;
	enum lmtp_state state;
	unsigned bad_commands;
	bool skipping_long_line;
};

struct lmtp_command {
	const char *verb;
	void (*fn)(struct lmtp_client *lc, struct slice params);
};

static const char *const default_trusted[] = {
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
};

struct lmtp_server *lmtp_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, const struct cidr_list *trusted)
{
	struct lmtp_server *srv = xcalloc(1, sizeof(*srv));
	const char *error;

	srv->cfg = cfg;
	srv->starttls = starttls;
	srv->hostname = hostname;
	if (trusted != NULL && trusted->count > 0) {
		cidr_list_copy(&srv->trusted, trusted);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(default_trusted); i++)
			REQUIRE(cidr_list_add(&srv->trusted, default_trusted[i], &error) == 0);
	}
	return srv;
}

void lmtp_server_free(struct lmtp_server **srvp)
{
	struct lmtp_server *srv = *srvp;

	if (srv == NULL)
		return;
	cidr_list_free(&srv->trusted);
	free(srv);
	*srvp = NULL;
}

static void lmtp_reply(struct lmtp_client *lc, const char *line)
{
	(void)conn_sendf(lc->conn, "%s\r\n", line);
}

static void lmtp_bad(struct lmtp_client *lc, const char *line)
{
	lmtp_reply(lc, line);
	if (++lc->bad_commands >= LMTP_MAX_BAD_COMMANDS) {
		(void)conn_sendf(lc->conn, "421 4.7.0 %s Too many errors, closing connection\r\n",
				 lc->srv->hostname);
		conn_close(lc->conn, "too many invalid commands");
	}
}

static void cmd_lhlo(struct lmtp_client *lc, struct slice params)
{
	if (params.len == 0) {
		lmtp_bad(lc, "501 5.5.4 LHLO requires a domain name");
		return;
	}
	lc->state = LMTP_ST_READY;
	(void)conn_sendf(lc->conn, "250-%s\r\n", lc->srv->hostname);
	if (lc->srv->starttls && conn_can_starttls(lc->conn))
		(void)conn_send_str(lc->conn, "250-STARTTLS\r\n");
	(void)conn_send_str(lc->conn, "250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
}

static void cmd_starttls(struct lmtp_client *lc, struct slice params)
{
	if (params.len != 0) {
		lmtp_bad(lc, "501 5.5.4 STARTTLS takes no parameters");
		return;
	}
	if (conn_is_tls(lc->conn)) {
		lmtp_bad(lc, "503 5.5.1 TLS already active");
		return;
	}
	if (!lc->srv->starttls || !conn_can_starttls(lc->conn)) {
		lmtp_bad(lc, "502 5.5.1 STARTTLS not available");
		return;
	}
	lmtp_reply(lc, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 §4.2: forget everything learnt before TLS, LHLO again */
	lc->state = LMTP_ST_GREETED;
	(void)conn_starttls(lc->conn);
}

static void cmd_noop(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	lmtp_reply(lc, "250 2.0.0 OK");
}

static void cmd_rset(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	lmtp_reply(lc, "250 2.0.0 OK");
}

static void cmd_quit(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	(void)conn_sendf(lc->conn, "221 2.0.0 %s closing connection\r\n", lc->srv->hostname);
	conn_close(lc->conn, "quit");
}

static void cmd_mail(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	if (lc->state != LMTP_ST_READY) {
		lmtp_bad(lc, "503 5.5.1 Send LHLO first");
		return;
	}
	/* temporary on purpose: the sending MTA keeps the message queued */
	lmtp_reply(lc, "451 4.3.2 Delivery is not available in this build yet, try again later");
}

static void cmd_rcpt(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	lmtp_bad(lc, "503 5.5.1 Need MAIL command first");
}

static void cmd_data(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	lmtp_bad(lc, "503 5.5.1 Need RCPT command first");
}

static void cmd_helo(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	lmtp_bad(lc, "500 5.5.1 This is LMTP: use LHLO");
}

static void cmd_vrfy(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	lmtp_reply(lc, "252 2.5.0 Cannot VRFY user, but will accept message");
}

static const struct lmtp_command lmtp_commands[] = {
	{ "LHLO", cmd_lhlo }, { "STARTTLS", cmd_starttls }, { "NOOP", cmd_noop },
	{ "RSET", cmd_rset }, { "QUIT", cmd_quit },         { "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt }, { "DATA", cmd_data },         { "BDAT", cmd_data },
	{ "HELO", cmd_helo }, { "EHLO", cmd_helo },         { "VRFY", cmd_vrfy },
};

static void lmtp_command(struct lmtp_client *lc, struct slice line)
{
	struct slice verb = line, params = { .ptr = line.ptr + line.len, .len = 0 };
	ssize_t sp = slice_find(line, ' ');

	if (sp >= 0) {
		verb.len = (size_t)sp;
		params = slice_trim(slice_from(line.ptr + sp + 1, line.len - (size_t)sp - 1));
	}
	if (memchr(line.ptr, '\0', line.len) != NULL) {
		lmtp_bad(lc, "500 5.5.2 NUL byte in command");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lmtp_commands); i++) {
		if (slice_eq_ci(verb, lmtp_commands[i].verb)) {
			log_debug(conn_log(lc->conn), "lmtp.command", "verb=%s",
				  lmtp_commands[i].verb);
			lmtp_commands[i].fn(lc, params);
			return;
		}
	}
	lmtp_bad(lc, "500 5.5.2 Unknown command");
}

static void lmtp_input(struct lmtp_client *lc)
{
	struct conn *c = lc->conn;
	size_t max = lc->srv->cfg->max_line_length;

	while (!conn_is_closing(c)) {
		struct slice in = conn_input(c);
		ssize_t lf = slice_find(in, '\n');
		struct slice line;

		if (lf < 0) {
			if (in.len > max) {
				/* discard as it comes, answer once the line ends */
				lc->skipping_long_line = true;
				conn_consume(c, in.len);
			}
			return;
		}
		line = slice_from(in.ptr, (size_t)lf);
		if (line.len > 0 && line.ptr[line.len - 1] == '\r')
			line.len--;
		if (lc->skipping_long_line || line.len > max) {
			lc->skipping_long_line = false;
			conn_consume(c, (size_t)lf + 1);
			lmtp_bad(lc, "500 5.5.2 Line too long");
			continue;
		}
		/* consume before running: STARTTLS must drop only what
		   follows the command */
		{
			char *copy = xstrndup(line.ptr, line.len);

			conn_consume(c, (size_t)lf + 1);
			lmtp_command(lc, slice_from(copy, line.len));
			free(copy);
		}
	}
}

static void *lmtp_start(struct conn *c, void *server_ctx)
{
	struct lmtp_server *srv = server_ctx;
	struct lmtp_client *lc;

	if (!cidr_list_match(&srv->trusted, conn_peer(c))) {
		log_info(conn_log(c), "lmtp.untrusted", "hint=\"peer not in trusted_networks\"");
		(void)conn_send_str(c, "421 4.7.0 LMTP connections only allowed from trusted "
				       "networks\r\n");
		conn_close(c, "untrusted network");
		return NULL;
	}
	lc = xcalloc(1, sizeof(*lc));
	lc->conn = c;
	lc->srv = srv;
	(void)conn_sendf(c, "220 %s LMTP Sora ready\r\n", srv->hostname);
	conn_set_idle_timeout(c, srv->cfg->idle_timeout_ms);
	conn_set_deadline(c, srv->cfg->absolute_session_timeout_ms);
	return lc;
}

static void lmtp_event(struct conn *c, enum conn_event ev, void *session)
{
	struct lmtp_client *lc = session;

	switch (ev) {
	case CONN_EV_INPUT:
		lmtp_input(lc);
		break;
	case CONN_EV_DRAINED:
		break;
	case CONN_EV_TIMEOUT:
		(void)conn_sendf(c, "421 4.4.2 %s Error: timeout exceeded\r\n",
				 lc->srv->hostname);
		conn_close(c, "idle timeout");
		break;
	case CONN_EV_SHUTDOWN:
		(void)conn_sendf(c, "421 4.3.2 %s Server shutting down\r\n", lc->srv->hostname);
		conn_close(c, "server shutting down");
		break;
	case CONN_EV_CLOSED:
		free(lc);
		break;
	}
}

const struct proto_ops lmtp_proto_ops = {
	.name = "lmtp",
	.start = lmtp_start,
	.event = lmtp_event,
	.refuse_line = "421 4.7.0 Too many connections, try again later\r\n",
};
