#include "conn.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/util.h"
#include "cidr.h"
#include "listener.h"
#include "loop.h"
#include "proxy.h"
#include "tls.h"
#include "xprt-deflate.h"

#define CONN_READ_CHUNK 16384
#define CONN_READ_BUDGET (256 * 1024)   /* per wakeup, for fairness */
#define CONN_OUT_HIGH (1024 * 1024)     /* stop reading input above this */
#define CONN_OUT_MAX (64 * 1024 * 1024) /* hard ceiling of queued output */
#define CONN_CLOSE_DRAIN_MS 5000
#define CONN_MAX_LOOPS 256

enum conn_state {
	CONN_ST_PROXY,
	CONN_ST_HANDSHAKE,
	CONN_ST_READY,
	CONN_ST_CLOSING,
	CONN_ST_CLOSED,
};

/* The transport: plain TCP or TLS behind one interface.
   read/write return >0 bytes, 0 on EOF (read only), -1 with errno EAGAIN
   when the socket is not ready, -1 otherwise on error. */
struct xprt_ops {
	ssize_t (*read)(struct conn *c, void *buf, size_t len);
	ssize_t (*write)(struct conn *c, const void *buf, size_t len);
};

struct conn {
	struct loop *loop;
	struct listener *listener;
	struct conn_settings cs;
	struct conn *prev, *next; /* the loop's list */

	struct loop_io io;
	struct timer timer;
	enum conn_state state;
	const struct xprt_ops *xprt;
	/* COMPRESS=DEFLATE (xprt-deflate.h): xprt is xprt_zlib over lower */
	const struct xprt_ops *lower;
	struct xprt_deflate *zx;
	SSL *ssl;
	bool tls_want_write;   /* the last TLS call wants the socket writable */

	struct buf in, out;
	size_t in_off; /* bytes of `in` already consumed: compacted once per batch */
	bool input_paused, in_dispatch, want_drained, starttls_pending;
	bool admitted, refusing, peer_eof, finishing;
	uint64_t last_activity, idle_timeout_ms;
	uint64_t deadline_ms; /* absolute, loop clock; 0 = none */
	uint64_t bytes_in, bytes_out;

	struct sockaddr_storage peer, socket_peer;
	char peer_str[64];
	struct log_ctx log;

	char *proxy_buf;   /* PROXY state only: the header bytes consumed so far */
	size_t proxy_len;

	void *session;
	unsigned jobs;
	bool free_scheduled;
	const char *close_reason;
};

static struct conn *loop_conns[CONN_MAX_LOOPS];
static unsigned loop_conn_counts[CONN_MAX_LOOPS];

static void conn_io_cb(struct loop_io *io, uint32_t events);
static void conn_timer_cb(struct timer *t);
static void conn_flush(struct conn *c);
static void conn_update_events(struct conn *c);
static void conn_dispatch_input(struct conn *c);
static void conn_start_handshake(struct conn *c);
static void conn_read_more(void *ctx);
static void conn_input_clear(struct conn *c);

/* --- transports --- */

static ssize_t plain_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(c->io.fd, buf, len, 0);
	} while (n == -1 && errno == EINTR);
	return n;
}

static ssize_t plain_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(c->io.fd, buf, len, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	return n;
}

