/* RETR and TOP (RFC 1939 §7), and the multi-line answers sent as the
   client reads them (LIST, UIDL, message bodies).

   A body is read on the worker pool into one buffer — the only copy the
   session holds, bounded by limits.session_memory_limit — and sent from
   there in pieces of about POP3_CHUNK bytes: a piece is dot-stuffed into
   a small buffer, queued, and the next one is made when the connection
   reports CONN_EV_DRAINED. Input stays paused meanwhile, so pipelined
   commands are answered after the terminating ".". */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "../net/worker.h"
#include "../store/blob.h"
#include "pop3-private.h"

enum pop3_body_status {
	POP3_BODY_OK,
	POP3_BODY_GONE,      /* expunged by another session since login */
	POP3_BODY_TEMPFAIL,
};

struct pop3_body_job {
	struct conn *conn;
	const struct mail_services *ms;
	int64_t mailbox_id;
	uint32_t uid;
	uint64_t max_size;
	char *primary_address;
	bool top;
	uint32_t top_lines;

	char hash[BLOB_HASH_HEX_LEN + 1];
	bool found;
	enum pop3_body_status status;
	char error[320];
	struct buf body;
};

/* ---- the body fill (pure) --------------------------------------------- */

static void out_add(struct buf *out, const char *data, size_t len)
{
	/* out has no ceiling: this cannot fail */
	(void)buf_append(out, data, len);
}

/* RFC 1939 §3: a line starting with "." gets one more; every line ends
   in CRLF; the answer ends with ".\r\n" on a line of its own. TOP sends
   the header, the blank line and then at most lines_left body lines. */
bool pop3_body_fill(struct pop3_stream *s, struct buf *out)
{
	const char *data = s->body.data;
	size_t len = s->body.len;

	while (out->len < POP3_CHUNK) {
		size_t room, n, end, content;
		const char *lf;
		bool has_cr;

		if (s->bol && s->top && s->in_body && s->lines_left == 0) {
			out_add(out, ".\r\n", 3);
			return true;
		}
		if (s->pos >= len) {
			if (!s->bol)
				out_add(out, "\r\n", 2);
			out_add(out, ".\r\n", 3);
			return true;
		}
		if (s->bol) {
			if (data[s->pos] == '.')
				out_add(out, ".", 1);
			s->line_len = 0;
			s->bol = false;
		}
		room = POP3_CHUNK - out->len;
		n = MIN(len - s->pos, room);
		lf = memchr(data + s->pos, '\n', n);
		if (lf == NULL) {
			/* a piece of a long line */
			out_add(out, data + s->pos, n);
			s->pos += n;
			s->line_len += n;
			continue;
		}
		end = (size_t)(lf - data);
		/* the CR may have been sent with the previous piece */
		has_cr = end > 0 && data[end - 1] == '\r' && s->line_len + (end - s->pos) > 0;
		content = s->line_len + (end - s->pos) - (has_cr ? 1 : 0);
		out_add(out, data + s->pos, end - s->pos);
		out_add(out, has_cr ? "\n" : "\r\n", has_cr ? 1 : 2);
		s->pos = end + 1;
		s->bol = true;
		if (!s->in_body) {
			if (content == 0)
				s->in_body = true;
		} else if (s->top) {
			s->lines_left--;
		}
	}
	return false;
}

/* ---- streams ---------------------------------------------------------- */

static bool listing_fill(struct pop3_client *pc, struct buf *out)
{
	struct pop3_stream *s = &pc->stream;

	while (out->len < POP3_CHUNK && s->next < pc->msg_count) {
		const struct pop3_msg *m = &pc->msgs[s->next++];

		if (m->deleted)
			continue;
		if (s->kind == POP3_STREAM_LIST)
			(void)buf_printf(out, "%zu %llu\r\n", s->next, (unsigned long long)m->size);
		else
			(void)buf_printf(out, "%zu %u\r\n", s->next, m->uid);
	}
	if (s->next < pc->msg_count)
		return false;
	out_add(out, ".\r\n", 3);
	return true;
}

