#include "lmtp-client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../deliver/deliver.h"
#include "../lib/log.h"
#include "../lib/str.h"
#include "../lib/util.h"
#include "../net/loop.h"
#include "../net/worker.h"
#include "../store/store.h"

#define LMTP_MAX_BAD_COMMANDS 10
#define LMTP_MAX_RECIPIENTS 100
#define LMTP_DATA_LINE_CHUNK 65536 /* a data "line" longer than this is passed on in pieces */

struct lmtp_server {
	const struct config_server *cfg;
	bool starttls;
	const char *hostname;
	struct cidr_list trusted;
	const struct mail_services *ms;
};

enum lmtp_state {
	LMTP_ST_GREETED, /* LHLO needed */
	LMTP_ST_READY,   /* after LHLO */
	LMTP_ST_MAIL,    /* after MAIL FROM */
	LMTP_ST_DATA,    /* reading the message */
};

struct lmtp_rcpt {
	char address[256]; /* as given, without <> */
};

struct lmtp_client {
	struct conn *conn;
	const struct lmtp_server *srv;
	enum lmtp_state state;
	unsigned bad_commands;
	bool skipping_long_line;
	bool busy; /* a job runs: input paused */
	bool shutting_down; /* say goodbye when the job is done */

	char lhlo[256];
	char mail_from[256];
	struct lmtp_rcpt *rcpts;
	size_t rcpt_count;

	/* DATA */
	struct buf data;
	bool data_at_line_start, data_too_big;
};

struct lmtp_command {
	const char *verb;
	void (*fn)(struct lmtp_client *lc, struct slice params);
};

static const char *const default_trusted[] = {
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
};

