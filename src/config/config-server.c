/* Server sections, both of Sora's layouts:
     seed  [servers.<type>] with sub-tables .auth_rate_limit, .proxy_protocol
     HEAD  [[server]] type = "…", name = "…", dotted auth_rate_limit.*,
           timeouts.*, limits.*, proxy_protocol = true|false trusting
           [servers] trusted_networks
   Both fill the same struct config_server through one key table; a key
   that only makes sense in one layout is flagged so (CFG_F_HEAD). Checks
   that need every server (PROXY trust from trusted_networks, which may
   come later in the file; duplicate names and addresses) run in
   config_servers_finish(). */

#include "config-private.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#define SRV_OFF(field) offsetof(struct config_server, field)
#define RL_OFF(field) offsetof(struct config_rate_limit, field)

#define CFG_SEC 1000ULL
#define CFG_MINUTE (60 * CFG_SEC)
#define CFG_HOUR (60 * CFG_MINUTE)
#define CFG_MIB (1024ULL * 1024)

/* Values shipped as examples that must never be used as a real key. */
static const char *const config_placeholder_keys[] = {
	"your-api-key-here",
	"your-secret-api-key-here",
};

static struct config_server_aux *server_aux(struct config_ctx *ctx, const struct config_server *s)
{
	return &ctx->aux[s - ctx->cfg->servers];
}

static void server_defaults(struct config_server *s, enum server_type type)
{
	*s = (struct config_server){
		.type = type,
		.tls_handshake_timeout_ms = 10 * CFG_SEC,
		.idle_timeout_ms = 2 * CFG_MINUTE,
		.auth_idle_timeout_ms = 2 * CFG_MINUTE,
		.absolute_session_timeout_ms = 24 * CFG_HOUR,
		.max_line_length = 8192,
		.append_limit = 25 * CFG_MIB,
		.max_message_size = 50 * CFG_MIB,
		.proxy_protocol_timeout_ms = 5 * CFG_SEC,
		.session_memory_limit = 100 * CFG_MIB,
		.search_rate_limit_per_min = 60,
		.search_rate_limit_window_ms = CFG_MINUTE,
		.max_auth_errors = 2,
		.auth_rate_limit = {
			.max_attempts_per_ip = 10,
			.max_attempts_per_username = 5,
			.ip_window_ms = 15 * CFG_MINUTE,
			.username_window_ms = 15 * CFG_MINUTE,
			.fast_block_threshold = 10,
			.fast_block_ms = 5 * CFG_MINUTE,
			.delay_start_threshold = 2,
			.initial_delay_ms = 1 * CFG_SEC,
			.max_delay_ms = 30 * CFG_SEC,
			.delay_multiplier = 2.0,
		},
	};
	switch (type) {
	case SERVER_IMAP:
		s->max_connections = 1000;
		s->max_connections_per_ip = 10;
		/* RFC 9051 5.4: at least 30 minutes (Sora: 5m) */
		s->idle_timeout_ms = 30 * CFG_MINUTE;
		s->max_line_length = 65536;
		break;
	case SERVER_POP3:
		s->max_connections = 500;
		s->max_connections_per_ip = 5;
		s->idle_timeout_ms = 10 * CFG_MINUTE; /* RFC 1939 floor */
		s->max_line_length = 1024;
		break;
	case SERVER_MANAGESIEVE:
		s->max_connections = 200;
		s->max_connections_per_ip = 3;
		s->idle_timeout_ms = 3 * CFG_MINUTE;
		break;
	case SERVER_LMTP:
		s->max_connections = 500;
		s->max_connections_per_ip = 5;
		s->max_line_length = 4096;
		break;
	case SERVER_METRICS:
		s->http_path = "/metrics";
		break;
	default:
		break;
	}
}

/* ---- keys with their own rules ---- */

static void server_type_key(struct config_ctx *ctx, const struct toml_node *n, void *target,
			    const char *path)
{
	/* read before the block was applied (config_server_array) */
	(void)ctx;
	(void)n;
	(void)target;
	(void)path;
}

