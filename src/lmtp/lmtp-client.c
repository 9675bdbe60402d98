#include "lmtp-client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../deliver/deliver.h"
#include "lmtp-parse.h"
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
	/* XCLIENT only from an explicitly configured trusted_networks list:
	   the built-in default admits RFC 1918 peers but trusts none of them
	   to speak for someone else (fail-closed, as Sora) */
	bool xclient_allowed;
	const struct mail_services *ms;
};

enum lmtp_state {
	LMTP_ST_GREETED, /* LHLO needed */
	LMTP_ST_READY,   /* after LHLO */
	LMTP_ST_MAIL,    /* after MAIL FROM */
	LMTP_ST_DATA,    /* reading the message */
	LMTP_ST_BDAT,    /* between BDAT chunks (RFC 3030) */
	LMTP_ST_CHUNK,   /* reading the octets of one BDAT chunk */
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

	/* XCLIENT (Postfix): who the client really is, for Received: and logs */
	bool has_xclient;
	struct lmtp_xclient xclient;

	/* DATA / BDAT: the message as received */
	struct buf data;
	struct lmtp_data_reader reader;
	bool data_too_big;
	/* BDAT: octets of the current chunk still to read, whether it is the
	   LAST one, and the reply owed once it is read (NULL: "250 ...") */
	uint64_t chunk_left;
	uint64_t chunk_size;
	bool chunk_last;
	bool chunk_discard;       /* read the octets, keep nothing, answer chunk_reply */
	const char *chunk_reply;
	enum lmtp_state chunk_return; /* the state a discarded chunk returns to */
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
		srv->xclient_allowed = true;
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
	lc->reader = (struct lmtp_data_reader){ 0 };
	lc->chunk_left = 0;
	lc->chunk_last = false;
	lc->chunk_discard = false;
	lc->chunk_reply = NULL;
	if (lc->state > LMTP_ST_READY)
		lc->state = LMTP_ST_READY;
}

/* The TCP peer, never a PROXY-forwarded address, decides. */
static bool lmtp_xclient_trusted(struct lmtp_client *lc)
{
	return lc->srv->xclient_allowed &&
	       cidr_list_match(&lc->srv->trusted, conn_socket_peer(lc->conn));
}

/* Something that goes into a Received: header: nothing that could end
   the line or fold it. */
static void header_safe_copy(char *out, size_t size, const char *p, size_t len)
{
	snprintf(out, size, "%.*s", (int)MIN(len, (size_t)200), p);
	for (char *q = out; *q != '\0'; q++) {
		if ((unsigned char)*q < 0x21 || (unsigned char)*q >= 0x7f || *q == '(' ||
		    *q == ')')
			*q = '?';
	}
}

