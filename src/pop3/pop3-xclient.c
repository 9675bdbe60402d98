/* XCLIENT (Dovecot's POP3 form, as Sora's pop3 proxy sends it):
   "XCLIENT ADDR=<ip> PORT=<n> SESSION=<id> TTL=<n> FORWARD=<b64>".

   Only a trusted proxy may tell us who the client is: the TCP peer (never
   a PROXY-forwarded address) must be in the server's trusted_proxies,
   and an empty list trusts nobody. Once, before login. The forwarded
   address then stands for the client in the rate limiter and the logs;
   the plaintext policy still judges the link we actually talk over, the
   one the proxy sends the password on. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "pop3-private.h"



static bool xclient_trusted(struct pop3_client *pc)
{
	const struct cidr_list *trusted = &pc->srv->cfg->trusted_proxies;

	return trusted->count > 0 && cidr_list_match(trusted, conn_socket_peer(pc->conn));
}

/* ADDR=192.0.2.1, ADDR=2001:db8::1, ADDR=IPV6:2001:db8::1, ADDR=[::1] */
static int xclient_addr(struct slice v, char *out, size_t size)
{
	unsigned char bin[sizeof(struct in6_addr)];
	char text[INET6_ADDRSTRLEN];

	if (slice_starts_with_ci(v, "IPV6:"))
		v = slice_from(v.ptr + 5, v.len - 5);
	if (v.len >= 2 && v.ptr[0] == '[' && v.ptr[v.len - 1] == ']')
		v = slice_from(v.ptr + 1, v.len - 2);
	if (v.len == 0 || v.len >= sizeof(text))
		return -1;
	memcpy(text, v.ptr, v.len);
	text[v.len] = '\0';
	if (inet_pton(AF_INET, text, bin) != 1 && inet_pton(AF_INET6, text, bin) != 1)
		return -1;
	if (v.len >= size)
		return -1;
	memcpy(out, text, v.len + 1);
	return 0;
}

static bool xclient_token(struct slice v)
{
	if (v.len == 0 || v.len > POP3_XCLIENT_SESSION_MAX)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		if (v.ptr[i] <= ' ' || v.ptr[i] >= 0x7f)
			return false;
	}
	return true;
}

int pop3_xclient_parse(const struct pop3_cmd *cmd, struct pop3_xclient_params *p)
{
	for (size_t i = 0; i < cmd->arg_count; i++) {
		struct slice a = cmd->args[i], key, v;
		ssize_t eq = slice_find(a, '=');

		if (eq <= 0)
			return -1;
		key = slice_from(a.ptr, (size_t)eq);
		v = slice_from(a.ptr + eq + 1, a.len - (size_t)eq - 1);
		/* Postfix sends [UNAVAILABLE] for what it does not know */
		if (slice_eq_ci(v, "[UNAVAILABLE]") || slice_eq_ci(v, "[TEMPUNAVAIL]"))
			continue;
		if (slice_eq_ci(key, "ADDR")) {
			if (xclient_addr(v, p->addr, sizeof(p->addr)) < 0)
				return -1;
		} else if (slice_eq_ci(key, "PORT")) {
			if (str_to_u32(v, &p->port) < 0 || p->port > 65535)
				return -1;
		} else if (slice_eq_ci(key, "SESSION")) {
			if (!xclient_token(v))
				return -1;
			snprintf(p->session, sizeof(p->session), "%.*s", (int)v.len, v.ptr);
		} else if (slice_eq_ci(key, "TTL")) {
			if (str_to_u32(v, &p->ttl) < 0)
				return -1;
			p->has_ttl = true;
		}
		/* FORWARD= and anything else: accepted, not used */
	}
	return 0;
}

enum pop3_ret pop3_cmd_xclient(struct pop3_client *pc, struct pop3_cmd *cmd)
{
	struct pop3_xclient_params p = { 0 };
	struct conn *c = pc->conn;

	if (!xclient_trusted(pc))
		return pop3_client_error(pc, "Connection not from trusted proxy");
	if (pc->xclient_done)
		return pop3_client_error(pc, "XCLIENT already given");
	if (cmd->arg_count == 0 || cmd->too_many_args || pop3_xclient_parse(cmd, &p) < 0)
		return pop3_client_error(pc, "Invalid XCLIENT parameters");
	/* a proxy chain that loops runs out of hops */
	if (p.has_ttl && p.ttl == 0) {
		log_warn(conn_log(c), "xclient.loop", "session=%s", log_str(p.session));
		pop3_err(pc, "Proxy TTL expired");
		return POP3_DONE;
	}
	pc->xclient_done = true;
	if (p.addr[0] != '\0') {
		snprintf(pc->client_ip, sizeof(pc->client_ip), "%s", p.addr);
		snprintf(conn_log(c)->remote, sizeof(conn_log(c)->remote), "%s", p.addr);
	}
	log_info(conn_log(c), "xclient", "addr=%s port=%u proxy_session=%s ttl=%u",
		 log_str(p.addr), p.port, log_str(p.session), p.ttl);
	pop3_ok(pc, "XCLIENT parameters accepted");
	return POP3_DONE;
}