static ssize_t tls_result(struct conn *c, int ret, bool is_read)
{
	int err = SSL_get_error(c->ssl, ret);

	c->tls_want_write = false;
	switch (err) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->tls_want_write = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (is_read)
			return 0;
		errno = EPIPE;
		return -1;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (is_read && errno == 0)
			return 0; /* EOF without close_notify */
		if (errno == 0)
			errno = EPIPE;
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

static ssize_t tls_read(struct conn *c, void *buf, size_t len)
{
	int ret;

	errno = 0;
	ret = SSL_read(c->ssl, buf, (int)MIN(len, (size_t)INT32_MAX));
	return ret > 0 ? ret : tls_result(c, ret, true);
}

static ssize_t tls_write(struct conn *c, const void *buf, size_t len)
{
	int ret;

	errno = 0;
	ret = SSL_write(c->ssl, buf, (int)MIN(len, (size_t)INT32_MAX));
	return ret > 0 ? ret : tls_result(c, ret, false);
}

static const struct xprt_ops xprt_plain = { .read = plain_read, .write = plain_write };
static const struct xprt_ops xprt_tls = { .read = tls_read, .write = tls_write };

static ssize_t zlib_lower_read(void *ctx, void *buf, size_t len)
{
	struct conn *c = ctx;

	return c->lower->read(c, buf, len);
}

static ssize_t zlib_lower_write(void *ctx, const void *buf, size_t len)
{
	struct conn *c = ctx;

	return c->lower->write(c, buf, len);
}

static ssize_t zlib_read(struct conn *c, void *buf, size_t len)
{
	return xprt_deflate_read(c->zx, zlib_lower_read, c, buf, len);
}

static ssize_t zlib_write(struct conn *c, const void *buf, size_t len)
{
	return xprt_deflate_write(c->zx, zlib_lower_write, c, buf, len);
}

static const struct xprt_ops xprt_zlib = { .read = zlib_read, .write = zlib_write };

/* Output the transport still holds (compressed, not yet on the socket). */
static bool xprt_out_pending(const struct conn *c)
{
	return c->zx != NULL && xprt_deflate_out_pending(c->zx);
}

/* Input the transport holds that no epoll event will announce. */
static bool xprt_in_pending(const struct conn *c)
{
	return (c->ssl != NULL && SSL_pending(c->ssl) > 0) ||
	       (c->zx != NULL && xprt_deflate_in_pending(c->zx));
}

/* --- the loop's list of connections --- */

static void list_add(struct conn *c)
{
	unsigned id = loop_id(c->loop) % CONN_MAX_LOOPS;

	c->next = loop_conns[id];
	if (c->next != NULL)
		c->next->prev = c;
	loop_conns[id] = c;
	loop_conn_counts[id]++;
	loop_ref(c->loop);
}

static void list_remove(struct conn *c)
{
	unsigned id = loop_id(c->loop) % CONN_MAX_LOOPS;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		loop_conns[id] = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	loop_conn_counts[id]--;
	loop_unref(c->loop);
}

unsigned conn_count_loop(struct loop *loop)
{
	return loop_conn_counts[loop_id(loop) % CONN_MAX_LOOPS];
}

/* --- lifecycle --- */

static void conn_free_deferred(void *ctx)
{
	struct conn *c = ctx;

	list_remove(c);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->proxy_buf);
	xprt_deflate_free(&c->zx);
	free(c);
}

/* Freed once closed and no job holds it; exactly once. */
static void conn_maybe_free(struct conn *c)
{
	if (c->state == CONN_ST_CLOSED && c->jobs == 0 && !c->free_scheduled) {
		c->free_scheduled = true;
		loop_defer(c->loop, conn_free_deferred, c);
	}
}