static void cmd_lhlo(struct lmtp_client *lc, struct slice params)
{
	if (params.len == 0) {
		lmtp_bad(lc, "501 5.5.4 LHLO requires a domain name");
		return;
	}
	lmtp_reset(lc);
	lc->state = LMTP_ST_READY;
	header_safe_copy(lc->lhlo, sizeof(lc->lhlo), params.ptr, params.len);
	(void)conn_sendf(lc->conn, "250-%s\r\n", lc->srv->hostname);
	if (lc->srv->starttls && conn_can_starttls(lc->conn))
		(void)conn_send_str(lc->conn, "250-STARTTLS\r\n");
	(void)conn_sendf(lc->conn, "250-PIPELINING\r\n250-8BITMIME\r\n250-CHUNKING\r\n"
				   "250-SIZE %llu\r\n",
			 (unsigned long long)lc->srv->cfg->max_message_size);
	if (lmtp_xclient_trusted(lc))
		(void)conn_send_str(lc->conn, "250-XCLIENT ADDR PORT PROTO HELO LOGIN NAME\r\n");
	(void)conn_send_str(lc->conn, "250 ENHANCEDSTATUSCODES\r\n");
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
	if (lmtp_parse_path(params, "FROM:", &addr, &rest) < 0) {
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
	if (lmtp_parse_path(params, "TO:", &addr, &rest) < 0 || addr.len == 0) {
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
	if (lc->state == LMTP_ST_BDAT) {
		/* RFC 3030 §2: no DATA once BDAT has started the transfer */
		lmtp_bad(lc, "503 5.5.1 DATA not allowed after BDAT");
		return;
	}
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
	lc->reader = (struct lmtp_data_reader){ 0 };
	lc->data_too_big = false;
	lmtp_reply(lc, "354 Start mail input; end with <CRLF>.<CRLF>");
}

/* RFC 3030 BDAT: the chunk's octets follow the command whatever the
   answer, so they are always read; a refused chunk is read and dropped,
   then answered (otherwise its bytes would be taken for commands). */
static void cmd_bdat(struct lmtp_client *lc, struct slice params)
{
	const char *refuse = NULL;
	uint64_t size;
	bool last;

	if (lmtp_parse_bdat(params, &size, &last) < 0) {
		lmtp_bad(lc, "501 5.5.4 Syntax: BDAT <chunk-size> [LAST]");
		return;
	}
	if (lc->state == LMTP_ST_GREETED)
		refuse = "503 5.5.1 Send LHLO first";
	else if (lc->state != LMTP_ST_MAIL && lc->state != LMTP_ST_BDAT)
		refuse = "503 5.5.1 Need RCPT command first";
	else if (lc->rcpt_count == 0)
		refuse = "503 5.5.1 No valid recipients";
	lc->chunk_size = size;
	lc->chunk_left = size;
	lc->chunk_last = last;
	lc->chunk_discard = refuse != NULL;
	lc->chunk_reply = refuse;
	lc->chunk_return = lc->state;
	if (refuse == NULL && lc->state == LMTP_ST_MAIL) {
		buf_init(&lc->data, 0);
		lc->data_too_big = false;
	}
	lc->state = LMTP_ST_CHUNK;
}

static void cmd_xclient(struct lmtp_client *lc, struct slice params)
{
	struct lmtp_xclient x;
	const char *error;

	if (!lmtp_xclient_trusted(lc)) {
		log_info(conn_log(lc->conn), "lmtp.xclient.refused",
			 "hint=\"peer not in an explicit trusted_networks\"");
		/* Postfix's reply to an unauthorized XCLIENT */
		lmtp_bad(lc, "550 5.7.0 Error: insufficient authorization");
		return;
	}
	if (lc->state > LMTP_ST_READY) {
		lmtp_bad(lc, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	if (lmtp_parse_xclient(params, &x, &error) < 0) {
		char line[128];

		snprintf(line, sizeof(line), "501 %s", error);
		lmtp_bad(lc, line);
		return;
	}
	/* attributes not named keep what an earlier XCLIENT said */
	if (!lc->has_xclient)
		lc->xclient = (struct lmtp_xclient){ 0 };
	if (x.addr[0] != '\0')
		memcpy(lc->xclient.addr, x.addr, sizeof(x.addr));
	if (x.port != 0)
		lc->xclient.port = x.port;
	if (x.proto[0] != '\0')
		memcpy(lc->xclient.proto, x.proto, sizeof(x.proto));
	if (x.helo[0] != '\0')
		header_safe_copy(lc->xclient.helo, sizeof(lc->xclient.helo), x.helo, strlen(x.helo));
	if (x.name[0] != '\0')
		header_safe_copy(lc->xclient.name, sizeof(lc->xclient.name), x.name, strlen(x.name));
	if (x.login[0] != '\0')
		header_safe_copy(lc->xclient.login, sizeof(lc->xclient.login), x.login,
				 strlen(x.login));
	lc->has_xclient = true;
	log_info(conn_log(lc->conn), "lmtp.xclient", "addr=%s port=%u helo=%s name=%s login=%s "
		 "proto=%s", log_str(lc->xclient.addr), lc->xclient.port, log_str(lc->xclient.helo),
		 log_str(lc->xclient.name), log_str(lc->xclient.login), log_str(lc->xclient.proto));
	if (lc->xclient.addr[0] != '\0')
		snprintf(conn_log(lc->conn)->remote, sizeof(conn_log(lc->conn)->remote), "%s",
			 lc->xclient.addr);
	/* Postfix: XCLIENT answers with a new greeting; the client says LHLO again */
	lmtp_reset(lc);
	lc->state = LMTP_ST_GREETED;
	(void)conn_sendf(lc->conn, "220 %s LMTP Sora ready\r\n", lc->srv->hostname);
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
	{ "XCLIENT", cmd_xclient },
};

static void lmtp_command(struct lmtp_client *lc, struct slice line)
{
	struct slice verb, params;

	lmtp_split_command(line, &verb, &params);
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

/* --- DATA / BDAT: collect with the size enforced, then deliver --- */

struct data_job {
	struct conn *conn;
	const struct mail_services *ms;
	char *message; /* Received: + body, malloc'ed */
	size_t len;
	size_t body_offset; /* where the bytes as received start */
	char mail_from[256];
	char auth_user[256];
	struct lmtp_rcpt *rcpts;
	size_t rcpt_count;
	struct deliver_result *results;
};

static void data_job_run(void *arg)
{
	struct data_job *job = arg;

	for (size_t i = 0; i < job->rcpt_count; i++) {
		struct deliver_incoming in = {
			.mail_from = job->mail_from,
			.rcpt = job->rcpts[i].address,
			.auth_user = job->auth_user,
			.data = job->message,
			.len = job->len,
			.body_offset = job->body_offset,
		};

		deliver_incoming(job->ms, &in, &job->results[i]);
	}
}

static void data_reply(struct lmtp_client *lc, const struct deliver_result *r, const char *rcpt,
		       size_t len)
{
	switch (r->status) {
	case DELIVER_OK:
		log_info(conn_log(lc->conn), "lmtp.saved", "rcpt=%s mailbox=%s uid=%u size=%zu%s",
			 log_str(rcpt), log_str(r->mailbox), r->uid, len,
			 r->duplicate ? " duplicate=yes" : "");
		(void)conn_sendf(lc->conn, "250 2.0.0 <%s> Saved\r\n", rcpt);
		break;
	case DELIVER_REJECTED:
		log_info(conn_log(lc->conn), "lmtp.rejected", "rcpt=%s reason=%s", log_str(rcpt),
			 log_str(r->reason));
		(void)conn_sendf(lc->conn, "550 5.7.1 %s\r\n", r->reply);
		break;
	case DELIVER_OVERQUOTA:
		log_info(conn_log(lc->conn), "lmtp.overquota", "rcpt=%s reason=%s", log_str(rcpt),
			 log_str(r->reason));
		/* permanent, as Dovecot's default and Sora's IMAP [OVERQUOTA] */
		(void)conn_sendf(lc->conn, "552 5.2.2 <%s> Mailbox is full (quota exceeded)\r\n",
				 rcpt);
		break;
	case DELIVER_LOOP:
		log_warn(conn_log(lc->conn), "lmtp.loop", "rcpt=%s reason=%s", log_str(rcpt),
			 log_str(r->reason));
		(void)conn_sendf(lc->conn, "550 5.4.6 <%s> Mail loop detected\r\n", rcpt);
		break;
	case DELIVER_TEMPFAIL:
	case DELIVER_PERMFAIL:
		log_warn(conn_log(lc->conn), "lmtp.failed", "rcpt=%s reason=%s", log_str(rcpt),
			 log_str(r->reason));
		(void)conn_sendf(lc->conn, r->status == DELIVER_TEMPFAIL
						   ? "451 4.3.0 <%s> Temporary failure, "
						     "try again later\r\n"
						   : "554 5.6.0 <%s> Message refused\r\n",
				 rcpt);
		break;
	}
}

static void data_job_done(void *arg)
{
	struct data_job *job = arg;
	struct lmtp_client *lc = conn_session(job->conn);

	if (lc != NULL && !conn_is_closing(job->conn)) {
		/* RFC 2033 §4.2: one reply per accepted recipient, in order */
		for (size_t i = 0; i < job->rcpt_count; i++)
			data_reply(lc, &job->results[i], job->rcpts[i].address,
				   job->len - job->body_offset);
		lmtp_reset(lc);
		lmtp_job_finished(lc);
	}
	conn_job_end(job->conn);
	free(job->message);
	free(job->rcpts);
	free(job->results);
	free(job);
}

/* RFC 5321 §4.4 trace header; XCLIENT's view of the client when given. */
static void lmtp_received(struct lmtp_client *lc, struct buf *msg)
{
	const struct lmtp_xclient *x = lc->has_xclient ? &lc->xclient : NULL;
	const char *helo = x != NULL && x->helo[0] != '\0' ? x->helo : lc->lhlo;
	const char *addr = x != NULL && x->addr[0] != '\0' ? x->addr : conn_peer_str(lc->conn);
	const char *name = x != NULL && x->name[0] != '\0' ? x->name : NULL;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	(void)buf_printf(msg, "Received: from %s (%s%s[%s])\r\n", helo, name != NULL ? name : "",
			 name != NULL ? " " : "", addr);
	if (x != NULL && x->login[0] != '\0')
		(void)buf_printf(msg, "\t(Authenticated sender: %s)\r\n", x->login);
	(void)buf_printf(msg, "\tby %s (Sora) with LMTP id %s;\r\n\t%s\r\n", lc->srv->hostname,
			 conn_log(lc->conn)->sid, date);
}

static void lmtp_data_end(struct lmtp_client *lc)
{
	struct data_job *job;
	struct buf msg;

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
	job = xcalloc(1, sizeof(*job));
	job->conn = lc->conn;
	job->ms = lc->srv->ms;
	snprintf(job->mail_from, sizeof(job->mail_from), "%s", lc->mail_from);
	if (lc->has_xclient)
		snprintf(job->auth_user, sizeof(job->auth_user), "%s", lc->xclient.login);
	buf_init(&msg, 0);
	lmtp_received(lc, &msg);
	job->body_offset = msg.len;
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
		/* keep reading to the end, store nothing */
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
		struct slice piece;
		size_t used;

		switch (lmtp_data_step(&lc->reader, conn_input(c), LMTP_DATA_LINE_CHUNK, &used,
				       &piece)) {
		case LMTP_DATA_NEED_MORE:
			return false;
		case LMTP_DATA_END:
			conn_consume(c, used);
			return true;
		case LMTP_DATA_PIECE:
			data_append(lc, piece.ptr, piece.len);
			conn_consume(c, used);
			break;
		}
	}
}

/* The octets of one BDAT chunk are in: answer it. */
static void lmtp_chunk_end(struct lmtp_client *lc)
{
	if (lc->chunk_discard) {
		lc->chunk_discard = false;
		lc->state = lc->chunk_return;
		lmtp_bad(lc, lc->chunk_reply);
		return;
	}
	if (lc->chunk_last) {
		lmtp_data_end(lc);
		return;
	}
	if (lc->data_too_big) {
		/* RFC 3030 §2: the transaction failed; chunks already
		   pipelined behind this one are read and refused */
		lmtp_reply(lc, "552 5.3.4 Message size exceeds fixed maximum message size");
		lmtp_reset(lc);
		return;
	}
	lc->state = LMTP_ST_BDAT;
	(void)conn_sendf(lc->conn, "250 2.0.0 %llu octets received\r\n",
			 (unsigned long long)lc->chunk_size);
}

/* Reads BDAT octets; true when the chunk is complete. */
static bool lmtp_chunk_input(struct lmtp_client *lc)
{
	struct slice in = conn_input(lc->conn);
	size_t n = (size_t)MIN((uint64_t)in.len, lc->chunk_left);

	if (n > 0) {
		if (!lc->chunk_discard)
			data_append(lc, in.ptr, n);
		conn_consume(lc->conn, n);
		lc->chunk_left -= n;
	}
	return lc->chunk_left == 0;
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
		if (lc->state == LMTP_ST_CHUNK) {
			if (!lmtp_chunk_input(lc))
				return;
			lmtp_chunk_end(lc);
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
