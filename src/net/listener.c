#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../lib/log.h"
#include "../lib/str.h"
#include "../lib/util.h"
#include "loop.h"

#define LISTENER_MAX_LOOPS 64
#define IP_BUCKETS 1024
#define ACCEPT_BATCH 64

struct ip_count {
	struct ip_count *next;
	uint8_t addr[16];
	uint32_t count;
};

/* The listener's presence on one loop. */
struct listener_slot {
	struct listener *l;
	struct loop *loop;
	struct loop_io io;
	struct timer pause; /* accepting paused after EMFILE & co. */
};

struct listener {
	char *name;
	int fd;
	unsigned port;
	uint32_t max_connections, max_per_ip;
	struct cidr_list trusted_proxies;
	struct conn_settings cs;
	struct listener_slot slots[LISTENER_MAX_LOOPS];

	atomic_uint total;
	pthread_mutex_t ip_lock;
	struct ip_count *ip_buckets[IP_BUCKETS];
};

static const char *listener_error(const char *what, const char *addr, int err)
{
	static _Thread_local char msg[256];

	snprintf(msg, sizeof(msg), "%s %s: %s", what, addr, strerror(err));
	return msg;
}

int listener_parse_addr(const char *addr, struct sockaddr_storage *ss_r, socklen_t *len_r,
			const char **error_r)
{
	const char *colon = strrchr(addr, ':');
	char host[256];
	size_t hlen;
	uint32_t port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;

	if (colon == NULL) {
		*error_r = "missing port (use \"host:port\" or \":port\")";
		return -1;
	}
	if (str_to_u32(slice_cstr(colon + 1), &port) < 0 || port == 0 || port > 65535) {
		*error_r = "invalid port";
		return -1;
	}
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
		addr++;
		hlen -= 2;
	} else if (memchr(addr, ':', hlen) != NULL) {
		*error_r = "IPv6 addresses must be written in brackets: \"[::1]:143\"";
		return -1;
	}
	if (hlen >= sizeof(host)) {
		*error_r = "host name too long";
		return -1;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	memset(ss_r, 0, sizeof(*ss_r));
	if (hlen == 0) {
		/* ":993": every address, IPv6 and IPv4 (dual-stack socket) */
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss_r;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*sin6);
		return 0;
	}
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
		*error_r = "cannot resolve host";
		return -1;
	}
	memcpy(ss_r, res->ai_addr, res->ai_addrlen);
	*len_r = res->ai_addrlen;
	freeaddrinfo(res);
	if (ss_r->ss_family == AF_INET)
		((struct sockaddr_in *)ss_r)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss_r)->sin6_port = htons((uint16_t)port);
	return 0;
}

static int listener_bind(const char *addr, unsigned *port_r, const char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0;

	if (listener_parse_addr(addr, &ss, &len, error_r) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
		/* no IPv6 on this host: ":port" means every IPv4 address */
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		uint16_t p = ((struct sockaddr_in6 *)&ss)->sin6_port;

		memset(&ss, 0, sizeof(ss));
		sin->sin_family = AF_INET;
		sin->sin_port = p;
		len = sizeof(*sin);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd == -1) {
		*error_r = listener_error("cannot create socket for", addr, errno);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, 1024) == -1) {
		*error_r = listener_error("cannot listen on", addr, errno);
		(void)close(fd);
		return -1;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		*port_r = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

struct listener *listener_new(const struct listener_settings *s, const char **error_r)
{
	struct listener *l;
	unsigned port = 0;
	int fd = listener_bind(s->addr, &port, error_r);

	if (fd < 0)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->name = xstrdup(s->name);
	l->fd = fd;
	l->port = port;
	l->max_connections = s->max_connections;
	l->max_per_ip = s->max_connections_per_ip;
	if (s->trusted_proxies != NULL)
		cidr_list_copy(&l->trusted_proxies, s->trusted_proxies);
	l->cs = s->conn;
	atomic_init(&l->total, 0);
	pthread_mutex_init(&l->ip_lock, NULL);
	return l;
}

void listener_free(struct listener **lp)
{
	struct listener *l = *lp;

	if (l == NULL)
		return;
	if (l->fd >= 0)
		(void)close(l->fd);
	for (size_t i = 0; i < IP_BUCKETS; i++) {
		while (l->ip_buckets[i] != NULL) {
			struct ip_count *next = l->ip_buckets[i]->next;

			free(l->ip_buckets[i]);
			l->ip_buckets[i] = next;
		}
	}
	cidr_list_free(&l->trusted_proxies);
	pthread_mutex_destroy(&l->ip_lock);
	free(l->name);
	free(l);
	*lp = NULL;
}

const char *listener_name(const struct listener *l)
{
	return l->name;
}

unsigned listener_port(const struct listener *l)
{
	return l->port;
}

#define ACCEPT_PAUSE_MS 100

static void listener_accept_cb(struct loop_io *io, uint32_t events);

static int slot_arm(struct listener_slot *slot)
{
	/* EPOLLEXCLUSIVE: one loop woken per connection (it cannot be
	   changed with EPOLL_CTL_MOD, hence remove + add to pause) */
	return loop_io_add(slot->loop, &slot->io, slot->l->fd, EPOLLIN | EPOLLEXCLUSIVE,
			   listener_accept_cb, slot);
}

static void slot_resume(struct timer *t)
{
	struct listener_slot *slot = t->ctx;

	if (slot_arm(slot) < 0)
		loop_timer_start(slot->loop, &slot->pause, ACCEPT_PAUSE_MS);
}

static void listener_accept_cb(struct loop_io *io, uint32_t events)
{
	struct listener_slot *slot = io->ctx;
	struct listener *l = slot->l;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* the connection stays in the backlog and the
				   level-triggered socket would wake us at once:
				   stop accepting here for a moment instead */
				log_error(NULL, "accept.fail",
					  "listener=%s error=%s paused_ms=%d", log_str(l->name),
					  log_str(strerror(errno)), ACCEPT_PAUSE_MS);
				loop_io_remove(slot->loop, &slot->io);
				loop_timer_start(slot->loop, &slot->pause, ACCEPT_PAUSE_MS);
			}
			return; /* EAGAIN: another loop took it, or none left */
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_accept(slot->loop, l, &l->cs, fd, (struct sockaddr *)&peer, plen);
	}
}