void pop3_stream_free(struct pop3_stream *s)
{
	buf_free(&s->body);
	*s = (struct pop3_stream){ .kind = POP3_STREAM_NONE };
}

bool pop3_stream_step(struct pop3_client *pc)
{
	struct buf out;
	bool done;

	buf_init(&out, 0);
	if (pc->stream.kind == POP3_STREAM_BODY)
		done = pop3_body_fill(&pc->stream, &out);
	else
		done = listing_fill(pc, &out);
	(void)conn_send(pc->conn, out.data, out.len);
	buf_free(&out);
	if (done)
		pop3_stream_free(&pc->stream);
	return done;
}

/* Produce pieces while the connection keeps up; once a piece is waiting
   in its queue, wait for CONN_EV_DRAINED (at most about two pieces are
   queued, however large the answer). true when the stream is complete. */
static bool pop3_stream_pump(struct pop3_client *pc)
{
	while (!conn_is_closing(pc->conn)) {
		if (pop3_stream_step(pc))
			return true;
		if (conn_output_pending(pc->conn) >= POP3_CHUNK) {
			conn_want_drained(pc->conn);
			return false;
		}
	}
	pop3_stream_free(&pc->stream);
	return true;
}

enum pop3_ret pop3_stream_start(struct pop3_client *pc)
{
	if (pop3_stream_pump(pc))
		return POP3_DONE;
	pop3_busy(pc);
	return POP3_ASYNC;
}

void pop3_stream_resume(struct pop3_client *pc)
{
	if (pc->stream.kind == POP3_STREAM_NONE)
		return;
	if (pop3_stream_pump(pc))
		pop3_resume(pc);
}

/* ---- RETR / TOP ------------------------------------------------------- */

static int body_fetch_cb(const struct store_message *msg, void *ctx)
{
	struct pop3_body_job *job = ctx;

	if (msg->content_hash == NULL || strlen(msg->content_hash) != BLOB_HASH_HEX_LEN)
		return 1;
	memcpy(job->hash, msg->content_hash, BLOB_HASH_HEX_LEN + 1);
	job->found = true;
	return 1;
}

static void body_job_run(void *arg)
{
	struct pop3_body_job *job = arg;
	struct store_uid_range range = { .first = job->uid, .last = job->uid };
	struct store_error serr = { 0 };
	struct blob_error berr = { 0 };
	struct buf key;

	if (store_fetch(job->ms->store, job->mailbox_id, &range, 1, STORE_FETCH_BLOB, 0,
			body_fetch_cb, job, &serr) < 0) {
		job->status = POP3_BODY_TEMPFAIL;
		snprintf(job->error, sizeof(job->error), "store %s: %s",
			 store_err_name(serr.code), serr.msg);
		return;
	}
	if (!job->found) {
		job->status = POP3_BODY_GONE;
		return;
	}
	buf_init(&key, BLOB_KEY_MAX);
	buf_init(&job->body, job->max_size);
	if (blob_key_from_address(job->primary_address, job->hash, &key, &berr) < 0 ||
	    blob_get(job->ms->blob, key.data, &job->body, NULL, &berr) < 0) {
		/* a message row without its body is the world being wrong */
		job->status = POP3_BODY_TEMPFAIL;
		snprintf(job->error, sizeof(job->error), "blob %s: %s",
			 blob_err_name(berr.code), berr.msg);
		buf_free(&job->body);
	}
	buf_free(&key);
}

/* The octets RETR will send before the terminator, unstuffed: the stored
   bytes with each bare LF counted as CRLF (what the client keeps). */
static uint64_t body_wire_size(const struct buf *b)
{
	const char *p = b->data, *end = b->data + b->len;
	uint64_t n = b->len;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));

		if (lf == NULL) {
			n += 2; /* the missing final line end */
			break;
		}
		if (lf == b->data || lf[-1] != '\r')
			n++;
		p = lf + 1;
	}
	return n;
}