static void conn_finish_close(void *ctx)
{
	struct conn *c = ctx;

	if (c->state == CONN_ST_CLOSED)
		return;
	c->state = CONN_ST_CLOSED;
	loop_timer_stop(c->loop, &c->timer);
	if (c->ssl != NULL) {
		if (!c->peer_eof)
			(void)SSL_shutdown(c->ssl); /* best effort close_notify */
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	loop_io_remove(c->loop, &c->io);
	(void)close(c->io.fd);
	if (c->admitted)
		listener_release(c->listener, conn_peer(c));
	if (c->session != NULL) {
		log_info(&c->log, "disconnect", "reason=%s in=%llu out=%llu",
			 log_str(c->close_reason != NULL ? c->close_reason : "closed"),
			 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
		c->cs.ops->event(c, CONN_EV_CLOSED, c->session);
		c->session = NULL;
	}
	buf_free(&c->in);
	buf_free(&c->out);
	conn_maybe_free(c);
}

void conn_close(struct conn *c, const char *reason)
{
	if (c->state >= CONN_ST_CLOSING)
		return;
	c->close_reason = reason;
	c->state = CONN_ST_CLOSING;
	conn_input_clear(c);
	if ((c->out.len == 0 && !xprt_out_pending(c)) || c->peer_eof) {
		if (!c->finishing) {
			c->finishing = true;
			loop_defer(c->loop, conn_finish_close, c);
		}
		return;
	}
	loop_timer_start(c->loop, &c->timer, CONN_CLOSE_DRAIN_MS);
	conn_update_events(c);
	if (!c->in_dispatch)
		conn_flush(c);
}

bool conn_is_closing(const struct conn *c)
{
	return c->state >= CONN_ST_CLOSING;
}

/* Close at once, dropping queued output (errors, deadlines). */
static void conn_abort(struct conn *c, const char *reason)
{
	if (c->state == CONN_ST_CLOSED)
		return;
	if (c->state != CONN_ST_CLOSING)
		c->close_reason = reason;
	c->state = CONN_ST_CLOSING;
	buf_clear(&c->out);
	conn_input_clear(c);
	loop_io_set(c->loop, &c->io, 0);
	if (!c->finishing) {
		c->finishing = true;
		loop_defer(c->loop, conn_finish_close, c);
	}
}

void conn_job_begin(struct conn *c)
{
	c->jobs++;
}

void conn_job_end(struct conn *c)
{
	if (CHECK_FAILED(c->jobs > 0))
		return;
	c->jobs--;
	conn_maybe_free(c);
}

/* --- events and I/O --- */

static bool conn_wants_input(const struct conn *c)
{
	switch (c->state) {
	case CONN_ST_PROXY:
		return true;
	case CONN_ST_HANDSHAKE:
		return !c->tls_want_write;
	case CONN_ST_READY:
		return !c->input_paused && !c->starttls_pending && c->out.len < CONN_OUT_HIGH;
	default:
		return false;
	}
}

static void conn_update_events(struct conn *c)
{
	uint32_t ev = 0;

	if (c->state == CONN_ST_CLOSED)
		return;
	if (conn_wants_input(c))
		ev |= EPOLLIN;
	if (c->out.len > 0 || c->tls_want_write || xprt_out_pending(c))
		ev |= EPOLLOUT;
	loop_io_set(c->loop, &c->io, ev);
}

static void conn_flush(struct conn *c)
{
	while (c->out.len > 0 || xprt_out_pending(c)) {
		ssize_t n = c->xprt->write(c, c->out.data, c->out.len);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_abort(c, "write error");
			return;
		}
		c->bytes_out += (uint64_t)n;
		c->last_activity = loop_now(c->loop);
		buf_consume(&c->out, (size_t)n);
	}
	if (c->out.len == 0 && !xprt_out_pending(c)) {
		if (!c->tls_want_write)
			buf_free(&c->out);
		if (c->state == CONN_ST_CLOSING) {
			if (!c->finishing) {
				c->finishing = true;
				loop_defer(c->loop, conn_finish_close, c);
			}
			return;
		}
		if (c->starttls_pending) {
			conn_start_handshake(c);
			return;
		}
		if (c->want_drained && c->state == CONN_ST_READY) {
			c->want_drained = false;
			c->cs.ops->event(c, CONN_EV_DRAINED, c->session);
		}
	}
	conn_update_events(c);
}

int conn_send(struct conn *c, const void *data, size_t len)
{
	if (c->state >= CONN_ST_CLOSING)
		return -1;
	if (c->out.max == 0)
		c->out.max = CONN_OUT_MAX;
	if (buf_append(&c->out, data, len) < 0) {
		log_warn(&c->log, "output.limit", "queued=%zu", c->out.len);
		conn_abort(c, "output limit");
		return -1;
	}
	if (!c->in_dispatch)
		conn_flush(c);
	return 0;
}

int conn_send_str(struct conn *c, const char *s)
{
	return conn_send(c, s, strlen(s));
}

int conn_sendf(struct conn *c, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return conn_send(c, small, (size_t)n);
	{
		char *big = xmalloc((size_t)n + 1);
		int ret;

		va_start(ap, fmt);
		(void)vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		ret = conn_send(c, big, (size_t)n);
		free(big);
		return ret;
	}
}

size_t conn_output_pending(const struct conn *c)
{
	return c->out.len;
}

void conn_want_drained(struct conn *c)
{
	c->want_drained = true;
}

/* Drops everything received (errors, closing, STARTTLS). */
static void conn_input_clear(struct conn *c)
{
	buf_clear(&c->in);
	c->in_off = 0;
}

static size_t conn_input_len(const struct conn *c)
{
	return c->in.len - c->in_off;
}

/* Consuming only advances an offset; the buffer is compacted here, once
   per batch, so pipelined commands cost O(n), not O(n²) memmoves. */
static void conn_input_compact(struct conn *c)
{
	if (c->in_off == 0)
		return;
	buf_consume(&c->in, c->in_off);
	c->in_off = 0;
}

struct slice conn_input(struct conn *c)
{
	return slice_from(c->in.data == NULL ? "" : c->in.data + c->in_off, conn_input_len(c));
}

void conn_consume(struct conn *c, size_t n)
{
	c->in_off += MIN(n, conn_input_len(c));
	if (c->in_off == c->in.len)
		conn_input_clear(c);
}

static void conn_dispatch_input(struct conn *c)
{
	if (c->state != CONN_ST_READY || c->input_paused || c->starttls_pending)
		return;
	if (conn_input_len(c) > 0) {
		c->in_dispatch = true;
		c->cs.ops->event(c, CONN_EV_INPUT, c->session);
		c->in_dispatch = false;
	}
	if (c->state == CONN_ST_READY && c->peer_eof && !c->input_paused) {
		conn_close(c, "disconnected");
		return;
	}
	if (conn_input_len(c) == 0) {
		buf_free(&c->in);
		c->in_off = 0;
	} else {
		conn_input_compact(c);
	}
	if (c->state != CONN_ST_CLOSED)
		conn_flush(c);
}

static void conn_read_input(struct conn *c)
{
	static _Thread_local char chunk[CONN_READ_CHUNK];
	size_t total = 0;

	while (total < CONN_READ_BUDGET && conn_wants_input(c)) {
		ssize_t n = c->xprt->read(c, chunk, sizeof(chunk));

		if (n == 0) {
			c->peer_eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_abort(c, errno == EPROTO ? "TLS error" : "read error");
			return;
		}
		/* the protocol consumes what it can; the rest waits here,
		   bounded by the protocol's own line and literal limits */
		if (buf_append(&c->in, chunk, (size_t)n) < 0) {
			conn_abort(c, "input limit");
			return;
		}
		total += (size_t)n;
		c->bytes_in += (uint64_t)n;
		c->last_activity = loop_now(c->loop);
		if ((size_t)n < sizeof(chunk) && !xprt_in_pending(c))
			break;
	}
	if (c->peer_eof && c->state != CONN_ST_READY) {
		conn_abort(c, "disconnected");
		return;
	}
	conn_dispatch_input(c);
	if (total >= CONN_READ_BUDGET && c->state == CONN_ST_READY)
		loop_defer(c->loop, conn_read_more, c);
}

/* Fairness: after a full budget, come back once the other connections of
   the batch had their turn (TLS may hold bytes no epoll event announces). */
static void conn_read_more(void *ctx)
{
	struct conn *c = ctx;

	if (c->state == CONN_ST_READY && conn_wants_input(c))
		conn_read_input(c);
}

static void conn_kick(void *ctx)
{
	struct conn *c = ctx;

	if (c->state != CONN_ST_READY)
		return;
	conn_dispatch_input(c);
	/* TLS may hold decrypted bytes that no epoll event will announce */
	if (c->state == CONN_ST_READY && xprt_in_pending(c))
		conn_read_input(c);
}

void conn_pause_input(struct conn *c)
{
	c->input_paused = true;
	conn_update_events(c);
}

void conn_resume_input(struct conn *c)
{
	if (!c->input_paused)
		return;
	c->input_paused = false;
	conn_update_events(c);
	if (conn_input_len(c) > 0 || c->peer_eof || xprt_in_pending(c))
		loop_defer(c->loop, conn_kick, c);
}

/* When the READY-state timer must fire next: the earlier of the idle
   timeout and the absolute deadline; 0 when neither is set. */
static uint64_t conn_next_timeout(const struct conn *c)
{
	uint64_t next = 0;

	if (c->idle_timeout_ms != 0)
		next = c->last_activity + c->idle_timeout_ms;
	if (c->deadline_ms != 0 && (next == 0 || c->deadline_ms < next))
		next = c->deadline_ms;
	return next;
}

static void conn_arm_timer(struct conn *c)
{
	uint64_t next = conn_next_timeout(c), now = loop_now(c->loop);

	if (c->state != CONN_ST_READY || c->starttls_pending)
		return;
	if (next == 0)
		loop_timer_stop(c->loop, &c->timer);
	else
		loop_timer_start(c->loop, &c->timer, next > now ? next - now : 0);
}

void conn_set_idle_timeout(struct conn *c, uint64_t ms)
{
	c->idle_timeout_ms = ms;
	c->last_activity = loop_now(c->loop);
	conn_arm_timer(c);
}

bool conn_deadline_passed(struct conn *c)
{
	return c->deadline_ms != 0 && loop_now(c->loop) >= c->deadline_ms;
}

void conn_set_deadline(struct conn *c, uint64_t ms)
{
	c->deadline_ms = ms == 0 ? 0 : loop_now(c->loop) + ms;
	conn_arm_timer(c);
}

/* --- session start, PROXY, TLS --- */

static void conn_ready(struct conn *c)
{
	c->state = CONN_ST_READY;
	loop_timer_stop(c->loop, &c->timer);
	if (c->refusing) {
		if (c->cs.ops->refuse_line != NULL)
			(void)conn_send_str(c, c->cs.ops->refuse_line);
		conn_close(c, "connection limit");
		return;
	}
	if (c->session == NULL) {
		log_info(&c->log, "connect", "socket_peer=%s tls=%s",
			 cidr_addr_str((struct sockaddr *)&c->socket_peer, (char[64]){ 0 }, 64),
			 c->ssl != NULL ? "yes" : "no");
		c->in_dispatch = true;
		c->session = c->cs.ops->start(c, c->cs.server_ctx);
		c->in_dispatch = false;
		if (c->session == NULL) {
			conn_close(c, "session refused");
			return;
		}
	}
	if (conn_input_len(c) > 0 || (c->ssl != NULL && SSL_pending(c->ssl) > 0))
		loop_defer(c->loop, conn_kick, c);
	conn_flush(c);
}

static void conn_after_proxy(struct conn *c)
{
	c->admitted = listener_admit(c->listener, conn_peer(c));
	c->refusing = !c->admitted;
	if (c->refusing)
		log_info(&c->log, "connect.refused", "reason=\"connection limit\"");
	if (c->cs.tls != NULL && c->cs.implicit_tls)
		conn_start_handshake(c);
	else
		conn_ready(c);
}

static void conn_do_handshake(struct conn *c)
{
	int ret;

	ERR_clear_error();
	ret = SSL_do_handshake(c->ssl);
	if (ret == 1) {
		char desc[96];

		c->tls_want_write = false;
		c->xprt = &xprt_tls;
		log_debug(&c->log, "tls.established", "%s",
			  log_str(tls_describe(c->ssl, desc, sizeof(desc))));
		if (c->starttls_pending) {
			c->starttls_pending = false;
			c->state = CONN_ST_READY;
			loop_timer_stop(c->loop, &c->timer);
			conn_arm_timer(c);
			conn_update_events(c);
			/* the STARTTLS reply went out and TLS is up: a protocol
			   that speaks first over TLS (ManageSieve) does it now */
			if (c->want_drained) {
				c->want_drained = false;
				c->cs.ops->event(c, CONN_EV_DRAINED, c->session);
			}
			return;
		}
		conn_ready(c);
		return;
	}
	if (tls_result(c, ret, false) < 0 && errno == EAGAIN) {
		conn_update_events(c);
		return;
	}
	{
		char err[160] = "";
		unsigned long e = ERR_peek_last_error();

		if (e != 0)
			ERR_error_string_n(e, err, sizeof(err));
		log_info(&c->log, "tls.failed", "error=%s", log_str(err[0] ? err : "eof"));
	}
	conn_abort(c, "TLS handshake failed");
}

static void conn_start_handshake(struct conn *c)
{
	c->ssl = tls_server_new_ssl(c->cs.tls);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->io.fd) != 1) {
		log_error(&c->log, "tls.fail", "cannot create SSL object");
		conn_abort(c, "TLS setup failed");
		return;
	}
	c->state = CONN_ST_HANDSHAKE;
	conn_input_clear(c); /* never carry plaintext into the TLS session */
	loop_timer_start(c->loop, &c->timer, c->cs.tls_handshake_timeout_ms);
	conn_do_handshake(c);
}

