#ifndef SORA_CONFIG_H
#define SORA_CONFIG_H

/* The loaded configuration: every server and global section, with defaults
   filled in and values validated. Both of Sora's layouts load into this
   one structure:
     seed form   [servers.imap] … [servers.imap.auth_rate_limit] …
                 [servers.imap.proxy_protocol] enabled, trusted_proxies
     HEAD form   [[server]] type = "imap", name = "…", addr = "…",
                 proxy_protocol = true (trusted = [servers] trusted_networks),
                 auth_rate_limit.*, timeouts.*, limits.* as dotted keys
   All strings live in cfg->arena; the struct is read-only after loading and
   may be shared by every thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/arena.h"
#include "../lib/log.h"
#include "../lib/str.h"
#include "../net/cidr.h"

enum server_type {
	SERVER_IMAP,
	SERVER_POP3,
	SERVER_LMTP,
	SERVER_MANAGESIEVE,
	SERVER_IMAP_PROXY,
	SERVER_POP3_PROXY,
	SERVER_MANAGESIEVE_PROXY,
	SERVER_LMTP_PROXY,
	SERVER_HTTP_ADMIN_API,
	SERVER_HTTP_USER_API,
	SERVER_METRICS,
	SERVER_TYPE_COUNT
};

/* "imap", "pop3", …, "http_admin_api", "http_user_api", "metrics" */
const char *server_type_name(enum server_type type);
/* Also accepts Sora's doc alias "http_api" for http_admin_api. */
int server_type_parse(const char *s, enum server_type *type_r);

/* Seed-era keys (see the security guide). Defaults are filled in before the
   file is read, so an explicit 0 disables that check or delay (Sora instead
   replaces zeros by defaults when enabled = true). */
struct config_rate_limit {
	bool enabled;
	uint32_t max_attempts_per_ip;       /* default 10 */
	uint32_t max_attempts_per_username; /* default 5 */
	uint64_t ip_window_ms;              /* default 15m */
	uint64_t username_window_ms;        /* default 15m */
	uint32_t fast_block_threshold;      /* default 10 */
	uint64_t fast_block_ms;             /* default 5m */
	uint64_t delay_start_threshold;     /* failures before delays start, default 2 */
	uint64_t initial_delay_ms;          /* default 1s */
	uint64_t max_delay_ms;              /* default 30s */
	double delay_multiplier;            /* default 2.0 */
};

struct config_server {
	enum server_type type;
	const char *name;  /* [[server]] name; for [servers.X] the table name X */
	const char *addr;  /* as written: ":993", "127.0.0.1:1143", "[::1]:143" */

	bool tls;              /* implicit TLS, unless tls_use_starttls */
	bool tls_use_starttls; /* plaintext listener offering the protocol's STARTTLS */
	bool tls_verify;       /* require a client certificate (mTLS) */
	const char *tls_cert_file, *tls_key_file;
	const char *tls_client_ca_file; /* NULL: system roots */
	uint64_t tls_handshake_timeout_ms; /* default 10s */
	bool insecure_auth;    /* allow plaintext auth without TLS from non-loopback peers */

	const char *master_username, *master_password;
	const char *master_sasl_username, *master_sasl_password;
	struct cidr_list master_sasl_allowed_networks;

	uint32_t max_connections;        /* 0 = unlimited; defaults per type (Sora's seed) */
	uint32_t max_connections_per_ip; /* 0 = unlimited */
	uint64_t idle_timeout_ms;        /* after login (timeouts.command_timeout) */
	uint64_t auth_idle_timeout_ms;   /* before login (auth_idle_timeout), default 2m */
	uint64_t absolute_session_timeout_ms; /* default 24h */
	uint32_t max_line_length;        /* command line bytes; default per type */
	uint64_t append_limit;           /* IMAP, default 25 MiB */
	uint64_t max_message_size;       /* LMTP, default 50 MiB */
	const char *hostname;            /* greeting/LHLO name; default gethostname() */

	struct config_rate_limit auth_rate_limit;

	bool proxy_protocol;             /* accept a PROXY v1/v2 header from trusted_proxies */
	struct cidr_list trusted_proxies; /* seed: proxy_protocol.trusted_proxies; HEAD: [servers] trusted_networks */
	uint64_t proxy_protocol_timeout_ms; /* default 5s */

	const char *file;  /* where this server was defined, for messages */
	unsigned line;

	/* addr split by the loader: host "" = every address; an IPv6 host is
	   stored without brackets */
	const char *host;
	uint16_t port;

	uint64_t min_bytes_per_minute;   /* timeouts.min_bytes_per_minute, 0 = off */
	uint64_t session_memory_limit;   /* limits.session_memory_limit, 100 MiB, 0 = unlimited */
	uint32_t search_rate_limit_per_min; /* limits.search_rate_limit_per_min, 60 */
	uint64_t search_rate_limit_window_ms; /* limits.search_rate_limit_window, 1m */
	uint32_t max_auth_errors;        /* limits.max_auth_errors (proxies), 2 */

	/* http_admin_api (api_key required, >= 16 chars), http_user_api, metrics */
	const char *api_key;             /* Authorization: Bearer <api_key> */
	struct cidr_list allowed_hosts;  /* empty = any peer */
	const char *http_path;           /* key "path"; metrics default "/metrics" */

	/* IMAP QUOTA (RFC 9208): the limit every account gets; 0 = none */
	uint64_t quota_storage;          /* bytes (STORAGE, reported in KiB) */
	uint64_t quota_messages;         /* messages (MESSAGE) */
};

struct config {
	struct arena *arena;
	const char *path;

	struct config_server *servers;
	size_t server_count;