int listener_attach(struct listener *l, struct loop *loop)
{
	unsigned id = loop_id(loop);
	struct listener_slot *slot;

	if (id >= LISTENER_MAX_LOOPS)
		return -1;
	slot = &l->slots[id];
	slot->l = l;
	slot->loop = loop;
	timer_init(&slot->pause, slot_resume, slot);
	return slot_arm(slot);
}

void listener_detach(struct listener *l, struct loop *loop)
{
	unsigned id = loop_id(loop);

	if (id >= LISTENER_MAX_LOOPS || l->slots[id].loop == NULL)
		return;
	loop_timer_stop(loop, &l->slots[id].pause);
	loop_io_remove(loop, &l->slots[id].io);
}

bool listener_peer_trusted(const struct listener *l, const struct sockaddr *peer)
{
	return cidr_list_match(&l->trusted_proxies, peer);
}

/* The client's IP as 16 bytes; IPv4 and IPv4-mapped IPv6 count as one. */
static void ip_key(const struct sockaddr *sa, uint8_t key[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(key, mapped, 12);
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

static size_t ip_hash(const uint8_t key[16])
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h % IP_BUCKETS);
}

bool listener_admit(struct listener *l, const struct sockaddr *client)
{
	uint8_t key[16];
	struct ip_count **pp, *e;
	bool ok = true;

	/* increment, then check: concurrent loops cannot overshoot */
	if (atomic_fetch_add(&l->total, 1) >= l->max_connections && l->max_connections != 0) {
		atomic_fetch_sub(&l->total, 1);
		return false;
	}
	ip_key(client, key);
	pthread_mutex_lock(&l->ip_lock);
	for (pp = &l->ip_buckets[ip_hash(key)]; *pp != NULL; pp = &(*pp)->next) {
		if (memcmp((*pp)->addr, key, 16) == 0)
			break;
	}
	if (*pp == NULL) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->addr, key, 16);
		*pp = e;
	}
	e = *pp;
	if (l->max_per_ip != 0 && e->count >= l->max_per_ip)
		ok = false;
	else
		e->count++;
	if (e->count == 0) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&l->ip_lock);
	if (!ok)
		atomic_fetch_sub(&l->total, 1);
	return ok;
}

void listener_release(struct listener *l, const struct sockaddr *client)
{
	uint8_t key[16];
	struct ip_count **pp;

	atomic_fetch_sub(&l->total, 1);
	ip_key(client, key);
	pthread_mutex_lock(&l->ip_lock);
	for (pp = &l->ip_buckets[ip_hash(key)]; *pp != NULL; pp = &(*pp)->next) {
		if (memcmp((*pp)->addr, key, 16) == 0) {
			struct ip_count *e = *pp;

			if (--e->count == 0) {
				*pp = e->next;
				free(e);
			}
			break;
		}
	}
	pthread_mutex_unlock(&l->ip_lock);
}