static void conn_set_peer(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	memcpy(&c->peer, sa, MIN((size_t)len, sizeof(c->peer)));
	cidr_addr_str(sa, c->peer_str, sizeof(c->peer_str));
	snprintf(c->log.remote, sizeof(c->log.remote), "%s", c->peer_str);
}

static ssize_t recv_retry(int fd, void *buf, size_t len, int flags)
{
	ssize_t n;

	do {
		n = recv(fd, buf, len, flags);
	} while (n == -1 && errno == EINTR);
	return n;
}

/* The header is peeked, so that the bytes after it (a TLS ClientHello, a
   command) stay in the socket for the next layer. While the header is
   incomplete, every byte seen so far belongs to it (proxy_parse() says
   "need more" only for a strict prefix), so those are consumed into
   proxy_buf: nothing is left queued to wake a level-triggered loop again. */
static void conn_read_proxy(struct conn *c)
{
	char hdr[PROXY_V2_MAX];
	struct proxy_info info;
	const char *error = NULL;
	size_t used = 0, room = sizeof(hdr) - c->proxy_len, take;
	ssize_t n;
	int ret;

	if (c->proxy_buf == NULL)
		c->proxy_buf = xmalloc(PROXY_V2_MAX);
	memcpy(hdr, c->proxy_buf, c->proxy_len);
	n = recv_retry(c->io.fd, hdr + c->proxy_len, room, MSG_PEEK);
	if (n == 0) {
		conn_abort(c, "disconnected before PROXY header");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_abort(c, "read error");
		return;
	}
	ret = proxy_parse(hdr, c->proxy_len + (size_t)n, &info, &used, &error);
	if (ret == 0 && (size_t)n == room) {
		ret = -1;
		error = "header too long";
	}
	if (ret < 0) {
		log_warn(&c->log, "proxy.invalid",
			 "error=%s hint=\"check the proxy sends the PROXY header\"",
			 log_str(error));
		conn_abort(c, "invalid PROXY header");
		return;
	}
	/* consume: every peeked byte while incomplete, up to the end of the
	   header once complete */
	take = ret == 0 ? (size_t)n : used - c->proxy_len;
	if (recv_retry(c->io.fd, c->proxy_buf + c->proxy_len, take, 0) != (ssize_t)take) {
		conn_abort(c, "read error");
		return;
	}
	c->proxy_len += take;
	c->bytes_in += take;
	if (ret == 0)
		return;
	free(c->proxy_buf);
	c->proxy_buf = NULL;
	if (!info.is_local) {
		conn_set_peer(c, (struct sockaddr *)&info.src,
			      info.src.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							     : sizeof(struct sockaddr_in));
	}
	log_debug(&c->log, "proxy.header", "version=%d local=%s", info.version,
		  info.is_local ? "yes" : "no");
	conn_after_proxy(c);
}

