#ifndef SORA_NET_CONN_H
#define SORA_NET_CONN_H

/* One client connection: a non-blocking state machine owned by one loop.

     accept ─▶ [PROXY header, trusted peers only, deadline]
            ─▶ [TLS handshake when the port is implicit TLS, deadline]
            ─▶ READY: proto_ops.start() sends the greeting, then events
            ─▶ CLOSING (output drains, deadline) ─▶ CLOSED ─▶ freed

   The protocol sees only events and the calls below; it never touches the
   socket. Plain TCP and TLS are two transports behind one interface, and
   STARTTLS swaps the transport once the reply has been flushed — never
   carrying plaintext pipelined after the command into the TLS session.

   Memory: an idle connection holds no input or output buffer (they are
   freed when empty) and, with SSL_MODE_RELEASE_BUFFERS, no TLS buffers.
   Output is corked while a batch of input is dispatched and flushed once.
   When the client does not read its replies, input stops being read (the
   output high-water mark), so a slow client can only hurt itself.

   Lifetime: nothing is freed inside a callback. conn_close() only marks;
   the CLOSED event and the free come later from the loop. A connection with
   jobs in flight (conn_job_begin) is freed when the last one ends. */

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../lib/log.h"
#include "../lib/str.h"

struct conn;
struct loop;
struct listener;

enum conn_event {
	CONN_EV_INPUT,    /* new bytes in conn_input(), or input resumed */
	CONN_EV_DRAINED,  /* all queued output was written (after conn_want_drained) */
	CONN_EV_TIMEOUT,  /* idle timeout: send the protocol's goodbye and conn_close() */
	CONN_EV_SHUTDOWN, /* the server is stopping: finish the current command, say goodbye, close */
	CONN_EV_CLOSED,   /* final: free the session; the connection goes away after */
};

struct proto_ops {
	const char *name; /* "imap", "lmtp", … (log proto=) */
	/* Start the session: send the greeting and return the session state.
	   Called once, when PROXY and implicit TLS are done. */
	void *(*start)(struct conn *c, void *server_ctx);
	void (*event)(struct conn *c, enum conn_event ev, void *session);
	/* Sent in clear (or after the handshake on TLS ports) to a connection
	   over max_connections / max_connections_per_ip, before closing. */
	const char *refuse_line;
};

/* Bytes received and not yet consumed. */
struct slice conn_input(struct conn *c);
void conn_consume(struct conn *c, size_t n);

/* Queue output. Never blocks. -1 when the output ceiling is hit: the
   connection is then closing. */
int conn_send(struct conn *c, const void *data, size_t len);
int conn_send_str(struct conn *c, const char *s);
int conn_sendf(struct conn *c, const char *fmt, ...) PRINTF_FMT(2, 3);
/* Bytes queued and not yet written. */
size_t conn_output_pending(const struct conn *c);
/* Ask for one CONN_EV_DRAINED when the output queue becomes empty. Asked
   right after conn_starttls(), it comes once the TLS session is up. */
void conn_want_drained(struct conn *c);

/* Flush what is queued, then close. Idempotent. reason goes to the log. */
void conn_close(struct conn *c, const char *reason);
bool conn_is_closing(const struct conn *c);

/* Stop / restart delivering CONN_EV_INPUT (e.g. while a job runs). Bytes
   keep their order; resuming delivers what arrived meanwhile. */
void conn_pause_input(struct conn *c);
void conn_resume_input(struct conn *c);

/* Idle timeout (0 = none): CONN_EV_TIMEOUT after this long without input. */
void conn_set_idle_timeout(struct conn *c, uint64_t ms);
/* Absolute deadline (0 = none), from now: CONN_EV_TIMEOUT when it passes,
   however busy the client is (login deadline, maximum session length). */
void conn_set_deadline(struct conn *c, uint64_t ms);
/* In CONN_EV_TIMEOUT: true when the absolute deadline passed (not idleness). */
bool conn_deadline_passed(struct conn *c);

/* STARTTLS: call right after queueing the protocol's "go ahead" reply.
   Drops every byte already received after the command, pauses input,
   flushes the reply in clear, then runs the TLS handshake; input resumes
   over TLS. -1 when this listener has no TLS or TLS is already on. */
int conn_starttls(struct conn *c);
bool conn_can_starttls(const struct conn *c);
bool conn_is_tls(const struct conn *c);
/* RFC 4978 COMPRESS=DEFLATE: call right after queueing the protocol's OK.
   That reply (and all queued before it) goes out as it is, everything
   after compressed with raw DEFLATE; bytes received after the command are
   inflated. Over TLS the deflate layer sits inside TLS. -1 when already
   compressing or not ready. */
int conn_start_deflate(struct conn *c);
bool conn_is_compressed(const struct conn *c);
/* The SSL of a TLS connection, else NULL (for client certificate info). */
SSL *conn_ssl(struct conn *c);

/* The client: the PROXY source when a trusted proxy sent one, else the
   socket peer. */
const struct sockaddr *conn_peer(const struct conn *c);
/* The TCP peer (the proxy itself, when there is one). */
const struct sockaddr *conn_socket_peer(const struct conn *c);
/* The client address as text, no port. */
const char *conn_peer_str(const struct conn *c);
/* Loopback client, or TLS: plaintext passwords are acceptable. */
bool conn_is_secure(const struct conn *c);
bool conn_peer_is_loopback(const struct conn *c);

struct log_ctx *conn_log(struct conn *c);
/* The protocol session, or NULL once the connection is closed (for job
   completions, which may outlive the session). */
void *conn_session(const struct conn *c);
/* conn_consume() that first zeroes the bytes (they held a secret). */
void conn_consume_wipe(struct conn *c, size_t n);
struct loop *conn_loop(struct conn *c);

/* A job that holds on to the connection: while any is in flight, the
   connection may close but is not freed. */
void conn_job_begin(struct conn *c);
void conn_job_end(struct conn *c);

/* --- for listener.c --- */
struct conn_settings {
	const struct proto_ops *ops;
	void *server_ctx;
	struct tls_server *tls;    /* NULL: no TLS at all */
	bool implicit_tls;         /* handshake first (else STARTTLS possible) */
	bool proxy_protocol;
	uint64_t proxy_timeout_ms, tls_handshake_timeout_ms;
};

void conn_accept(struct loop *loop, struct listener *listener, const struct conn_settings *cs,
		 int fd, const struct sockaddr *peer, socklen_t peer_len);
/* Every connection of this loop gets CONN_EV_SHUTDOWN (or is closed when
   it has no session yet). Loop thread only. */
void conn_shutdown_loop(struct loop *loop);
/* Closes every connection of this loop at once (shutdown deadline). */
void conn_abort_loop(struct loop *loop);
unsigned conn_count_loop(struct loop *loop);

#endif