struct lmtp_server *lmtp_server_new(const struct config_server *cfg, bool starttls,
				    const char *hostname, const struct cidr_list *trusted,
				    const struct mail_services *ms)
{
	struct lmtp_server *srv = xcalloc(1, sizeof(*srv));
	const char *error;

	srv->cfg = cfg;
	srv->starttls = starttls;
	srv->hostname = hostname;
	srv->ms = ms;
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

static void lmtp_reset(struct lmtp_client *lc)
{
	free(lc->rcpts);
	lc->rcpts = NULL;
	lc->rcpt_count = 0;
	lc->mail_from[0] = '\0';
	buf_free(&lc->data);
	lc->data_too_big = false;
	if (lc->state > LMTP_ST_READY)
		lc->state = LMTP_ST_READY;
}

/* "<addr>" after "FROM:" / "TO:", with optional parameters after it.
   *addr_r is the text inside the brackets (may be empty for <>). */
static int parse_path(struct slice params, const char *prefix, struct slice *addr_r,
		      struct slice *rest_r)
{
	size_t plen = strlen(prefix);
	ssize_t close;

	if (!slice_starts_with_ci(params, prefix))
		return -1;
	params = slice_trim(slice_from(params.ptr + plen, params.len - plen));
	if (params.len < 2 || params.ptr[0] != '<')
		return -1;
	close = slice_find(params, '>');
	if (close < 0)
		return -1;
	*addr_r = slice_from(params.ptr + 1, (size_t)close - 1);
	*rest_r = slice_trim(slice_from(params.ptr + close + 1, params.len - (size_t)close - 1));
	for (size_t i = 0; i < addr_r->len; i++) {
		unsigned char ch = (unsigned char)addr_r->ptr[i];

		if (ch < 0x21 || ch == 0x7f || ch == '<' || ch == '>')
			return -1;
	}
	return addr_r->len < 255 ? 0 : -1;
}

static void cmd_lhlo(struct lmtp_client *lc, struct slice params)
{
	if (params.len == 0) {
		lmtp_bad(lc, "501 5.5.4 LHLO requires a domain name");
		return;
	}
	lmtp_reset(lc);
	lc->state = LMTP_ST_READY;
	snprintf(lc->lhlo, sizeof(lc->lhlo), "%.*s", (int)MIN(params.len, (size_t)200), params.ptr);
	/* it goes into a Received: header: nothing that could end the line */
	for (char *p = lc->lhlo; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x21 || (unsigned char)*p >= 0x7f)
			*p = '?';
	}
	(void)conn_sendf(lc->conn, "250-%s\r\n", lc->srv->hostname);
	if (lc->srv->starttls && conn_can_starttls(lc->conn))
		(void)conn_send_str(lc->conn, "250-STARTTLS\r\n");
	(void)conn_sendf(lc->conn, "250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE %llu\r\n"
				   "250 ENHANCEDSTATUSCODES\r\n",
			 (unsigned long long)lc->srv->cfg->max_message_size);
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
	lmtp_reset(lc);
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
	lmtp_reset(lc);
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
	struct slice addr, rest;
	uint64_t size = 0;

	if (lc->state == LMTP_ST_GREETED) {
		lmtp_bad(lc, "503 5.5.1 Send LHLO first");
		return;
	}
	if (lc->state != LMTP_ST_READY) {
		lmtp_bad(lc, "503 5.5.1 MAIL already given");
		return;
	}
	if (parse_path(params, "FROM:", &addr, &rest) < 0) {
		lmtp_bad(lc, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	/* RFC 1870 SIZE=n: refuse early what could never fit */
	while (rest.len > 0) {
		ssize_t sp = slice_find(rest, ' ');
		struct slice p = sp < 0 ? rest : slice_from(rest.ptr, (size_t)sp);

		if (slice_starts_with_ci(p, "SIZE=") &&
		    (str_to_u64(slice_from(p.ptr + 5, p.len - 5), &size) < 0 ||
		     size > lc->srv->cfg->max_message_size)) {
			lmtp_reply(lc, "552 5.3.4 Message size exceeds fixed maximum message size");
			return;
		}
		rest = sp < 0 ? slice_from(rest.ptr + rest.len, 0)
			      : slice_trim(slice_from(rest.ptr + sp + 1, rest.len - (size_t)sp - 1));
	}
	snprintf(lc->mail_from, sizeof(lc->mail_from), "%.*s", (int)addr.len, addr.ptr);
	lc->state = LMTP_ST_MAIL;
	lmtp_reply(lc, "250 2.1.0 OK");
}

/* --- RCPT: the account lookup runs on the worker pool --- */

struct rcpt_job {
	struct conn *conn;
	const struct mail_services *ms;
	char address[256];
	enum store_err code;
};

static void rcpt_job_run(void *arg)
{
	struct rcpt_job *job = arg;
	struct store_error err;
	int64_t id;

	job->code = store_account_find(job->ms->store, job->address, false, &id, &err) < 0
			    ? err.code
			    : STORE_OK;
}

static void lmtp_input(struct lmtp_client *lc);

static void lmtp_job_finished(struct lmtp_client *lc)
{
	lc->busy = false;
	if (lc->shutting_down) {
		(void)conn_sendf(lc->conn, "421 4.3.2 %s Server shutting down\r\n",
				 lc->srv->hostname);
		conn_close(lc->conn, "server shutting down");
		return;
	}
	conn_resume_input(lc->conn);
}

static void rcpt_job_done(void *arg)
{
	struct rcpt_job *job = arg;
	struct lmtp_client *lc = conn_session(job->conn);

	if (lc != NULL && !conn_is_closing(job->conn)) {
		if (job->code == STORE_OK) {
			lc->rcpts = xrealloc(lc->rcpts, (lc->rcpt_count + 1) * sizeof(*lc->rcpts));
			snprintf(lc->rcpts[lc->rcpt_count++].address, sizeof(lc->rcpts[0].address),
				 "%s", job->address);
			lmtp_reply(lc, "250 2.1.5 OK");
		} else if (job->code == STORE_NOT_FOUND || job->code == STORE_INVALID) {
			log_info(conn_log(lc->conn), "lmtp.rcpt.unknown", "rcpt=%s",
				 log_str(job->address));
			lmtp_reply(lc, "550 5.1.1 User unknown");
		} else {
			lmtp_reply(lc, "451 4.3.0 Temporary lookup failure, try again later");
		}
		lmtp_job_finished(lc);
	}
	conn_job_end(job->conn);
	free(job);
}

static void cmd_rcpt(struct lmtp_client *lc, struct slice params)
{
	struct slice addr, rest;
	struct rcpt_job *job;

	if (lc->state != LMTP_ST_MAIL) {
		lmtp_bad(lc, "503 5.5.1 Need MAIL command first");
		return;
	}
	if (parse_path(params, "TO:", &addr, &rest) < 0 || addr.len == 0) {
		lmtp_bad(lc, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (lc->rcpt_count >= LMTP_MAX_RECIPIENTS) {
		lmtp_reply(lc, "452 4.5.3 Too many recipients");
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->conn = lc->conn;
	job->ms = lc->srv->ms;
	snprintf(job->address, sizeof(job->address), "%.*s", (int)addr.len, addr.ptr);
	lc->busy = true;
	conn_pause_input(lc->conn);
	conn_job_begin(lc->conn);
	worker_submit(lc->srv->ms->workers, conn_loop(lc->conn), rcpt_job_run, rcpt_job_done, job);
}

static void cmd_data(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	if (lc->state != LMTP_ST_MAIL) {
		lmtp_bad(lc, "503 5.5.1 Need RCPT command first");
		return;
	}
	if (lc->rcpt_count == 0) {
		lmtp_bad(lc, "503 5.5.1 No valid recipients");
		return;
	}
	lc->state = LMTP_ST_DATA;
	buf_init(&lc->data, 0);
	lc->data_at_line_start = true;
	lc->data_too_big = false;
	lmtp_reply(lc, "354 Start mail input; end with <CRLF>.<CRLF>");
}

static void cmd_bdat(struct lmtp_client *lc, struct slice params)
{
	(void)params;
	lmtp_bad(lc, "502 5.5.1 BDAT (CHUNKING) is not supported, use DATA");
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
	{ "RCPT", cmd_rcpt }, { "DATA", cmd_data },         { "BDAT", cmd_bdat },
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

/* --- DATA: un-dot-stuff while streaming, enforce the size, then store --- */

struct data_job {
	struct conn *conn;
	const struct mail_services *ms;
	char *message; /* Received: + body, malloc'ed */
	size_t len;
	struct lmtp_rcpt *rcpts;
	size_t rcpt_count;
	struct deliver_result *results;
};

static void data_job_run(void *arg)
{
	struct data_job *job = arg;

	for (size_t i = 0; i < job->rcpt_count; i++)
		deliver_message(job->ms, job->rcpts[i].address, NULL, job->message, job->len, 0, 0,
				&job->results[i]);
}

static void data_job_done(void *arg)
{
	struct data_job *job = arg;
	struct lmtp_client *lc = conn_session(job->conn);

	if (lc != NULL && !conn_is_closing(job->conn)) {
		/* RFC 2033 §4.2: one reply per accepted recipient, in order */
		for (size_t i = 0; i < job->rcpt_count; i++) {
			const struct deliver_result *r = &job->results[i];
			const char *rcpt = job->rcpts[i].address;

			if (r->status == DELIVER_OK) {
				log_info(conn_log(lc->conn), "lmtp.saved",
					 "rcpt=%s mailbox=%s uid=%u size=%zu", log_str(rcpt),
					 log_str(r->mailbox), r->uid, job->len);
				(void)conn_sendf(lc->conn, "250 2.0.0 <%s> Saved\r\n", rcpt);
			} else {
				log_warn(conn_log(lc->conn), "lmtp.failed", "rcpt=%s reason=%s",
					 log_str(rcpt), log_str(r->reason));
				(void)conn_sendf(lc->conn, r->status == DELIVER_TEMPFAIL
								   ? "451 4.3.0 <%s> Temporary failure, "
								     "try again later\r\n"
								   : "554 5.6.0 <%s> Message refused\r\n",
						 rcpt);
			}
		}
		lmtp_reset(lc);
		lmtp_job_finished(lc);
	}
	conn_job_end(job->conn);
	free(job->message);
	free(job->rcpts);
	free(job->results);
	free(job);
}

static void lmtp_data_end(struct lmtp_client *lc)
{
	struct data_job *job;
	char date[64];
	time_t now = time(NULL);
	struct buf msg;
	struct tm tm;

	if (lc->data_too_big || lc->data.len == 0) {
		for (size_t i = 0; i < lc->rcpt_count; i++)
			(void)conn_send_str(lc->conn,
					    lc->data_too_big
						    ? "552 5.3.4 Message size exceeds fixed maximum "
						      "message size\r\n"
						    : "550 5.6.0 Empty message\r\n");
		lmtp_reset(lc);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	job = xcalloc(1, sizeof(*job));
	job->conn = lc->conn;
	job->ms = lc->srv->ms;
	buf_init(&msg, 0);
	(void)buf_printf(&msg, "Received: from %s (%s)\r\n\tby %s (Sora) with LMTP id %s;\r\n\t%s\r\n",
			 lc->lhlo, conn_peer_str(lc->conn), lc->srv->hostname,
			 conn_log(lc->conn)->sid, date);
	(void)buf_append(&msg, lc->data.data, lc->data.len);
	buf_free(&lc->data);
	job->message = msg.data; /* ownership moves to the job */
	job->len = msg.len;
	job->rcpts = lc->rcpts;
	job->rcpt_count = lc->rcpt_count;
	lc->rcpts = NULL;
	lc->rcpt_count = 0;
	job->results = xcalloc(job->rcpt_count, sizeof(*job->results));
	lc->busy = true;
	conn_pause_input(lc->conn);
	conn_job_begin(lc->conn);
	worker_submit(lc->srv->ms->workers, conn_loop(lc->conn), data_job_run, data_job_done, job);
}

static void data_append(struct lmtp_client *lc, const char *p, size_t n)
{
	if (lc->data_too_big)
		return;
	if (lc->data.len + n > lc->srv->cfg->max_message_size) {
		/* keep reading to the final dot, store nothing */
		lc->data_too_big = true;
		buf_free(&lc->data);
		return;
	}
	(void)buf_append(&lc->data, p, n);
}

/* Consumes message lines; true when the final "." was seen. */
static bool lmtp_data_input(struct lmtp_client *lc)
{
	struct conn *c = lc->conn;

	for (;;) {
		struct slice in = conn_input(c);
		ssize_t lf = slice_find(in, '\n');
		size_t take;
		const char *p = in.ptr;

		if (lf < 0) {
			if (in.len < LMTP_DATA_LINE_CHUNK)
				return false;
			/* a very long line: pass its head on, it cannot be "." */
			take = in.len;
		} else {
			take = (size_t)lf + 1;
		}
		if (lc->data_at_line_start && lf >= 0 && p[0] == '.' &&
		    (take == 2 || (take == 3 && p[1] == '\r'))) {
			conn_consume(c, take);
			return true;
		}
		if (lc->data_at_line_start && p[0] == '.') {
			/* RFC 5321 §4.5.2: remove the stuffed dot */
			p++;
			data_append(lc, p, take - 1);
		} else {
			data_append(lc, p, take);
		}
		lc->data_at_line_start = lf >= 0;
		conn_consume(c, take);
	}
}

static void lmtp_input(struct lmtp_client *lc)
{
	struct conn *c = lc->conn;
	size_t max = lc->srv->cfg->max_line_length;

	while (!conn_is_closing(c) && !lc->busy) {
		struct slice in, line;
		ssize_t lf;

		if (lc->state == LMTP_ST_DATA) {
			if (!lmtp_data_input(lc))
				return;
			lmtp_data_end(lc);
			continue;
		}
		in = conn_input(c);
		lf = slice_find(in, '\n');
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
		if (lc->busy) {
			/* the delivery finishes first; its completion says goodbye */
			lc->shutting_down = true;
			break;
		}
		(void)conn_sendf(c, "421 4.3.2 %s Server shutting down\r\n", lc->srv->hostname);
		conn_close(c, "server shutting down");
		break;
	case CONN_EV_CLOSED:
		lmtp_reset(lc);
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