static void conn_io_cb(struct loop_io *io, uint32_t events)
{
	struct conn *c = io->ctx;

	switch (c->state) {
	case CONN_ST_PROXY:
		conn_read_proxy(c);
		return;
	case CONN_ST_HANDSHAKE:
		conn_do_handshake(c);
		return;
	case CONN_ST_READY:
	case CONN_ST_CLOSING:
		if ((events & EPOLLOUT) != 0 || (c->tls_want_write && (events & EPOLLIN) != 0)) {
			bool read_wanted_write = c->tls_want_write && c->out.len == 0;

			conn_flush(c);
			if (c->state == CONN_ST_CLOSED)
				return;
			if (read_wanted_write) {
				/* an SSL_read needed the socket writable: retry it */
				c->tls_want_write = false;
				events |= EPOLLIN;
			}
		}
		if (c->state == CONN_ST_CLOSING && (events & (EPOLLHUP | EPOLLERR)) != 0) {
			conn_abort(c, c->close_reason);
			return;
		}
		if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && conn_wants_input(c))
			conn_read_input(c);
		else if ((events & (EPOLLHUP | EPOLLERR)) != 0 && c->state == CONN_ST_READY)
			conn_abort(c, "disconnected");
		return;
	case CONN_ST_CLOSED:
		return;
	}
}