static void server_hostname(struct config_ctx *ctx, const struct toml_node *n, void *target,
			    const char *path)
{
	struct config_server *s = target;

	if (n->type != TOML_STRING) {
		config_type_error(ctx, n, path, "a string");
		return;
	}
	if (!config_mark_set(ctx, &s->hostname, path, n->line))
		return;
	/* it goes into greetings and LHLO replies: printable, no blanks */
	for (size_t i = 0; i < n->str_len; i++) {
		unsigned char c = (unsigned char)n->str[i];

		if (c <= 0x20 || c >= 0x7f) {
			config_error(ctx, n->line, path,
				     "must be a host name (printable ASCII, no blanks)");
			return;
		}
	}
	if (n->str_len == 0 || n->str_len > 255) {
		config_error(ctx, n->line, path, "must be 1 to 255 characters long");
		return;
	}
	s->hostname = arena_strndup(ctx->cfg->arena, n->str, n->str_len);
}

static const struct config_key rate_limit_keys[] = {
	{ "enabled", CFG_BOOL, RL_OFF(enabled), NULL, 0 },
	{ "max_attempts_per_ip", CFG_U32, RL_OFF(max_attempts_per_ip), NULL, 0 },
	{ "max_attempts_per_username", CFG_U32, RL_OFF(max_attempts_per_username), NULL, 0 },
	{ "ip_window_duration", CFG_DURATION, RL_OFF(ip_window_ms), NULL, 0 },
	{ "username_window_duration", CFG_DURATION, RL_OFF(username_window_ms), NULL, 0 },
	{ "fast_block_threshold", CFG_U32, RL_OFF(fast_block_threshold), NULL, 0 },
	{ "fast_block_duration", CFG_DURATION, RL_OFF(fast_block_ms), NULL, 0 },
	{ "delay_start_threshold", CFG_U64, RL_OFF(delay_start_threshold), NULL, 0 },
	{ "initial_delay", CFG_DURATION, RL_OFF(initial_delay_ms), NULL, 0 },
	{ "max_delay", CFG_DURATION, RL_OFF(max_delay_ms), NULL, 0 },
	{ "delay_multiplier", CFG_DOUBLE, RL_OFF(delay_multiplier), NULL, 0 },
	/* seed-era database batching knobs: no database queue here */
	{ "cleanup_interval", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "cache_cleanup_interval", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "db_sync_interval", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
	{ "max_pending_batch", CFG_U32, 0, NULL, CFG_F_IGNORE },
	{ "db_error_threshold", CFG_DURATION, 0, NULL, CFG_F_IGNORE },
};

static void server_rate_limit(struct config_ctx *ctx, const struct toml_node *n, void *target,
			      const char *path)
{
	struct config_server *s = target;

	if (config_expect_table(ctx, n, path))
		config_apply(ctx, n, rate_limit_keys, ARRAY_SIZE(rate_limit_keys),
			     &s->auth_rate_limit, path, 0);
}

static const struct config_key timeouts_keys[] = {
	{ "command_timeout", CFG_DURATION, SRV_OFF(idle_timeout_ms), NULL, 0 },
	{ "absolute_session_timeout", CFG_DURATION, SRV_OFF(absolute_session_timeout_ms), NULL, 0 },
	{ "min_bytes_per_minute", CFG_U64, SRV_OFF(min_bytes_per_minute), NULL, 0 },
	{ "auth_idle_timeout", CFG_DURATION, SRV_OFF(auth_idle_timeout_ms), NULL, 0 },
	{ "imap_command_timeouts", CFG_ANY, 0, NULL, 0 },
};

static void server_timeouts(struct config_ctx *ctx, const struct toml_node *n, void *target,
			    const char *path)
{
	if (config_expect_table(ctx, n, path))
		config_apply(ctx, n, timeouts_keys, ARRAY_SIZE(timeouts_keys), target, path, 0);
}

static const struct config_key limits_keys[] = {
	{ "session_memory_limit", CFG_SIZE, SRV_OFF(session_memory_limit), NULL, 0 },
	{ "search_rate_limit_per_min", CFG_U32, SRV_OFF(search_rate_limit_per_min), NULL, 0 },
	{ "search_rate_limit_window", CFG_DURATION, SRV_OFF(search_rate_limit_window_ms), NULL, 0 },
	{ "max_auth_errors", CFG_U32, SRV_OFF(max_auth_errors), NULL, 0 },
};

static void server_limits(struct config_ctx *ctx, const struct toml_node *n, void *target,
			  const char *path)
{
	if (config_expect_table(ctx, n, path))
		config_apply(ctx, n, limits_keys, ARRAY_SIZE(limits_keys), target, path, 0);
}

static const struct config_key proxy_keys[] = {
	{ "enabled", CFG_BOOL, SRV_OFF(proxy_protocol), NULL, 0 },
	{ "trusted_proxies", CFG_CIDRS, SRV_OFF(trusted_proxies), NULL, 0 },
	{ "timeout", CFG_DURATION, SRV_OFF(proxy_protocol_timeout_ms), NULL, 0 },
};

/* Seed: a table {enabled, trusted_proxies, timeout}. HEAD: a boolean, and
   the trusted senders are [servers] trusted_networks. */
static void server_proxy_protocol(struct config_ctx *ctx, const struct toml_node *n, void *target,
				  const char *path)
{
	struct config_server *s = target;
	struct config_server_aux *aux = server_aux(ctx, s);
	const struct config_set *list;

	aux->proxy_path = path;
	aux->proxy_line = n->line;
	if (n->type == TOML_BOOL) {
		if (config_mark_set(ctx, &s->proxy_protocol, path, n->line)) {
			s->proxy_protocol = n->boolean;
			aux->proxy_from_trusted_networks = n->boolean;
		}
		return;
	}
	if (n->type != TOML_TABLE) {
		config_type_error(ctx, n, path, "a boolean or a table");
		return;
	}
	config_apply(ctx, n, proxy_keys, ARRAY_SIZE(proxy_keys), s, path, 0);
	if (!s->proxy_protocol)
		return;
	list = config_find_set(ctx, &s->trusted_proxies);
	if (list == NULL)
		aux->proxy_from_trusted_networks = true;
	else if (s->trusted_proxies.count == 0)
		config_error(ctx, list->line, list->path,
			     "PROXY protocol is enabled but no proxy is trusted: "
			     "the list must not be empty");
}

static const struct config_key server_keys[] = {
	{ "type", CFG_FUNC, 0, server_type_key, CFG_F_HEAD },
	{ "name", CFG_STRING, SRV_OFF(name), NULL, CFG_F_HEAD },
	{ "addr", CFG_STRING, SRV_OFF(addr), NULL, 0 },
	{ "tls", CFG_BOOL, SRV_OFF(tls), NULL, 0 },
	{ "tls_use_starttls", CFG_BOOL, SRV_OFF(tls_use_starttls), NULL, 0 },
	{ "tls_verify", CFG_BOOL, SRV_OFF(tls_verify), NULL, 0 },
	{ "tls_cert_file", CFG_STRING, SRV_OFF(tls_cert_file), NULL, 0 },
	{ "tls_key_file", CFG_STRING, SRV_OFF(tls_key_file), NULL, 0 },
	{ "tls_client_ca_file", CFG_STRING, SRV_OFF(tls_client_ca_file), NULL, 0 },
	{ "tls_handshake_timeout", CFG_DURATION, SRV_OFF(tls_handshake_timeout_ms), NULL, 0 },
	{ "insecure_auth", CFG_BOOL, SRV_OFF(insecure_auth), NULL, 0 },
	{ "master_username", CFG_STRING, SRV_OFF(master_username), NULL, 0 },
	{ "master_password", CFG_SECRET, SRV_OFF(master_password), NULL, 0 },
	{ "master_sasl_username", CFG_STRING, SRV_OFF(master_sasl_username), NULL, 0 },
	{ "master_sasl_password", CFG_SECRET, SRV_OFF(master_sasl_password), NULL, 0 },
	{ "master_sasl_allowed_networks", CFG_CIDRS, SRV_OFF(master_sasl_allowed_networks), NULL,
	  0 },
	{ "max_connections", CFG_U32, SRV_OFF(max_connections), NULL, 0 },
	{ "max_connections_per_ip", CFG_U32, SRV_OFF(max_connections_per_ip), NULL, 0 },
	{ "idle_timeout", CFG_DURATION, SRV_OFF(idle_timeout_ms), NULL, 0 },
	{ "auth_idle_timeout", CFG_DURATION, SRV_OFF(auth_idle_timeout_ms), NULL, 0 },
	/* flat forms shown in Sora's docs/security.md */
	{ "command_timeout", CFG_DURATION, SRV_OFF(idle_timeout_ms), NULL, 0 },
	{ "absolute_session_timeout", CFG_DURATION, SRV_OFF(absolute_session_timeout_ms), NULL, 0 },
	{ "min_bytes_per_minute", CFG_U64, SRV_OFF(min_bytes_per_minute), NULL, 0 },
	{ "timeouts", CFG_FUNC, 0, server_timeouts, 0 },
	{ "limits", CFG_FUNC, 0, server_limits, 0 },
	{ "max_line_length", CFG_U32, SRV_OFF(max_line_length), NULL, 0 },
	{ "append_limit", CFG_SIZE, SRV_OFF(append_limit), NULL, 0 },
	{ "max_message_size", CFG_SIZE, SRV_OFF(max_message_size), NULL, 0 },
	{ "quota_storage", CFG_SIZE, SRV_OFF(quota_storage), NULL, 0 },
	{ "quota_messages", CFG_U64, SRV_OFF(quota_messages), NULL, 0 },
	{ "hostname", CFG_FUNC, 0, server_hostname, 0 },
	{ "auth_rate_limit", CFG_FUNC, 0, server_rate_limit, 0 },
	{ "proxy_protocol", CFG_FUNC, 0, server_proxy_protocol, 0 },
	{ "proxy_protocol_timeout", CFG_DURATION, SRV_OFF(proxy_protocol_timeout_ms), NULL, 0 },
	{ "api_key", CFG_SECRET, SRV_OFF(api_key), NULL, 0 },
	{ "allowed_hosts", CFG_CIDRS, SRV_OFF(allowed_hosts), NULL, 0 },
	{ "path", CFG_STRING, SRV_OFF(http_path), NULL, 0 },
};

/* ---- addresses ---- */

static bool addr_is_hostname(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? h[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-' || h[i - label] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-') {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static int addr_host_v6(struct arena *arena, const char *h, size_t len, const char **host_r,
			const char **error_r)
{
	char tmp[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	const char *zone = memchr(h, '%', len);
	size_t alen = zone != NULL ? (size_t)(zone - h) : len;
	struct in6_addr a;

	if (alen >= sizeof(tmp)) {
		*error_r = "invalid IPv6 address";
		return -1;
	}
	memcpy(tmp, h, alen);
	tmp[alen] = '\0';
	if (inet_pton(AF_INET6, tmp, &a) != 1 ||
	    inet_ntop(AF_INET6, &a, canon, sizeof(canon)) == NULL) {
		*error_r = "invalid IPv6 address";
		return -1;
	}
	if (zone != NULL) {
		size_t zlen = len - alen - 1;

		if (zlen == 0 || !addr_is_hostname(zone + 1, zlen)) {
			*error_r = "invalid IPv6 zone";
			return -1;
		}
		*host_r = arena_printf(arena, "%s%%%.*s", canon, (int)zlen, zone + 1);
		return 0;
	}
	*host_r = arena_strdup(arena, canon);
	return 0;
}

int config_parse_addr(struct arena *arena, const char *addr, const char **host_r,
		      uint16_t *port_r, const char **error_r)
{
	const char *colon, *port_s;
	const char *h, *host;
	size_t hlen;
	uint32_t port;

	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (rb == NULL) {
			*error_r = "missing ']' after the IPv6 address";
			return -1;
		}
		if (rb[1] != ':') {
			*error_r = "missing \":port\" after ']'";
			return -1;
		}
		if (addr_host_v6(arena, addr + 1, (size_t)(rb - addr - 1), &host, error_r) < 0)
			return -1;
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL) {
			*error_r = "missing \":port\" (\":143\" listens on every address)";
			return -1;
		}
		h = addr;
		hlen = (size_t)(colon - addr);
		if (memchr(h, ':', hlen) != NULL) {
			*error_r = "an IPv6 address must be in brackets, as in \"[::1]:143\"";
			return -1;
		}
		if (hlen == 0) {
			host = "";
		} else if (strspn(h, "0123456789.") == hlen) {
			char tmp[INET_ADDRSTRLEN];
			struct in_addr a;

			if (hlen >= sizeof(tmp)) {
				*error_r = "invalid IPv4 address";
				return -1;
			}
			memcpy(tmp, h, hlen);
			tmp[hlen] = '\0';
			if (inet_pton(AF_INET, tmp, &a) != 1) {
				*error_r = "invalid IPv4 address";
				return -1;
			}
			host = arena_strdup(arena, tmp);
		} else if (addr_is_hostname(h, hlen)) {
			char *lower = arena_strndup(arena, h, hlen);

			for (char *p = lower; *p != '\0'; p++) {
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			}
			host = lower;
		} else {
			*error_r = "invalid host name";
			return -1;
		}
	}
	port_s = colon + 1;
	if (str_to_u32(slice_cstr(port_s), &port) < 0) {
		*error_r = port_s[0] == '\0' ? "missing port number"
					     : "the port must be a number from 1 to 65535";
		return -1;
	}
	if (port == 0 || port > 65535) {
		*error_r = arena_printf(arena, "port %s out of range (1-65535)", port_s);
		return -1;
	}
	*host_r = host;
	*port_r = (uint16_t)port;
	return 0;
}

/* Two listeners that cannot both bind. "" and "::" (dual stack) take every
   address; "0.0.0.0" every IPv4 address. */
static bool addr_conflict(const struct config_server *a, const struct config_server *b)
{
	if (a->host == NULL || b->host == NULL || a->port != b->port)
		return false;
	if (strcmp(a->host, b->host) == 0)
		return true;
	if (a->host[0] == '\0' || b->host[0] == '\0' || strcmp(a->host, "::") == 0 ||
	    strcmp(b->host, "::") == 0)
		return true;
	if (strcmp(a->host, "0.0.0.0") == 0)
		return strchr(b->host, ':') == NULL;
	if (strcmp(b->host, "0.0.0.0") == 0)
		return strchr(a->host, ':') == NULL;
	return false;
}

/* ---- per-server checks ---- */

static unsigned server_line_of(struct config_ctx *ctx, const void *field, unsigned fallback)
{
	const struct config_set *set = config_find_set(ctx, field);

	return set != NULL ? set->line : fallback;
}

static bool str_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Both or neither: a user name without its password would let an empty
   password match in a constant-time compare. Empty strings count as unset
   and become NULL. */
static void server_check_pair(struct config_ctx *ctx, const struct config_server *s,
			      const char **user, const char *user_key, const char **pass,
			      const char *pass_key)
{
	const char *prefix = server_aux(ctx, s)->prefix;

	if (str_set(*user) && !str_set(*pass))
		config_error(ctx, server_line_of(ctx, user, s->line),
			     config_path_str(ctx, prefix, pass_key),
			     "missing: %s is set, so %s must be set too", user_key, pass_key);
	else if (!str_set(*user) && str_set(*pass))
		config_error(ctx, server_line_of(ctx, pass, s->line),
			     config_path_str(ctx, prefix, user_key),
			     "missing: %s is set, so %s must be set too", pass_key, user_key);
	if (!str_set(*user))
		*user = NULL;
	if (!str_set(*pass))
		*pass = NULL;
}

static void server_check_positive(struct config_ctx *ctx, const void *field, uint64_t v)
{
	const struct config_set *set = config_find_set(ctx, field);

	if (set != NULL && v == 0)
		config_error(ctx, set->line, set->path, "must be greater than 0");
}

static void server_check_tls(struct config_ctx *ctx, struct config_server *s, const char *prefix)
{
	unsigned tls_line = server_line_of(ctx, &s->tls, s->line);
	const char *files[] = { s->tls_cert_file, s->tls_key_file, s->tls_client_ca_file };
	const void *fields[] = { &s->tls_cert_file, &s->tls_key_file, &s->tls_client_ca_file };
	const char *names[] = { "tls_cert_file", "tls_key_file", "tls_client_ca_file" };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		const char *path = config_path_str(ctx, prefix, names[i]);
		unsigned line = server_line_of(ctx, fields[i], tls_line);

		if (!s->tls) {
			if (files[i] != NULL)
				config_warning(ctx, line, path, "has no effect unless tls = true");
			continue;
		}
		if (str_set(files[i]))
			config_check_readable(ctx, files[i], line, path);
		else if (i < 2)
			config_error(ctx, tls_line, path, "required when tls = true");
	}
	if (s->tls_use_starttls && !s->tls)
		config_error(ctx, server_line_of(ctx, &s->tls_use_starttls, s->line),
			     config_path_str(ctx, prefix, "tls_use_starttls"),
			     "requires tls = true (with tls_cert_file and tls_key_file)");
	if (s->tls_use_starttls && (s->type == SERVER_HTTP_ADMIN_API ||
				    s->type == SERVER_HTTP_USER_API || s->type == SERVER_METRICS))
		config_error(ctx, server_line_of(ctx, &s->tls_use_starttls, s->line),
			     config_path_str(ctx, prefix, "tls_use_starttls"),
			     "%s servers have no STARTTLS", server_type_name(s->type));
	if (s->tls_verify && !s->tls)
		config_error(ctx, server_line_of(ctx, &s->tls_verify, s->line),
			     config_path_str(ctx, prefix, "tls_verify"), "requires tls = true");
	if (s->tls && !s->tls_verify && s->tls_client_ca_file != NULL)
		config_warning(ctx, server_line_of(ctx, &s->tls_client_ca_file, s->line),
			       config_path_str(ctx, prefix, "tls_client_ca_file"),
			       "has no effect unless tls_verify = true");
}

static void server_check_limits(struct config_ctx *ctx, struct config_server *s, const char *prefix)
{
	const struct config_rate_limit *rl = &s->auth_rate_limit;
	const struct config_set *set;

	server_check_positive(ctx, &s->idle_timeout_ms, s->idle_timeout_ms);
	server_check_positive(ctx, &s->auth_idle_timeout_ms, s->auth_idle_timeout_ms);
	server_check_positive(ctx, &s->absolute_session_timeout_ms, s->absolute_session_timeout_ms);
	server_check_positive(ctx, &s->tls_handshake_timeout_ms, s->tls_handshake_timeout_ms);
	server_check_positive(ctx, &s->proxy_protocol_timeout_ms, s->proxy_protocol_timeout_ms);
	server_check_positive(ctx, &s->append_limit, s->append_limit);
	server_check_positive(ctx, &s->max_message_size, s->max_message_size);
	server_check_positive(ctx, &s->search_rate_limit_window_ms, s->search_rate_limit_window_ms);
	set = config_find_set(ctx, &s->max_line_length);
	if (set != NULL && (s->max_line_length < 512 || s->max_line_length > 16 * CFG_MIB))
		config_error(ctx, set->line, set->path, "must be between 512 and %llu",
			     16 * CFG_MIB);
	set = config_find_set(ctx, &rl->delay_multiplier);
	if (set != NULL && rl->delay_multiplier < 1.0)
		config_error(ctx, set->line, set->path, "must be at least 1.0");
	if (rl->initial_delay_ms > rl->max_delay_ms)
		config_error(ctx, server_line_of(ctx, &rl->initial_delay_ms, s->line),
			     config_path_str(ctx, prefix, "auth_rate_limit.initial_delay"),
			     "is larger than auth_rate_limit.max_delay");
	set = config_find_set(ctx, &s->idle_timeout_ms);
	if (set != NULL && s->type == SERVER_IMAP && s->idle_timeout_ms > 0 &&
	    s->idle_timeout_ms < 30 * CFG_MINUTE)
		config_warning(ctx, set->line, set->path,
			       "below the 30 minutes RFC 9051 asks for: "
			       "idle IMAP clients will be cut off");
}

static void server_check_http(struct config_ctx *ctx, struct config_server *s, const char *prefix)
{
	const char *path = config_path_str(ctx, prefix, "api_key");
	unsigned line = server_line_of(ctx, &s->api_key, s->line);

	/* never print the key, not even its length */
	if (s->type == SERVER_HTTP_ADMIN_API && !str_set(s->api_key)) {
		config_error(ctx, line, path,
			     "required for http_admin_api servers (at least 16 characters)");
		return;
	}
	if (s->api_key == NULL)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(config_placeholder_keys); i++) {
		if (strcmp(s->api_key, config_placeholder_keys[i]) == 0) {
			config_error(ctx, line, path, "is the example placeholder; set a real key");
			return;
		}
	}
	if (strlen(s->api_key) < 16)
		config_error(ctx, line, path, "must be at least 16 characters long");
}