	/* [servers] trusted_networks: LMTP admission and XCLIENT; empty → the
	   LMTP server admits loopback + RFC 1918 only */
	struct cidr_list trusted_networks;

	struct {
		const char *output;    /* "stderr" (default), "stdout" or a path */
		enum log_format format; /* "console" (default) | "json" */
		enum log_level level;  /* default info */
	} logging;

	struct {
		const char *driver;    /* "sqlite" (default) | "postgres" */
		const char *path;      /* sqlite file, default "data/sora.db" */
		/* postgres: Sora's [database.write] / [database.read] */
		struct config_db_endpoint {
			const char *hosts;     /* "host" or "hosts" (array), comma-joined */
			const char *port;      /* integer or string ("5432" or "5432,5433") */
			const char *user, *password, *name;
			const char *tls_mode;  /* libpq sslmode; "tls = true" = "require" */
			bool tls;
			const char *conninfo;  /* ours: a libpq conninfo/URI, other keys override */
			uint32_t max_conns;    /* pool size, 0 = 4 */
			uint64_t query_timeout_ms; /* statement_timeout; 0 = [database]'s */
		} write, read;
		uint64_t query_timeout_ms; /* [database] query_timeout; 0 = none */
		/* built from write/read at load (libpq key='value' form, may hold the
		   password); read_conninfo NULL = use the write server */
		const char *write_conninfo, *read_conninfo;
	} database;

	struct {
		const char *driver;    /* "fs" (default) | "s3" */
		const char *path;      /* fs root, default "data/blobs" */
	} storage;

	struct {
		const char *endpoint, *access_key, *secret_key, *bucket;
		bool disable_tls, encrypt;
		const char *encryption_key; /* 64 hex chars when encrypt */
		uint64_t timeout_ms;
		/* previous_encryption_keys: older keys, still tried on reads
		   (key rotation); 64 hex chars each, wiped at free */
		const char **previous_encryption_keys;
		size_t previous_encryption_key_count;
	} s3;

	struct {
		const char *path;      /* default "data/cache" */
		uint64_t capacity;     /* default 1 GiB */
		uint64_t max_object_size; /* default 5 MiB */
	} local_cache;

	struct {
		const char *path;      /* staging directory, default "data/uploads" */
		uint32_t batch_size;   /* default 10 */
		uint32_t concurrency;  /* default 20 */
		uint32_t max_attempts; /* default 20 */
		uint64_t retry_interval_ms; /* default 30s */
		uint64_t max_staging_size; /* bytes staged at most, default 1 GiB */
	} uploader;

	struct {
		uint64_t grace_period_ms;  /* default 14d */
		uint64_t wake_interval_ms; /* default 1h, at least 1m */
	} cleanup;

	struct {
		unsigned event_loops;  /* [runtime] event_loops, 0 = one per core */
		unsigned worker_threads; /* [runtime] worker_threads, 0 = 2 per core */
		uint64_t shutdown_timeout_ms; /* [runtime] shutdown_timeout, default 30s */
	} runtime;

	struct {
		/* NULL-terminated; NULL when absent or [] (the engine's default
		   set). Names are checked against the engine at start-up. */
		const char **enabled_extensions;
		uint64_t max_script_size; /* ManageSieve, default 16 KiB */
		uint32_t max_scripts;     /* per account, default 100 */
		/* delivery (LMTP) */
		uint64_t max_execution_ms;       /* max_execution_time, 2s, clamped 100ms–60s */
		uint32_t redirect_rate_limit;    /* redirects per account per window, 100 */
		uint64_t redirect_rate_window_ms; /* redirect_rate_window, 1h */
		uint32_t max_redirect_hops;      /* 2; counted in X-Sora-Redirect-Hops */
	} sieve;

	/* [relay] and [relay.queue]: where Sieve redirects and vacation
	   replies leave (Sora's keys). type NULL = no relay: they fall back
	   to INBOX. */
	struct {
		const char *type;        /* "smtp" */
		const char *smtp_host;   /* "host:port" */
		bool smtp_tls;           /* implicit TLS (default true, as Sora) */
		bool smtp_tls_verify;    /* default true */
		bool smtp_use_starttls;  /* plaintext + STARTTLS instead */
		const char *smtp_username, *smtp_password; /* ours: SMTP AUTH */
		struct {
			const char *path;            /* default "<data dir>/relay" */
			uint64_t worker_interval_ms; /* 1m */
			uint32_t batch_size;         /* 100 */
			uint32_t max_attempts;       /* 10 */
			uint64_t retry_backoff_ms[16]; /* 1m 5m 15m 1h 6h 24h */
			unsigned retry_backoff_count;
			uint32_t circuit_breaker_threshold; /* 5 */
			uint64_t circuit_breaker_timeout_ms; /* 30s */
		} queue;
	} relay;

	struct {
		/* a good password stored with a legacy scheme or a weaker bcrypt
		   cost is re-hashed at login (no Sora key; ours) */
		bool rehash_on_login;     /* [auth] rehash_on_login, default true */
	} auth;
};

/* Reads and validates path. Every problem found goes to diag_r as one line
   "FILE:LINE: KEY: message\n" (warnings prefixed "warning: "). Unknown keys
   are warnings, or errors when strict. Returns 0 with *cfg_r set, or -1
   when there was at least one error (nothing to free then). */
int config_load(const char *path, bool strict, struct config **cfg_r, struct buf *diag_r);
/* Same, from memory (tests, fuzzing); name is used in messages. */
int config_load_string(const char *name, const char *text, size_t len, bool strict,
		       struct config **cfg_r, struct buf *diag_r);
void config_free(struct config **cfg);

#endif