static void conn_timer_cb(struct timer *t)
{
	struct conn *c = t->ctx;
	uint64_t now = loop_now(c->loop), next;

	switch (c->state) {
	case CONN_ST_PROXY:
		log_warn(&c->log, "proxy.timeout", "hint=\"no PROXY header in time\"");
		conn_abort(c, "PROXY header timeout");
		return;
	case CONN_ST_HANDSHAKE:
		log_info(&c->log, "tls.timeout", "after_ms=%llu", (unsigned long long)c->cs.tls_handshake_timeout_ms);
		conn_abort(c, "TLS handshake timeout");
		return;
	case CONN_ST_READY:
		next = conn_next_timeout(c);
		if (next == 0)
			return;
		if (next > now) {
			/* activity since arming (refreshes cost O(1)): re-arm */
			loop_timer_start(c->loop, &c->timer, next - now);
			return;
		}
		c->in_dispatch = true;
		c->cs.ops->event(c, CONN_EV_TIMEOUT, c->session);
		c->in_dispatch = false;
		conn_close(c, "idle timeout");
		conn_flush(c);
		return;
	case CONN_ST_CLOSING:
		conn_abort(c, c->close_reason);
		return;
	case CONN_ST_CLOSED:
		return;
	}
}

int conn_starttls(struct conn *c)
{
	if (!conn_can_starttls(c))
		return -1;
	c->starttls_pending = true;
	conn_input_clear(c); /* RFC 3207 §4.2 / CVE-2011-0411: drop pipelined plaintext */
	loop_timer_stop(c->loop, &c->timer);
	conn_update_events(c);
	if (!c->in_dispatch)
		conn_flush(c);
	return 0;
}