static void server_check(struct config_ctx *ctx, struct config_server *s)
{
	struct config_server_aux *aux = server_aux(ctx, s);
	const char *prefix = aux->prefix, *err;
	char host[256];

	aux->name_line = server_line_of(ctx, &s->name, s->line);
	aux->addr_line = server_line_of(ctx, &s->addr, s->line);
	if (s->name[0] == '\0')
		config_error(ctx, aux->name_line, config_path_str(ctx, prefix, "name"),
			     "must not be empty");
	if (s->addr == NULL)
		config_error(ctx, s->line, config_path_str(ctx, prefix, "addr"),
			     "missing: every server needs an address, e.g. addr = \":143\"");
	else if (config_parse_addr(ctx->cfg->arena, s->addr, &s->host, &s->port, &err) < 0)
		config_error(ctx, aux->addr_line, config_path_str(ctx, prefix, "addr"), "%s: %s",
			     config_quote(ctx, s->addr, strlen(s->addr)), err);
	server_check_tls(ctx, s, prefix);
	server_check_pair(ctx, s, &s->master_username, "master_username", &s->master_password,
			  "master_password");
	server_check_pair(ctx, s, &s->master_sasl_username, "master_sasl_username",
			  &s->master_sasl_password, "master_sasl_password");
	if (s->master_sasl_allowed_networks.count > 0 && s->master_sasl_username == NULL)
		config_warning(ctx, server_line_of(ctx, &s->master_sasl_allowed_networks, s->line),
			       config_path_str(ctx, prefix, "master_sasl_allowed_networks"),
			       "has no effect without master_sasl_username");
	server_check_limits(ctx, s, prefix);
	server_check_http(ctx, s, prefix);
	if (s->proxy_protocol && s->type == SERVER_METRICS)
		config_error(ctx, aux->proxy_line, aux->proxy_path,
			     "the metrics server does not accept PROXY headers");
	if (s->hostname == NULL) {
		if (gethostname(host, sizeof(host)) == 0 &&
		    memchr(host, '\0', sizeof(host)) != NULL && host[0] != '\0')
			s->hostname = arena_strdup(ctx->cfg->arena, host);
		else
			s->hostname = "localhost";
	}
}

