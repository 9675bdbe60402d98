#include "imap-client.h"

#include <stdlib.h>
#include <string.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../store/store.h"
#include "imap-commands.h"

/* Before login a command needs no more than LOGIN or AUTHENTICATE with a
   long password: keep literals small so an anonymous client cannot make us
   buffer much (RFC 9051 §11 "Security Considerations", Redis-style). */
#define IMAP_PREAUTH_MAX_LITERAL 8192
#define IMAP_PREAUTH_MAX_COMMAND 16384
#define IMAP_MAX_BAD_COMMANDS 20

struct imap_server *imap_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, struct auth *auth,
				    struct worker_pool *workers, const struct mail_services *ms)
{
	struct imap_server *srv = xcalloc(1, sizeof(*srv));

	srv->cfg = cfg;
	srv->starttls = starttls;
	srv->hostname = hostname;
	srv->auth = auth;
	srv->workers = workers;
	srv->ms = ms;
	/* setup time, before any loop runs: store_watch() may be called */
	if (ms != NULL && ms->store != NULL)
		srv->notify = imap_notify_get(ms->store);
	srv->search_limit = search_limiter_new(cfg->search_rate_limit_per_min,
					       cfg->search_rate_limit_window_ms);
	return srv;
}

void imap_server_free(struct imap_server **srv)
{
	if (*srv == NULL)
		return;
	search_limiter_free(&(*srv)->search_limit);
	free(*srv);
	*srv = NULL;
}

static void imap_parser_limits_for(const struct imap_client *ic,
				   struct imap_parser_limits *limits)
{
	imap_parser_limits_default(limits);
	limits->max_line = ic->srv->cfg->max_line_length;
	if (ic->state == IMAP_ST_NOT_AUTH) {
		limits->max_literal = IMAP_PREAUTH_MAX_LITERAL;
		limits->max_command = IMAP_PREAUTH_MAX_COMMAND + limits->max_line;
		limits->max_args = 64;
		limits->max_depth = 4;
	} else if (ic->srv->cfg->append_limit != 0 &&
		   ic->srv->cfg->append_limit < limits->max_literal) {
		/* RFC 7889: APPEND above APPENDLIMIT is refused when the literal
		   is announced, before its octets are read */
		limits->max_literal = (size_t)ic->srv->cfg->append_limit;
	}
}

static void imap_client_idle(struct imap_client *ic)
{
	/* nothing half-parsed: give the memory back while the client idles */
	if (ic->parser != NULL && imap_parser_is_idle(ic->parser)) {
		imap_parser_free(&ic->parser);
		arena_free(&ic->cmd_arena);
	}
}

/* AUTHENTICATE continuation: one raw line, not a command. false when more
   bytes are needed. */
static bool imap_sasl_line(struct imap_client *ic)
{
	struct conn *c = ic->conn;
	struct slice in = conn_input(c), line;
	ssize_t lf = slice_find(in, '\n');

	if (lf < 0) {
		if (in.len > IMAP_PREAUTH_MAX_COMMAND) {
			(void)conn_sendf(c, "%s BAD Authentication response too long\r\n",
					 ic->sasl_tag);
			imap_auth_cleanup(ic);
			conn_close(c, "authenticate line too long");
		}
		return false;
	}
	line = slice_from(in.ptr, (size_t)lf);
	if (line.len > 0 && line.ptr[line.len - 1] == '\r')
		line.len--;
	imap_auth_continue(ic, line);
	conn_consume_wipe(c, (size_t)lf + 1); /* it encoded a password */
	return true;
}