bool conn_can_starttls(const struct conn *c)
{
	return c->cs.tls != NULL && c->ssl == NULL && !c->starttls_pending &&
	       c->state == CONN_ST_READY;
}

int conn_start_deflate(struct conn *c)
{
	struct slice rest = conn_input(c);

	if (c->zx != NULL || c->state != CONN_ST_READY || c->starttls_pending)
		return -1;
	/* what is queued (the protocol's OK) goes out as it is */
	c->zx = xprt_deflate_new(c->out.len);
	/* bytes the client sent after the command are compressed already */
	xprt_deflate_push_input(c->zx, rest.ptr, rest.len);
	conn_input_clear(c);
	c->lower = c->xprt;
	c->xprt = &xprt_zlib;
	if (xprt_deflate_in_pending(c->zx))
		loop_defer(c->loop, conn_read_more, c);
	return 0;
}

bool conn_is_compressed(const struct conn *c)
{
	return c->zx != NULL;
}

bool conn_is_tls(const struct conn *c)
{
	return c->ssl != NULL && !c->starttls_pending;
}

SSL *conn_ssl(struct conn *c)
{
	return conn_is_tls(c) ? c->ssl : NULL;
}

const struct sockaddr *conn_peer(const struct conn *c)
{
	return (const struct sockaddr *)&c->peer;
}

