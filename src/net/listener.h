#ifndef SORA_NET_LISTENER_H
#define SORA_NET_LISTENER_H

/* A listening socket shared by every loop (EPOLLEXCLUSIVE: the kernel wakes
   one loop per incoming connection), with the server's connection limits.
   Counters are shared by all loops: the total in an atomic, the per-IP
   counts in a small locked hash table. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cidr.h"
#include "conn.h"

struct loop;
struct listener;

struct listener_settings {
	const char *name;          /* for logs */
	const char *addr;          /* ":993", "127.0.0.1:1143", "[::1]:143", "host:port" */
	uint32_t max_connections;  /* 0 = unlimited */
	uint32_t max_connections_per_ip; /* 0 = unlimited */
	const struct cidr_list *trusted_proxies; /* PROXY senders (when proxy_protocol) */
	struct conn_settings conn;
};

/* Parses addr into a socket address (no DNS for numeric forms). */
int listener_parse_addr(const char *addr, struct sockaddr_storage *ss_r, socklen_t *len_r,
			const char **error_r);

/* Binds and listens. error_r: thread-local buffer. */
struct listener *listener_new(const struct listener_settings *s, const char **error_r);
void listener_free(struct listener **l);
const char *listener_name(const struct listener *l);
/* The bound port (useful with port 0 in tests). */
unsigned listener_port(const struct listener *l);

/* Start accepting on this loop (call on the loop's thread, or before it
   runs). */
int listener_attach(struct listener *l, struct loop *loop);
/* Stop accepting on this loop (loop thread). */
void listener_detach(struct listener *l, struct loop *loop);

/* --- for conn.c --- */
bool listener_peer_trusted(const struct listener *l, const struct sockaddr *peer);
/* Counts the connection against the limits for `client`; false when over
   a limit (the count is not kept then). */
bool listener_admit(struct listener *l, const struct sockaddr *client);
void listener_release(struct listener *l, const struct sockaddr *client);

#endif