static void server_load(struct config_ctx *ctx, const struct toml_node *table,
			enum server_type type, const char *name, const char *prefix, bool head_form)
{
	struct config *cfg = ctx->cfg;
	struct config_server *s;
	size_t saved;

	if (CHECK_FAILED(cfg->server_count < ctx->server_cap))
		return;
	s = &cfg->servers[cfg->server_count];
	ctx->aux[cfg->server_count] = (struct config_server_aux){ .prefix = prefix };
	cfg->server_count++;
	server_defaults(s, type);
	s->name = arena_strdup(cfg->arena, name);
	s->file = cfg->path;
	s->line = table->line;
	saved = config_scope_begin(ctx);
	config_apply(ctx, table, server_keys, ARRAY_SIZE(server_keys), s, prefix,
		     head_form ? 0 : CFG_F_HEAD);
	server_check(ctx, s);
	config_scope_end(ctx, saved);
}

/* ---- sections ---- */

void config_servers_prepare(struct config_ctx *ctx, const struct toml_node *root)
{
	const struct toml_node *servers = toml_get(root, "servers");
	const struct toml_node *array = toml_get(root, "server");
	size_t cap = 0;

	if (servers != NULL && servers->type == TOML_TABLE)
		cap += servers->count;
	if (array != NULL && array->type == TOML_ARRAY)
		cap += array->count;
	ctx->server_cap = cap;
	ctx->cfg->servers = arena_alloc(ctx->cfg->arena, MAX(cap, 1) * sizeof(*ctx->cfg->servers));
	ctx->aux = arena_alloc(ctx->tmp, MAX(cap, 1) * sizeof(*ctx->aux));
}