const struct sockaddr *conn_socket_peer(const struct conn *c)
{
	return (const struct sockaddr *)&c->socket_peer;
}

const char *conn_peer_str(const struct conn *c)
{
	return c->peer_str;
}

bool conn_peer_is_loopback(const struct conn *c)
{
	return cidr_is_loopback(conn_peer(c));
}

bool conn_is_secure(const struct conn *c)
{
	return conn_is_tls(c) || conn_peer_is_loopback(c);
}

struct log_ctx *conn_log(struct conn *c)
{
	return &c->log;
}

void *conn_session(const struct conn *c)
{
	return c->state == CONN_ST_CLOSED ? NULL : c->session;
}

void conn_consume_wipe(struct conn *c, size_t n)
{
	util_wipe(c->in.data + c->in_off, MIN(n, conn_input_len(c)));
	conn_consume(c, n);
}

struct loop *conn_loop(struct conn *c)
{
	return c->loop;
}

void conn_accept(struct loop *loop, struct listener *listener, const struct conn_settings *cs,
		 int fd, const struct sockaddr *peer, socklen_t peer_len)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->listener = listener;
	c->cs = *cs;
	c->xprt = &xprt_plain;
	c->last_activity = loop_now(loop);
	memcpy(&c->socket_peer, peer, MIN((size_t)peer_len, sizeof(c->socket_peer)));
	log_ctx_init(&c->log, cs->ops->name, NULL);
	conn_set_peer(c, peer, peer_len);
	timer_init(&c->timer, conn_timer_cb, c);
	list_add(c);
	if (loop_io_add(loop, &c->io, fd, EPOLLIN, conn_io_cb, c) < 0) {
		c->io.fd = fd;
		conn_abort(c, "epoll_ctl failed");
		return;
	}
	if (cs->proxy_protocol) {
		if (!listener_peer_trusted(listener, peer)) {
			/* an untrusted peer could forge its address: no session */
			log_info(&c->log, "proxy.untrusted",
				 "hint=\"peer is not in trusted_proxies\"");
			conn_abort(c, "untrusted PROXY peer");
			return;
		}
		c->state = CONN_ST_PROXY;
		loop_timer_start(loop, &c->timer, cs->proxy_timeout_ms);
		return;
	}
	conn_after_proxy(c);
}

void conn_shutdown_loop(struct loop *loop)
{
	struct conn *c = loop_conns[loop_id(loop) % CONN_MAX_LOOPS], *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_ST_READY && c->session != NULL && !c->starttls_pending) {
			c->in_dispatch = true;
			c->cs.ops->event(c, CONN_EV_SHUTDOWN, c->session);
			c->in_dispatch = false;
			conn_flush(c);
		} else if (c->state < CONN_ST_CLOSING) {
			conn_abort(c, "server shutting down");
		}
	}
}

void conn_abort_loop(struct loop *loop)
{
	struct conn *c = loop_conns[loop_id(loop) % CONN_MAX_LOOPS];

	for (; c != NULL; c = c->next)
		conn_abort(c, "server shutting down");
}