static void imap_input(struct imap_client *ic)
{
	struct conn *c = ic->conn;

	while (!conn_is_closing(c)) {
		struct slice in = conn_input(c);
		struct imap_cmd_args *args = NULL;
		const char *error = NULL;
		size_t used = 0;
		int ret;

		if (in.len == 0)
			break;
		/* a push sync started by IDLE runs: one job at a time, or its
		   EXPUNGEs could land in the middle of the next command's
		   answer; its completion resumes input */
		if (ic->sync_busy)
			return;
		if (ic->idling) {
			if (!imap_idle_input(ic))
				break;
			continue;
		}
		if (ic->sasl != NULL) {
			if (!imap_sasl_line(ic))
				break;
			if (ic->auth_busy)
				return; /* the completion resumes input */
			continue;
		}
		if (ic->parser == NULL) {
			struct imap_parser_limits limits;

			imap_parser_limits_for(ic, &limits);
			ic->parser = imap_parser_new(&limits);
			if (ic->cmd_arena == NULL)
				ic->cmd_arena = arena_new(4096);
		}
		ret = imap_parser_feed(ic->parser, in, &used, ic->cmd_arena, &args, &error);
		conn_consume(c, used);
		if (imap_parser_wants_continuation(ic->parser))
			(void)conn_send_str(c, "+ Ready for literal data\r\n");
		if (ret == 0)
			break;
		if (ret < 0) {
			const char *tag = imap_parser_tag(ic->parser);

			if (ic->state != IMAP_ST_NOT_AUTH &&
			    strcmp(error, "Literal too big") == 0) {
				(void)conn_sendf(c, "%s NO [TOOBIG] Literal exceeds "
						    "APPENDLIMIT\r\n", tag != NULL ? tag : "*");
				arena_reset(ic->cmd_arena);
				continue;
			}
			(void)conn_sendf(c, "%s BAD %s\r\n", tag != NULL ? tag : "*", error);
			log_debug(conn_log(c), "imap.bad", "error=%s", log_str(error));
			arena_reset(ic->cmd_arena);
			if (imap_client_count_bad(ic))
				break;
			continue;
		}
		if (imap_command_run(ic, args) == CMD_ASYNC)
			return; /* the completion resumes input */
		if (ic->cmd_arena != NULL)
			arena_reset(ic->cmd_arena);
	}
	imap_client_idle(ic);
}

bool imap_client_count_bad(struct imap_client *ic)
{
	if (++ic->bad_commands < IMAP_MAX_BAD_COMMANDS)
		return false;
	(void)conn_send_str(ic->conn, "* BYE Too many invalid IMAP commands\r\n");
	conn_close(ic->conn, "too many invalid commands");
	return true;
}

static void *imap_start(struct conn *c, void *server_ctx)
{
	struct imap_server *srv = server_ctx;
	struct imap_client *ic = xcalloc(1, sizeof(*ic));
	struct buf caps;

	ic->conn = c;
	ic->srv = srv;
	ic->state = IMAP_ST_NOT_AUTH;
	imap_auth_init(ic);
	timer_init(&ic->idle_timer, NULL, ic);
	buf_init(&caps, 0);
	imap_capabilities(ic, &caps);
	(void)conn_sendf(c, "* OK [CAPABILITY %s] Sora ready.\r\n", caps.data);
	buf_free(&caps);
	conn_set_idle_timeout(c, srv->cfg->auth_idle_timeout_ms);
	conn_set_deadline(c, srv->cfg->absolute_session_timeout_ms);
	return ic;
}

static void imap_event(struct conn *c, enum conn_event ev, void *session)
{
	struct imap_client *ic = session;

	switch (ev) {
	case CONN_EV_INPUT:
		imap_input(ic);
		break;
	case CONN_EV_DRAINED:
		break;
	case CONN_EV_TIMEOUT:
		if (conn_deadline_passed(c)) {
			(void)conn_send_str(c, "* BYE [UNAVAILABLE] Maximum session duration "
					       "exceeded, please reconnect\r\n");
			conn_close(c, "session deadline");
			break;
		}
		(void)conn_send_str(c, "* BYE [UNAVAILABLE] Idle timeout, please reconnect\r\n");
		conn_close(c, "idle timeout");
		break;
	case CONN_EV_SHUTDOWN:
		(void)conn_send_str(c, "* BYE [UNAVAILABLE] Server shutting down\r\n");
		conn_close(c, "server shutting down");
		break;
	case CONN_EV_CLOSED:
		imap_auth_cleanup(ic);
		imap_idle_stop(ic);
		imap_unselect(ic);
		imap_parser_free(&ic->parser);
		arena_free(&ic->cmd_arena);
		free(ic);
		break;
	}
}

const struct proto_ops imap_proto_ops = {
	.name = "imap",
	.start = imap_start,
	.event = imap_event,
	.refuse_line = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
};