static void config_seed_server(struct config_ctx *ctx, const struct toml_node *n, void *target,
			       const char *path)
{
	enum server_type type;

	(void)target;
	if (!config_expect_table(ctx, n, path))
		return;
	/* the key matched a type name exactly, so it holds no NUL */
	if (CHECK_FAILED(server_type_parse(n->key, &type) == 0))
		return;
	server_load(ctx, n, type, n->key, path, false);
}

#define CFG_SEED_SERVER(name) { name, CFG_FUNC, 0, config_seed_server, 0 }

static const struct config_key servers_keys[] = {
	{ "trusted_networks", CFG_CIDRS, offsetof(struct config, trusted_networks), NULL, 0 },
	CFG_SEED_SERVER("imap"),
	CFG_SEED_SERVER("pop3"),
	CFG_SEED_SERVER("lmtp"),
	CFG_SEED_SERVER("managesieve"),
	CFG_SEED_SERVER("imap_proxy"),
	CFG_SEED_SERVER("pop3_proxy"),
	CFG_SEED_SERVER("managesieve_proxy"),
	CFG_SEED_SERVER("lmtp_proxy"),
	CFG_SEED_SERVER("http_admin_api"),
	CFG_SEED_SERVER("http_api"),
	CFG_SEED_SERVER("http_user_api"),
	CFG_SEED_SERVER("metrics"),
};