static void body_job_done(void *arg)
{
	struct pop3_body_job *job = arg;
	struct conn *c = job->conn;
	struct pop3_client *pc = conn_session(c);

	if (pc == NULL || conn_is_closing(c))
		goto out;
	if (job->status == POP3_BODY_GONE) {
		pop3_err(pc, "Message was expunged by another session");
		pop3_resume(pc);
		goto out;
	}
	if (job->status == POP3_BODY_TEMPFAIL) {
		char msg[128];

		log_error(conn_log(c), "blob.fail", "op=retr uid=%u err=%s", job->uid,
			  log_str(job->error));
		snprintf(msg, sizeof(msg), "[SYS/TEMP] Message not available, try again later, "
			 "session %s", conn_log(c)->sid);
		pop3_err(pc, msg);
		pop3_resume(pc);
		goto out;
	}
	if (job->top) {
		pop3_ok(pc, "Top of message follows");
	} else {
		(void)conn_sendf(c, "+OK %llu octets\r\n",
				 (unsigned long long)body_wire_size(&job->body));
		pc->retrieved++;
	}
	pc->stream = (struct pop3_stream){
		.kind = POP3_STREAM_BODY,
		.body = job->body,
		.bol = true,
		.top = job->top,
		.lines_left = job->top_lines,
	};
	job->body = (struct buf){ 0 };
	/* input is paused already: on completion the stream resumes it */
	if (pop3_stream_pump(pc))
		pop3_resume(pc);
out:
	buf_free(&job->body);
	conn_job_end(c);
	free(job->primary_address);
	free(job);
}

static enum pop3_ret pop3_body_start(struct pop3_client *pc, size_t idx, bool top,
				     uint32_t lines)
{
	uint64_t limit = pc->srv->cfg->session_memory_limit;
	struct pop3_body_job *job;

	if (limit != 0 && pc->msgs[idx].size > limit) {
		pop3_err(pc, "[SYS/TEMP] Message too large to retrieve in this session");
		return POP3_DONE;
	}
	if (pc->srv->ms.blob == NULL) {
		pop3_err(pc, "[SYS/TEMP] Message storage is not available");
		return POP3_DONE;
	}
	job = xcalloc(1, sizeof(*job));
	job->conn = pc->conn;
	job->ms = &pc->srv->ms;
	job->mailbox_id = pc->mailbox_id;
	job->uid = pc->msgs[idx].uid;
	job->max_size = limit;
	job->primary_address = xstrdup(pc->primary_address);
	job->top = top;
	job->top_lines = lines;
	pop3_busy(pc);
	conn_job_begin(pc->conn);
	worker_submit(pc->srv->ms.workers, conn_loop(pc->conn), body_job_run, body_job_done,
		      job);
	return POP3_ASYNC;
}

enum pop3_ret pop3_cmd_retr(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	ssize_t idx;

	if (cmd->arg_count != 1)
		return pop3_client_error(pc, "Syntax: RETR <msg>");
	idx = pop3_msg_arg(pc, cmd, 0);
	if (idx < 0)
		return POP3_DONE;
	/* Sora sets no \Seen */
	return pop3_body_start(pc, (size_t)idx, false, 0);
}

enum pop3_ret pop3_cmd_top(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	uint32_t lines;
	ssize_t idx;

	if (cmd->arg_count != 2)
		return pop3_client_error(pc, "Syntax: TOP <msg> <lines>");
	if (str_to_u32(cmd->args[1], &lines) < 0)
		return pop3_client_error(pc, "Invalid number of lines");
	idx = pop3_msg_arg(pc, cmd, 0);
	if (idx < 0)
		return POP3_DONE;
	return pop3_body_start(pc, (size_t)idx, true, lines);
}