void config_servers_section(struct config_ctx *ctx, const struct toml_node *n, void *target,
			    const char *path)
{
	if (config_expect_table(ctx, n, path))
		config_apply(ctx, n, servers_keys, ARRAY_SIZE(servers_keys), target, path, 0);
}

void config_server_array(struct config_ctx *ctx, const struct toml_node *n, void *target,
			 const char *path)
{
	const struct toml_node *e;
	size_t i = 0;

	(void)target;
	if (n->type != TOML_ARRAY) {
		config_type_error(ctx, n, path, "an array of tables ([[server]] blocks)");
		return;
	}
	toml_foreach(e, n) {
		const char *epath = arena_printf(ctx->tmp, "%s[%zu]", path, i++);
		const struct toml_node *t;
		enum server_type type;

		if (e->type != TOML_TABLE) {
			config_type_error(ctx, e, epath, "a table");
			continue;
		}
		t = toml_get(e, "type");
		if (t == NULL) {
			config_error(ctx, e->line, config_path_str(ctx, epath, "type"),
				     "missing: every [[server]] needs a type "
				     "(imap, pop3, lmtp, managesieve, …)");
			continue;
		}
		if (t->type != TOML_STRING) {
			config_type_error(ctx, t, config_path_str(ctx, epath, "type"), "a string");
			continue;
		}
		if (memchr(t->str, '\0', t->str_len) != NULL ||
		    server_type_parse(t->str, &type) < 0) {
			config_error(ctx, t->line, config_path_str(ctx, epath, "type"),
				     "unknown server type %s (known: imap, pop3, lmtp, "
				     "managesieve, imap_proxy, pop3_proxy, managesieve_proxy, "
				     "lmtp_proxy, http_admin_api, http_user_api, metrics)",
				     config_quote(ctx, t->str, t->str_len));
			continue;
		}
		server_load(ctx, e, type, server_type_name(type), epath, true);
	}
}

void config_servers_finish(struct config_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	for (size_t i = 0; i < cfg->server_count; i++) {
		struct config_server *s = &cfg->servers[i];
		const struct config_server_aux *aux = &ctx->aux[i];

		if (!s->proxy_protocol || !aux->proxy_from_trusted_networks)
			continue;
		if (cfg->trusted_networks.count == 0)
			config_error(ctx, aux->proxy_line, aux->proxy_path,
				     "PROXY protocol is enabled but [servers] trusted_networks "
				     "is empty: no proxy would be trusted (list the proxies there)");
		else
			cidr_list_copy(&s->trusted_proxies, &cfg->trusted_networks);
	}
	for (size_t j = 1; j < cfg->server_count; j++) {
		const struct config_server *b = &cfg->servers[j];
		const struct config_server_aux *bx = &ctx->aux[j];

		for (size_t i = 0; i < j; i++) {
			const struct config_server *a = &cfg->servers[i];

			if (strcmp(a->name, b->name) == 0)
				config_error(ctx, bx->name_line,
					     config_path_str(ctx, bx->prefix, "name"),
					     "duplicate server name %s "
					     "(also used at line %u; set a unique name)",
					     config_quote(ctx, b->name, strlen(b->name)),
					     ctx->aux[i].name_line);
			if (addr_conflict(a, b))
				config_error(ctx, bx->addr_line,
					     config_path_str(ctx, bx->prefix, "addr"),
					     "%s is already used by server %s (line %u)",
					     config_quote(ctx, b->addr, strlen(b->addr)),
					     config_quote(ctx, a->name, strlen(a->name)),
					     ctx->aux[i].addr_line);
		}
	}
}

void config_server_free(struct config_server *s)
{
	const char *secrets[] = { s->master_password, s->master_sasl_password, s->api_key };

	for (size_t i = 0; i < ARRAY_SIZE(secrets); i++) {
		if (secrets[i] != NULL)
			util_wipe((void *)secrets[i], strlen(secrets[i]));
	}
	cidr_list_free(&s->trusted_proxies);
	cidr_list_free(&s->master_sasl_allowed_networks);
	cidr_list_free(&s->allowed_hosts);
}
