/* Contract of config/config.h: both layouts, defaults, every validation,
   the diagnostics format, unknown keys (warning vs strict) and that no
   secret ever reaches a message. Certificate files are created in a
   temporary directory; "@CERT@", "@KEY@", "@CA@" and "@DIR@" in the test
   configs are replaced by their paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

static char dir[64];
static char cert_path[128], key_path[128], ca_path[128];
static struct buf diag;

#define REAL_KEY "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int group_setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/sora-test-config-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)snprintf(cert_path, sizeof(cert_path), "%s/fullchain.pem", dir);
	(void)snprintf(key_path, sizeof(key_path), "%s/privkey.pem", dir);
	(void)snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	if (write_file(cert_path, "-----BEGIN CERTIFICATE-----\n") < 0 ||
	    write_file(key_path, "-----BEGIN PRIVATE KEY-----\n") < 0 ||
	    write_file(ca_path, "-----BEGIN CERTIFICATE-----\n") < 0)
		return -1;
	buf_init(&diag, 0);
	return 0;
}

static int group_teardown(void **state)
{
	char path[128];

	(void)state;
	(void)unlink(cert_path);
	(void)unlink(key_path);
	(void)unlink(ca_path);
	(void)snprintf(path, sizeof(path), "%s/sora.toml", dir);
	(void)unlink(path);
	(void)rmdir(dir);
	buf_free(&diag);
	return 0;
}

/* text with the placeholders replaced; malloc'ed */
static char *subst(const char *text)
{
	static const char *const from[] = {
		"@CERT@", "@KEY@", "@CA@", "@DIR@",
		"/path/to/your/fullchain.pem", "/path/to/your/privkey.pem",
	};
	const char *to[] = { cert_path, key_path, ca_path, dir, cert_path, key_path };
	struct buf b;

	buf_init(&b, 0);
	while (*text != '\0') {
		size_t i;

		for (i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
			if (strncmp(text, from[i], strlen(from[i])) == 0)
				break;
		}
		if (i < sizeof(from) / sizeof(from[0])) {
			assert_int_equal(buf_append_str(&b, to[i]), 0);
			text += strlen(from[i]);
		} else {
			assert_int_equal(buf_append(&b, text, 1), 0);
			text++;
		}
	}
	return b.data == NULL ? strdup("") : b.data;
}

static int load_text(const char *text, bool strict, struct config **cfg_r)
{
	char *t = subst(text);
	int ret;

	buf_clear(&diag);
	*cfg_r = NULL;
	ret = config_load_string("test.toml", t, strlen(t), strict, cfg_r, &diag);
	free(t);
	if (ret == 0)
		assert_non_null(*cfg_r);
	else
		assert_null(*cfg_r);
	return ret;
}

static struct config *load_ok(const char *text)
{
	struct config *cfg;

	if (load_text(text, false, &cfg) < 0)
		fail_msg("config rejected:\n%s\n---\n%s", diag.data, text);
	return cfg;
}

static const char *diag_str(void)
{
	return diag.data == NULL ? "" : diag.data;
}

static void assert_diag(const char *want)
{
	if (strstr(diag_str(), want) == NULL)
		fail_msg("diagnostics lack \"%s\":\n%s", want, diag_str());
}

static void assert_no_diag(const char *unwanted)
{
	if (strstr(diag_str(), unwanted) != NULL)
		fail_msg("diagnostics contain \"%s\":\n%s", unwanted, diag_str());
}

static size_t diag_lines(void)
{
	size_t n = 0;

	for (const char *p = diag_str(); *p != '\0'; p++)
		n += *p == '\n';
	return n;
}

/* The config must fail and the diagnostics contain want. */
static void load_fail(const char *text, const char *want)
{
	struct config *cfg;

	if (load_text(text, false, &cfg) == 0) {
		config_free(&cfg);
		fail_msg("config accepted, expected \"%s\":\n%s", want, text);
	}
	assert_diag(want);
}

static const struct config_server *find_server(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->server_count; i++) {
		if (strcmp(cfg->servers[i].name, name) == 0)
			return &cfg->servers[i];
	}
	fail_msg("no server %s", name);
	return NULL;
}

static bool list_matches(const struct cidr_list *l, const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return cidr_list_match(l, (const struct sockaddr *)&sin);
}

/* ---- the seed guide's snippets ---- */

static const char seed_tls[] =
	"[servers.imap]\n"
	"addr = \":993\" # Standard IMAPS port\n"
	"tls = true\n"
	"tls_cert_file = \"/path/to/your/fullchain.pem\"\n"
	"tls_key_file = \"/path/to/your/privkey.pem\"\n";

static const char seed_rate_limit[] =
	"[servers.imap.auth_rate_limit]\n"
	"enabled = true\n"
	"max_attempts_per_ip = 10\n"
	"max_attempts_per_username = 5\n"
	"ip_window_duration = \"15m\"\n"
	"fast_block_threshold = 10\n"
	"fast_block_duration = \"5m\"\n";

static const char seed_proxy[] =
	"[servers.imap.proxy_protocol]\n"
	"enabled = true\n"
	"trusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"] # List of trusted proxy IPs/CIDRs\n";

static const char seed_s3[] =
	"[s3]\n"
	"encrypt = true\n"
	"encryption_key = \"YOUR-SECRET-32-BYTE-HEX-ENCODED-KEY-HERE\"\n";

static void test_seed_tls_snippet(void **state)
{
	struct config *cfg = load_ok(seed_tls);
	const struct config_server *s;

	(void)state;
	assert_int_equal(cfg->server_count, 1);
	s = &cfg->servers[0];
	assert_int_equal(s->type, SERVER_IMAP);
	assert_string_equal(s->name, "imap");
	assert_string_equal(s->addr, ":993");
	assert_string_equal(s->host, "");
	assert_int_equal(s->port, 993);
	assert_true(s->tls);
	assert_false(s->tls_use_starttls);
	assert_false(s->tls_verify);
	assert_string_equal(s->tls_cert_file, cert_path);
	assert_string_equal(s->tls_key_file, key_path);
	assert_string_equal(s->file, "test.toml");
	assert_int_equal(s->line, 1);
	assert_string_equal(diag_str(), "");
	config_free(&cfg);
	assert_null(cfg);
}

static void test_seed_rate_limit_snippet(void **state)
{
	struct config *cfg;
	const struct config_rate_limit *rl;
	char text[1024];

	(void)state;
	(void)snprintf(text, sizeof(text), "[servers.imap]\naddr = \":143\"\n\n%s", seed_rate_limit);
	cfg = load_ok(text);
	rl = &cfg->servers[0].auth_rate_limit;
	assert_true(rl->enabled);
	assert_int_equal(rl->max_attempts_per_ip, 10);
	assert_int_equal(rl->max_attempts_per_username, 5);
	assert_int_equal(rl->ip_window_ms, 15 * 60 * 1000);
	assert_int_equal(rl->fast_block_threshold, 10);
	assert_int_equal(rl->fast_block_ms, 5 * 60 * 1000);
	/* not in the snippet: defaults */
	assert_int_equal(rl->username_window_ms, 15 * 60 * 1000);
	assert_int_equal(rl->delay_start_threshold, 2);
	assert_int_equal(rl->initial_delay_ms, 1000);
	assert_int_equal(rl->max_delay_ms, 30000);
	assert_true(rl->delay_multiplier == 2.0);
	assert_string_equal(diag_str(), "");
	config_free(&cfg);

	/* the snippet alone names the server but gives it no address */
	load_fail(seed_rate_limit, "test.toml:1: servers.imap.addr: missing");
}

static void test_seed_proxy_snippet(void **state)
{
	struct config *cfg;
	const struct config_server *s;
	char text[1024];

	(void)state;
	(void)snprintf(text, sizeof(text), "[servers.imap]\naddr = \":143\"\n%s", seed_proxy);
	cfg = load_ok(text);
	s = &cfg->servers[0];
	assert_true(s->proxy_protocol);
	assert_int_equal(s->trusted_proxies.count, 2);
	assert_true(list_matches(&s->trusted_proxies, "127.0.0.1"));
	assert_true(list_matches(&s->trusted_proxies, "10.9.8.7"));
	assert_false(list_matches(&s->trusted_proxies, "127.0.0.2"));
	assert_int_equal(s->proxy_protocol_timeout_ms, 5000);
	assert_string_equal(diag_str(), "");
	config_free(&cfg);
}

static void test_seed_s3_snippet(void **state)
{
	struct config *cfg;

	(void)state;
	/* as written: the placeholder is not a key */
	load_fail(seed_s3, "test.toml:3: s3.encryption_key: must be exactly 64 hex characters");
	assert_no_diag("YOUR-SECRET");
	assert_int_equal(diag_lines(), 1);

	cfg = load_ok("[s3]\nencrypt = false\nencryption_key = \"YOUR-SECRET-32-BYTE-HEX-ENCODED-KEY-HERE\"\n");
	assert_false(cfg->s3.encrypt);
	config_free(&cfg);

	cfg = load_ok("[s3]\nencrypt = true\nencryption_key = \"" REAL_KEY "\"\n");
	assert_true(cfg->s3.encrypt);
	assert_string_equal(cfg->s3.encryption_key, REAL_KEY);
	config_free(&cfg);

	load_fail("[s3]\nencrypt = true\n", "test.toml:2: s3.encryption_key: required when s3.encrypt = true");
	load_fail("[s3]\nencrypt = true\nencryption_key = \"" REAL_KEY "0\"\n",
		  "test.toml:3: s3.encryption_key: must be exactly 64 hex characters");
	load_fail("[s3]\nencrypt = true\nencryption_key = \"" "g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" "\"\n",
		  "s3.encryption_key: must be exactly 64 hex characters");
	assert_no_diag("g011223344");
}

static void test_seed_all_snippets_together(void **state)
{
	struct config *cfg;
	char text[4096];

	(void)state;
	(void)snprintf(text, sizeof(text),
		       "%s\n%s\n%s\n[servers.lmtp]\naddr = \":24\"\ntls = true\ntls_use_starttls = true\n"
		       "tls_cert_file = \"@CERT@\"\ntls_key_file = \"@KEY@\"\n\n"
		       "[servers.managesieve]\naddr = \":4190\"\ntls = true\ntls_use_starttls = true\n"
		       "tls_verify = true\ntls_client_ca_file = \"@CA@\"\n"
		       "tls_cert_file = \"@CERT@\"\ntls_key_file = \"@KEY@\"\n"
		       "master_username = \"proxyuser\"\nmaster_password = \"pw\"\n\n"
		       "[s3]\nencrypt = true\nencryption_key = \"%s\"\n",
		       seed_tls, seed_rate_limit, seed_proxy, REAL_KEY);
	cfg = load_ok(text);
	assert_int_equal(cfg->server_count, 3);
	assert_true(find_server(cfg, "imap")->auth_rate_limit.enabled);
	assert_true(find_server(cfg, "imap")->proxy_protocol);
	assert_true(find_server(cfg, "lmtp")->tls_use_starttls);
	assert_true(find_server(cfg, "managesieve")->tls_verify);
	assert_string_equal(find_server(cfg, "managesieve")->tls_client_ca_file, ca_path);
	assert_string_equal(find_server(cfg, "managesieve")->master_username, "proxyuser");
	assert_string_equal(find_server(cfg, "managesieve")->master_password, "pw");
	assert_string_equal(diag_str(), "");
	config_free(&cfg);
}

/* ---- HEAD layout ---- */

static const char head_config[] =
	"[servers]\n"
	"trusted_networks = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\n"
	"\n"
	"[[server]]\n"
	"type = \"imap\"\n"
	"name = \"imap-main\"\n"
	"addr = \":1143\"\n"
	"proxy_protocol = true\n"
	"proxy_protocol_timeout = \"3s\"\n"
	"auth_idle_timeout = \"1m\"\n"
	"auth_rate_limit.enabled = true\n"
	"auth_rate_limit.max_attempts_per_ip = 20\n"
	"auth_rate_limit.delay_multiplier = 1.5\n"
	"timeouts.command_timeout = \"45m\"\n"
	"timeouts.absolute_session_timeout = \"12h\"\n"
	"timeouts.min_bytes_per_minute = 512\n"
	"limits.session_memory_limit = \"50mb\"\n"
	"limits.search_rate_limit_per_min = 30\n"
	"limits.search_rate_limit_window = \"2m\"\n"
	"limits.max_auth_errors = 3\n"
	"master_sasl_username = \"proxy\"\n"
	"master_sasl_password = \"pw\"\n"
	"master_sasl_allowed_networks = [\"10.0.0.0/8\"]\n"
	"hostname = \"mail.example.org\"\n"
	"insecure_auth = true\n"
	"max_line_length = 10000\n"
	"append_limit = \"10mb\"\n"
	"\n"
	"[[server]]\n"
	"type = \"lmtp\"\n"
	"name = \"lmtp\"\n"
	"addr = \"127.0.0.1:24\"\n"
	"max_message_size = \"10mb\"\n"
	"\n"
	"[[server]]\n"
	"type = \"http_admin_api\"\n"
	"addr = \"127.0.0.1:8080\"\n"
	"api_key = \"0123456789abcdef0123\"\n"
	"allowed_hosts = [\"127.0.0.1\"]\n"
	"\n"
	"[[server]]\n"
	"type = \"metrics\"\n"
	"addr = \"[::1]:9090\"\n";

static void test_head_form(void **state)
{
	struct config *cfg = load_ok(head_config);
	const struct config_server *s;

	(void)state;
	assert_int_equal(cfg->server_count, 4);
	assert_int_equal(cfg->trusted_networks.count, 2);
	s = find_server(cfg, "imap-main");
	assert_int_equal(s->type, SERVER_IMAP);
	assert_int_equal(s->line, 4);
	assert_int_equal(s->port, 1143);
	assert_true(s->proxy_protocol);
	assert_int_equal(s->trusted_proxies.count, 2); /* from trusted_networks */
	assert_true(list_matches(&s->trusted_proxies, "127.0.0.1"));
	assert_true(list_matches(&s->trusted_proxies, "10.1.1.1"));
	assert_int_equal(s->proxy_protocol_timeout_ms, 3000);
	assert_int_equal(s->auth_idle_timeout_ms, 60000);
	assert_true(s->auth_rate_limit.enabled);
	assert_int_equal(s->auth_rate_limit.max_attempts_per_ip, 20);
	assert_int_equal(s->auth_rate_limit.max_attempts_per_username, 5);
	assert_true(s->auth_rate_limit.delay_multiplier == 1.5);
	assert_int_equal(s->idle_timeout_ms, 45 * 60 * 1000);
	assert_int_equal(s->absolute_session_timeout_ms, 12 * 3600 * 1000);
	assert_int_equal(s->min_bytes_per_minute, 512);
	assert_int_equal(s->session_memory_limit, 50 << 20);
	assert_int_equal(s->search_rate_limit_per_min, 30);
	assert_int_equal(s->search_rate_limit_window_ms, 120000);
	assert_int_equal(s->max_auth_errors, 3);
	assert_string_equal(s->master_sasl_username, "proxy");
	assert_string_equal(s->master_sasl_password, "pw");
	assert_null(s->master_username);
	assert_int_equal(s->master_sasl_allowed_networks.count, 1);
	assert_string_equal(s->hostname, "mail.example.org");
	assert_true(s->insecure_auth);
	assert_int_equal(s->max_line_length, 10000);
	assert_int_equal(s->append_limit, 10 << 20);

	s = find_server(cfg, "lmtp");
	assert_int_equal(s->type, SERVER_LMTP);
	assert_string_equal(s->host, "127.0.0.1");
	assert_int_equal(s->port, 24);
	assert_int_equal(s->max_message_size, 10 << 20);
	assert_false(s->proxy_protocol);
	assert_int_equal(s->trusted_proxies.count, 0);

	s = find_server(cfg, "http_admin_api");
	assert_string_equal(s->api_key, "0123456789abcdef0123");
	assert_int_equal(s->allowed_hosts.count, 1);

	s = find_server(cfg, "metrics");
	assert_string_equal(s->host, "::1");
	assert_string_equal(s->http_path, "/metrics");
	assert_string_equal(diag_str(), "");
	config_free(&cfg);
}

static void test_head_proxy_trust(void **state)
{
	struct config *cfg;

	(void)state;
	load_fail("[[server]]\ntype = \"imap\"\naddr = \":143\"\nproxy_protocol = true\n",
		  "test.toml:4: server[0].proxy_protocol: PROXY protocol is enabled but [servers] trusted_networks is empty");
	load_fail("[servers]\ntrusted_networks = []\n[[server]]\ntype = \"pop3\"\naddr = \":110\"\nproxy_protocol = true\n",
		  "test.toml:6: server[0].proxy_protocol: PROXY protocol is enabled");
	/* trusted_networks may come after the servers */
	cfg = load_ok("[[server]]\ntype = \"imap\"\naddr = \":143\"\nproxy_protocol = true\n"
		      "[servers]\ntrusted_networks = [\"192.168.0.0/16\"]\n");
	assert_int_equal(cfg->servers[0].trusted_proxies.count, 1);
	assert_true(list_matches(&cfg->servers[0].trusted_proxies, "192.168.1.1"));
	config_free(&cfg);
	/* false needs nothing */
	cfg = load_ok("[[server]]\ntype = \"imap\"\naddr = \":143\"\nproxy_protocol = false\n");
	assert_false(cfg->servers[0].proxy_protocol);
	config_free(&cfg);
	/* seed table without trusted_proxies falls back to trusted_networks */
	load_fail("[servers.imap]\naddr = \":143\"\n[servers.imap.proxy_protocol]\nenabled = true\n",
		  "test.toml:3: servers.imap.proxy_protocol: PROXY protocol is enabled but [servers] trusted_networks is empty");
	cfg = load_ok("[servers]\ntrusted_networks = [\"10.0.0.0/8\"]\n[servers.imap]\naddr = \":143\"\n"
		      "proxy_protocol = { enabled = true, timeout = \"2s\" }\n");
	assert_int_equal(cfg->servers[0].trusted_proxies.count, 1);
	assert_int_equal(cfg->servers[0].proxy_protocol_timeout_ms, 2000);
	config_free(&cfg);
	load_fail("[servers.imap]\naddr = \":143\"\n[servers.imap.proxy_protocol]\nenabled = true\ntrusted_proxies = []\n",
		  "test.toml:5: servers.imap.proxy_protocol.trusted_proxies: PROXY protocol is enabled but no proxy is trusted");
	load_fail("[servers.imap]\naddr = \":143\"\nproxy_protocol = \"yes\"\n",
		  "test.toml:3: servers.imap.proxy_protocol: expected a boolean or a table, got a string");
	load_fail("[servers]\ntrusted_networks = [\"10.0.0.0/8\"]\n[[server]]\ntype = \"metrics\"\naddr = \":9090\"\nproxy_protocol = true\n",
		  "test.toml:6: server[0].proxy_protocol: the metrics server does not accept PROXY headers");
}

static void test_head_type_errors(void **state)
{
	(void)state;
	load_fail("[[server]]\naddr = \":143\"\n", "test.toml:1: server[0].type: missing");
	load_fail("[[server]]\ntype = \"imapx\"\naddr = \":143\"\n",
		  "test.toml:2: server[0].type: unknown server type \"imapx\"");
	load_fail("[[server]]\ntype = \"imap\\u0000x\"\naddr = \":143\"\n",
		  "test.toml:2: server[0].type: unknown server type \"imap\\x00x\"");
	load_fail("[[server]]\ntype = 1\naddr = \":143\"\n",
		  "test.toml:2: server[0].type: expected a string, got an integer");
	load_fail("server = 1\n", "test.toml:1: server: expected an array of tables");
	load_fail("server = [1]\n", "test.toml:1: server[0]: expected a table, got an integer");
	load_fail("[[server]]\ntype = \"imap\"\nname = \"\"\naddr = \":143\"\n",
		  "test.toml:3: server[0].name: must not be empty");
	load_fail("[servers]\nimap = 5\n", "test.toml:2: servers.imap: expected a table, got an integer");
	load_fail("servers = 5\n", "test.toml:1: servers: expected a table");
}

static void test_head_inline_array(void **state)
{
	struct config *cfg;

	(void)state;
	/* server = [ {…} ] is the same TOML value as [[server]] */
	cfg = load_ok("server = [ { type = \"pop3\", addr = \":110\" }, { type = \"imap\", addr = \":143\" } ]\n");
	assert_int_equal(cfg->server_count, 2);
	assert_string_equal(cfg->servers[0].name, "pop3");
	assert_string_equal(cfg->servers[1].name, "imap");
	config_free(&cfg);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct config *cfg;
	const struct config_server *s;

	(void)state;
	cfg = load_ok("");
	assert_int_equal(cfg->server_count, 0);
	assert_string_equal(cfg->logging.output, "stderr");
	assert_int_equal(cfg->logging.format, LOG_FORMAT_CONSOLE);
	assert_int_equal(cfg->logging.level, LOG_LEVEL_INFO);
	assert_string_equal(cfg->database.driver, "sqlite");
	assert_string_equal(cfg->database.path, "data/sora.db");
	assert_string_equal(cfg->storage.driver, "fs");
	assert_string_equal(cfg->storage.path, "data/blobs");
	assert_false(cfg->s3.encrypt);
	assert_int_equal(cfg->s3.timeout_ms, 30000);
	assert_string_equal(cfg->local_cache.path, "data/cache");
	assert_int_equal(cfg->local_cache.capacity, 1 << 30);
	assert_int_equal(cfg->local_cache.max_object_size, 5 << 20);
	assert_string_equal(cfg->uploader.path, "data/uploads");
	assert_int_equal(cfg->uploader.batch_size, 10);
	assert_int_equal(cfg->uploader.concurrency, 20);
	assert_int_equal(cfg->uploader.max_attempts, 20);
	assert_int_equal(cfg->uploader.retry_interval_ms, 30000);
	assert_int_equal(cfg->cleanup.grace_period_ms, 14ULL * 86400 * 1000);
	assert_int_equal(cfg->cleanup.wake_interval_ms, 3600 * 1000);
	assert_int_equal(cfg->runtime.event_loops, 0);
	assert_int_equal(cfg->runtime.worker_threads, 0);
	assert_int_equal(cfg->runtime.shutdown_timeout_ms, 30000);
	assert_int_equal(cfg->trusted_networks.count, 0);
	config_free(&cfg);

	cfg = load_ok("[servers.imap]\naddr = \":1\"\n[servers.pop3]\naddr = \":2\"\n"
		      "[servers.managesieve]\naddr = \":3\"\n[servers.lmtp]\naddr = \":4\"\n"
		      "[servers.imap_proxy]\naddr = \":5\"\n[servers.metrics]\naddr = \":6\"\n"
		      "[servers.http_api]\naddr = \":7\"\napi_key = \"abcdefghijklmnopq\"\n");
	assert_int_equal(cfg->server_count, 7);
	s = find_server(cfg, "imap");
	assert_int_equal(s->max_connections, 1000);
	assert_int_equal(s->max_connections_per_ip, 10);
	assert_int_equal(s->idle_timeout_ms, 30 * 60 * 1000);
	assert_int_equal(s->max_line_length, 65536);
	assert_int_equal(s->auth_idle_timeout_ms, 120000);
	assert_int_equal(s->absolute_session_timeout_ms, 24 * 3600 * 1000);
	assert_int_equal(s->tls_handshake_timeout_ms, 10000);
	assert_int_equal(s->proxy_protocol_timeout_ms, 5000);
	assert_int_equal(s->append_limit, 25 << 20);
	assert_int_equal(s->max_message_size, 50 << 20);
	assert_int_equal(s->session_memory_limit, 100 << 20);
	assert_int_equal(s->search_rate_limit_per_min, 60);
	assert_int_equal(s->search_rate_limit_window_ms, 60000);
	assert_int_equal(s->max_auth_errors, 2);
	assert_int_equal(s->min_bytes_per_minute, 0);
	assert_false(s->tls);
	assert_false(s->insecure_auth);
	assert_false(s->proxy_protocol);
	assert_false(s->auth_rate_limit.enabled);
	assert_int_equal(s->auth_rate_limit.max_attempts_per_ip, 10);
	assert_int_equal(s->auth_rate_limit.fast_block_ms, 300000);
	assert_non_null(s->hostname);
	assert_true(s->hostname[0] != '\0');
	assert_null(s->tls_client_ca_file);
	assert_null(s->master_username);
	s = find_server(cfg, "pop3");
	assert_int_equal(s->max_connections, 500);
	assert_int_equal(s->max_connections_per_ip, 5);
	assert_int_equal(s->idle_timeout_ms, 10 * 60 * 1000);
	assert_int_equal(s->max_line_length, 1024);
	s = find_server(cfg, "managesieve");
	assert_int_equal(s->max_connections, 200);
	assert_int_equal(s->max_connections_per_ip, 3);
	assert_int_equal(s->idle_timeout_ms, 3 * 60 * 1000);
	assert_int_equal(s->max_line_length, 8192);
	s = find_server(cfg, "lmtp");
	assert_int_equal(s->max_connections, 500);
	assert_int_equal(s->max_connections_per_ip, 5);
	assert_int_equal(s->idle_timeout_ms, 2 * 60 * 1000);
	assert_int_equal(s->max_line_length, 4096);
	s = find_server(cfg, "imap_proxy");
	assert_int_equal(s->type, SERVER_IMAP_PROXY);
	assert_int_equal(s->max_connections, 0);
	assert_int_equal(s->max_connections_per_ip, 0);
	assert_int_equal(s->idle_timeout_ms, 2 * 60 * 1000);
	assert_int_equal(s->max_line_length, 8192);
	s = find_server(cfg, "metrics");
	assert_string_equal(s->http_path, "/metrics");
	s = find_server(cfg, "http_api");
	assert_int_equal(s->type, SERVER_HTTP_ADMIN_API);
	config_free(&cfg);
}

static void test_global_sections(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("[logging]\noutput = \"/var/log/sora.log\"\nformat = \"json\"\nlevel = \"debug\"\n"
		      "[database]\ndriver = \"postgres\"\npath = \"x.db\"\nlog_queries = false\n"
		      "[database.write]\nhost = \"db1\"\nport = 5432\nuser = \"sora\"\npassword = \"pw\"\nname = \"sora\"\n"
		      "[database.read]\nhosts = [\"db2\", \"db3\"]\nport = \"5432\"\nuser = \"ro\"\npassword = \"pw\"\nname = \"sora\"\n"
		      "[storage]\ndriver = \"s3\"\npath = \"/srv/blobs\"\n"
		      "[s3]\nendpoint = \"127.0.0.1:9000\"\ndisable_tls = true\naccess_key = \"AK\"\n"
		      "secret_key = \"SK\"\nbucket = \"mail\"\ntimeout = \"1m\"\n"
		      "[local_cache]\npath = \"/c\"\ncapacity = \"2gb\"\nmax_object_size = 1048576\npurge_interval = \"12h\"\n"
		      "[uploader]\npath = \"/u\"\nbatch_size = 5\nconcurrency = 4\nmax_attempts = 3\n"
		      "retry_interval = \"10s\"\ninstance_id = \"node1\"\nmax_staging_size = \"100gb\"\n"
		      "[cleanup]\ngrace_period = \"7d\"\nwake_interval = \"30m\"\nmax_age_restriction = \"\"\n"
		      "fts_retention = \"730d\"\nauth_attempts_retention = \"7d\"\n"
		      "[runtime]\nevent_loops = 4\nworker_threads = 16\nshutdown_timeout = \"10s\"\n");
	assert_string_equal(cfg->logging.output, "/var/log/sora.log");
	assert_int_equal(cfg->logging.format, LOG_FORMAT_JSON);
	assert_int_equal(cfg->logging.level, LOG_LEVEL_DEBUG);
	assert_string_equal(cfg->database.driver, "postgres");
	assert_string_equal(cfg->database.path, "x.db");
	/* [database.write]/[database.read] become libpq conninfos (quoted) */
	assert_string_equal(cfg->database.write_conninfo,
			    "host='db1' port='5432' user='sora' password='pw' dbname='sora'");
	assert_string_equal(cfg->database.read_conninfo,
			    "host='db2,db3' port='5432' user='ro' password='pw' dbname='sora'");
	assert_string_equal(cfg->storage.driver, "s3");
	assert_string_equal(cfg->storage.path, "/srv/blobs");
	assert_string_equal(cfg->s3.endpoint, "127.0.0.1:9000");
	assert_true(cfg->s3.disable_tls);
	assert_string_equal(cfg->s3.access_key, "AK");
	assert_string_equal(cfg->s3.secret_key, "SK");
	assert_string_equal(cfg->s3.bucket, "mail");
	assert_int_equal(cfg->s3.timeout_ms, 60000);
	assert_string_equal(cfg->local_cache.path, "/c");
	assert_int_equal(cfg->local_cache.capacity, 2ULL << 30);
	assert_int_equal(cfg->local_cache.max_object_size, 1048576);
	assert_string_equal(cfg->uploader.path, "/u");
	assert_int_equal(cfg->uploader.batch_size, 5);
	assert_int_equal(cfg->uploader.concurrency, 4);
	assert_int_equal(cfg->uploader.max_attempts, 3);
	assert_int_equal(cfg->uploader.retry_interval_ms, 10000);
	assert_int_equal(cfg->cleanup.grace_period_ms, 7ULL * 86400 * 1000);
	assert_int_equal(cfg->cleanup.wake_interval_ms, 30 * 60 * 1000);
	assert_int_equal(cfg->runtime.event_loops, 4);
	assert_int_equal(cfg->runtime.worker_threads, 16);
	assert_int_equal(cfg->runtime.shutdown_timeout_ms, 10000);
	assert_string_equal(diag_str(), ""); /* Sora's keys are known: no warning */
	config_free(&cfg);

	/* query_timeout becomes statement_timeout; values are quoted */
	cfg = load_ok("[database]\ndriver = \"postgres\"\nquery_timeout = \"30s\"\n"
		      "[database.write]\nconninfo = \"sslmode=disable\"\nhost = \"db1\"\n"
		      "password = \"it's\\\\x\"\nmax_conns = 9\n"
		      "[database.read]\nhost = \"db2\"\nquery_timeout = \"2s\"\n");
	assert_string_equal(cfg->database.write_conninfo,
			    "sslmode=disable host='db1' password='it\\'s\\\\x' "
			    "options='-c statement_timeout=30000'");
	assert_string_equal(cfg->database.read_conninfo,
			    "host='db2' options='-c statement_timeout=2000'");
	assert_int_equal(cfg->database.write.max_conns, 9);
	config_free(&cfg);

	cfg = load_ok("[logging]\nlevel = \"warning\"\n");
	assert_int_equal(cfg->logging.level, LOG_LEVEL_WARN);
	config_free(&cfg);

	load_fail("[logging]\nformat = \"xml\"\n", "test.toml:2: logging.format: must be \"console\" or \"json\", not \"xml\"");
	load_fail("[logging]\nlevel = \"loud\"\n", "test.toml:2: logging.level: must be \"debug\", \"info\", \"warn\" or \"error\"");
	load_fail("[database]\ndriver = \"mysql\"\n", "test.toml:2: database.driver: must be \"sqlite\" or \"postgres\", not \"mysql\"");
	load_fail("[database]\ndriver = \"postgres\"\n", "test.toml:2: database.write: required when database.driver = \"postgres\"");
	load_fail("[database.write]\nport = 1\nbogus = 2\n[storage]\ndriver = \"s4\"\n",
		  "test.toml:5: storage.driver: must be \"fs\" or \"s3\"");
	load_fail("[storage]\ndriver = \"s3\"\n", "test.toml:2: s3.endpoint: required when storage.driver = \"s3\"");
	assert_diag("test.toml:2: s3.bucket: required when storage.driver = \"s3\"");
	load_fail("[s3]\naccess_key = \"AK\"\n", "test.toml:1: s3.secret_key: must be set together with s3.access_key");
	load_fail("[cleanup]\nwake_interval = \"10s\"\n", "test.toml:2: cleanup.wake_interval: must be at least 1m");
	load_fail("[runtime]\nshutdown_timeout = \"0\"\n", "test.toml:2: runtime.shutdown_timeout: must be greater than 0");
	load_fail("[runtime]\nevent_loops = -1\n", "test.toml:2: runtime.event_loops: must not be negative");
	load_fail("logging = 1\n", "test.toml:1: logging: expected a table, got an integer");
	load_fail("[database]\nwrite = 1\n", "test.toml:2: database.write: expected a table, got an integer");
}

/* ---- validation ---- */

static void test_addr(void **state)
{
	static const struct {
		const char *addr, *host;
		unsigned port;
	} good[] = {
		{ ":993", "", 993 },
		{ "127.0.0.1:1143", "127.0.0.1", 1143 },
		{ "[::1]:143", "::1", 143 },
		{ "[0:0::1]:143", "::1", 143 },
		{ "localhost:143", "localhost", 143 },
		{ "Mail.Example.COM:25", "mail.example.com", 25 },
		{ "[fe80::1%eth0]:143", "fe80::1%eth0", 143 },
		{ "0.0.0.0:65535", "0.0.0.0", 65535 },
		{ "[::]:1", "::", 1 },
	};
	static const struct {
		const char *addr, *msg;
	} bad[] = {
		{ "993", "missing \":port\"" },
		{ "", "missing \":port\"" },
		{ ":0", "port 0 out of range (1-65535)" },
		{ ":99999", "port 99999 out of range (1-65535)" },
		{ ":65536", "port 65536 out of range" },
		{ ":", "missing port number" },
		{ ":imaps", "the port must be a number" },
		{ ":-1", "the port must be a number" },
		{ ": 143", "the port must be a number" },
		{ "::1:143", "an IPv6 address must be in brackets" },
		{ "[::1]143", "missing \":port\" after ']'" },
		{ "[::1:143", "missing ']'" },
		{ "[zz::1]:143", "invalid IPv6 address" },
		{ "[127.0.0.1]:143", "invalid IPv6 address" },
		{ "[fe80::1%]:143", "invalid IPv6 zone" },
		{ "1.2.3.999:143", "invalid IPv4 address" },
		{ "1.2.3:143", "invalid IPv4 address" },
		{ "bad host:143", "invalid host name" },
		{ "-bad.example:143", "invalid host name" },
		{ "bad-.example:143", "invalid host name" },
		{ "a..b:143", "invalid host name" },
		{ "*:143", "invalid host name" },
	};
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config *cfg;

		(void)snprintf(text, sizeof(text), "[servers.imap]\naddr = \"%s\"\n", good[i].addr);
		cfg = load_ok(text);
		assert_string_equal(cfg->servers[0].host, good[i].host);
		assert_int_equal(cfg->servers[0].port, good[i].port);
		assert_string_equal(cfg->servers[0].addr, good[i].addr);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[160];

		(void)snprintf(text, sizeof(text), "[servers.imap]\naddr = \"%s\"\n", bad[i].addr);
		(void)snprintf(want, sizeof(want), "test.toml:2: servers.imap.addr: \"%s\": %s",
			       bad[i].addr, bad[i].msg);
		load_fail(text, want);
	}
	load_fail("[servers.imap]\naddr = 993\n",
		  "test.toml:2: servers.imap.addr: expected a string, got an integer");
	load_fail("[servers.imap]\n\n", "test.toml:1: servers.imap.addr: missing: every server needs an address");
	/* two invalid addresses are not reported as the same address */
	load_fail("[servers.imap]\naddr = \":0\"\n[servers.pop3]\naddr = \":0\"\n", "servers.pop3.addr: \":0\": port 0");
	assert_no_diag("already used");
}

static void test_tls_validation(void **state)
{
	struct config *cfg;

	(void)state;
	load_fail("[servers.imap]\naddr = \":993\"\ntls = true\n",
		  "test.toml:3: servers.imap.tls_cert_file: required when tls = true");
	assert_diag("test.toml:3: servers.imap.tls_key_file: required when tls = true");
	assert_int_equal(diag_lines(), 2);
	load_fail("[servers.imap]\naddr = \":993\"\ntls = true\ntls_cert_file = \"@DIR@/missing.pem\"\ntls_key_file = \"@KEY@\"\n",
		  "test.toml:4: servers.imap.tls_cert_file: cannot read \"");
	assert_diag("missing.pem\": No such file or directory");
	assert_int_equal(diag_lines(), 1);
	load_fail("[servers.imap]\naddr = \":993\"\ntls = true\ntls_cert_file = \"@CERT@\"\ntls_key_file = \"@DIR@\"\n",
		  "test.toml:5: servers.imap.tls_key_file: \"");
	assert_diag("\" is not a regular file");
	load_fail("[servers.imap]\naddr = \":993\"\ntls = true\ntls_verify = true\ntls_cert_file = \"@CERT@\"\n"
		  "tls_key_file = \"@KEY@\"\ntls_client_ca_file = \"@DIR@/nope\"\n",
		  "test.toml:7: servers.imap.tls_client_ca_file: cannot read");
	load_fail("[servers.lmtp]\naddr = \":24\"\ntls_use_starttls = true\n",
		  "test.toml:3: servers.lmtp.tls_use_starttls: requires tls = true");
	load_fail("[servers.imap]\naddr = \":143\"\ntls_verify = true\n",
		  "test.toml:3: servers.imap.tls_verify: requires tls = true");
	load_fail("[servers.metrics]\naddr = \":9\"\ntls = true\ntls_use_starttls = true\ntls_cert_file = \"@CERT@\"\ntls_key_file = \"@KEY@\"\n",
		  "test.toml:4: servers.metrics.tls_use_starttls: metrics servers have no STARTTLS");
	load_fail("[servers.imap]\naddr = \":993\"\ntls = \"yes\"\n",
		  "test.toml:3: servers.imap.tls: expected a boolean (true or false), got a string");

	/* files without tls: only a warning */
	cfg = load_ok("[servers.imap]\naddr = \":143\"\ntls_cert_file = \"/nonexistent\"\n");
	assert_diag("warning: test.toml:3: servers.imap.tls_cert_file: has no effect unless tls = true");
	config_free(&cfg);
	cfg = load_ok("[servers.imap]\naddr = \":993\"\ntls = true\ntls_cert_file = \"@CERT@\"\n"
		      "tls_key_file = \"@KEY@\"\ntls_client_ca_file = \"@CA@\"\n");
	assert_diag("warning: test.toml:6: servers.imap.tls_client_ca_file: has no effect unless tls_verify = true");
	config_free(&cfg);
	cfg = load_ok("[servers.imap]\naddr = \":993\"\ntls = true\ntls_cert_file = \"@CERT@\"\n"
		      "tls_key_file = \"@KEY@\"\ntls_handshake_timeout = \"3s\"\n");
	assert_int_equal(cfg->servers[0].tls_handshake_timeout_ms, 3000);
	config_free(&cfg);
}

static void test_master_validation(void **state)
{
	struct config *cfg;

	(void)state;
	load_fail("[servers.imap]\naddr = \":143\"\nmaster_username = \"admin\"\n",
		  "test.toml:3: servers.imap.master_password: missing: master_username is set, so master_password must be set too");
	load_fail("[servers.imap]\naddr = \":143\"\nmaster_password = \"Sup3rS3cret!\"\n",
		  "test.toml:3: servers.imap.master_username: missing: master_password is set");
	assert_no_diag("Sup3rS3cret");
	load_fail("[servers.imap]\naddr = \":143\"\nmaster_username = \"admin\"\nmaster_password = \"\"\n",
		  "servers.imap.master_password: missing");
	load_fail("[[server]]\ntype = \"imap\"\naddr = \":143\"\nmaster_sasl_username = \"proxy\"\n",
		  "test.toml:4: server[0].master_sasl_password: missing: master_sasl_username is set");
	load_fail("[[server]]\ntype = \"imap\"\naddr = \":143\"\nmaster_sasl_password = \"Sup3rS3cret!\"\n",
		  "test.toml:4: server[0].master_sasl_username: missing: master_sasl_password is set");
	assert_no_diag("Sup3rS3cret");
	/* both empty = disabled */
	cfg = load_ok("[servers.imap]\naddr = \":143\"\nmaster_username = \"\"\nmaster_password = \"\"\n");
	assert_null(cfg->servers[0].master_username);
	assert_null(cfg->servers[0].master_password);
	config_free(&cfg);
	cfg = load_ok("[servers.imap]\naddr = \":143\"\nmaster_sasl_allowed_networks = [\"10.0.0.1\"]\n");
	assert_diag("warning: test.toml:3: servers.imap.master_sasl_allowed_networks: has no effect without master_sasl_username");
	config_free(&cfg);
}

static void test_value_validation(void **state)
{
	(void)state;
	load_fail("[servers.imap]\naddr = \":143\"\nidle_timeout = \"5 minutes\"\n",
		  "test.toml:3: servers.imap.idle_timeout: invalid duration \"5 minutes\"");
	load_fail("[servers.imap]\naddr = \":143\"\nidle_timeout = 300\n",
		  "test.toml:3: servers.imap.idle_timeout: expected a duration string such as \"30s\" or \"5m\", got an integer");
	load_fail("[servers.imap]\naddr = \":143\"\nappend_limit = \"lots\"\n",
		  "test.toml:3: servers.imap.append_limit: invalid size \"lots\"");
	load_fail("[servers.imap]\naddr = \":143\"\nappend_limit = true\n",
		  "servers.imap.append_limit: expected a size such as \"25mb\" or a number of bytes, got a boolean");
	load_fail("[servers.imap]\naddr = \":143\"\nappend_limit = 0\n",
		  "test.toml:3: servers.imap.append_limit: must be greater than 0");
	load_fail("[servers.imap]\naddr = \":143\"\nmax_connections = \"10\"\n",
		  "test.toml:3: servers.imap.max_connections: expected an integer, got a string");
	load_fail("[servers.imap]\naddr = \":143\"\nmax_connections = -1\n",
		  "test.toml:3: servers.imap.max_connections: must not be negative");
	load_fail("[servers.imap]\naddr = \":143\"\nmax_connections = 5000000000\n",
		  "test.toml:3: servers.imap.max_connections: too large (at most 4294967295)");
	load_fail("[servers.imap]\naddr = \":143\"\nmax_connections = 1.5\n",
		  "expected an integer, got a float");
	load_fail("[servers.imap]\naddr = \":143\"\ntls_handshake_timeout = \"0\"\n",
		  "test.toml:3: servers.imap.tls_handshake_timeout: must be greater than 0");
	load_fail("[servers.imap]\naddr = \":143\"\nmax_line_length = 100\n",
		  "test.toml:3: servers.imap.max_line_length: must be between 512 and 16777216");
	load_fail("[servers.imap]\naddr = \":143\"\nhostname = \"mail example\"\n",
		  "test.toml:3: servers.imap.hostname: must be a host name");
	load_fail("[servers.imap]\naddr = \":143\"\naddr2 = 1\n[servers.imap.auth_rate_limit]\ndelay_multiplier = 0.5\n",
		  "test.toml:5: servers.imap.auth_rate_limit.delay_multiplier: must be at least 1.0");
	load_fail("[servers.imap]\naddr = \":143\"\n[servers.imap.auth_rate_limit]\ndelay_multiplier = \"2\"\n",
		  "test.toml:4: servers.imap.auth_rate_limit.delay_multiplier: expected a number, got a string");
	load_fail("[servers.imap]\naddr = \":143\"\n[servers.imap.auth_rate_limit]\ninitial_delay = \"1m\"\n",
		  "test.toml:4: servers.imap.auth_rate_limit.initial_delay: is larger than auth_rate_limit.max_delay");
	load_fail("[servers.imap]\naddr = \":143\"\nauth_rate_limit = 1\n",
		  "test.toml:3: servers.imap.auth_rate_limit: expected a table, got an integer");
	{
		struct config *cfg;

		/* seed tables take their name from the table: "name" is unknown */
		assert_int_equal(load_text("[servers.imap]\naddr = \":143\"\nname = \"x\"\n", true, &cfg), -1);
		assert_diag("test.toml:3: servers.imap.name: unknown key");
	}
	load_fail("[[server]]\ntype = \"imap\"\naddr = \":143\"\nname = \"x\\u0000y\"\n",
		  "test.toml:4: server[0].name: must not contain a NUL character");
	/* CIDRs */
	load_fail("[servers.imap]\naddr = \":143\"\n[servers.imap.proxy_protocol]\nenabled = true\n"
		  "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\", 7, \"nonsense\"]\n",
		  "test.toml:5: servers.imap.proxy_protocol.trusted_proxies[1]: invalid network \"10.0.0.0/33\"");
	assert_diag("test.toml:5: servers.imap.proxy_protocol.trusted_proxies[2]: expected a string (IP address or CIDR range), got an integer");
	assert_diag("test.toml:5: servers.imap.proxy_protocol.trusted_proxies[3]: invalid network \"nonsense\"");
	load_fail("[servers]\ntrusted_networks = \"10.0.0.0/8\"\n",
		  "test.toml:2: servers.trusted_networks: expected an array of strings");
	load_fail("[servers]\ntrusted_networks = [\"10.0.0.0/8\\u0000x\"]\n",
		  "test.toml:2: servers.trusted_networks[0]: invalid network \"10.0.0.0/8\\x00x\": NUL character");
	/* two aliases of one setting */
	load_fail("[[server]]\ntype = \"imap\"\naddr = \":143\"\nidle_timeout = \"40m\"\ntimeouts.command_timeout = \"50m\"\n",
		  "test.toml:5: server[0].timeouts.command_timeout: conflicts with server[0].idle_timeout (line 4)");
	load_fail("[servers.imap]\naddr = \":143\"\nproxy_protocol_timeout = \"1s\"\n[servers.imap.proxy_protocol]\ntimeout = \"2s\"\n",
		  "test.toml:5: servers.imap.proxy_protocol.timeout: conflicts with servers.imap.proxy_protocol_timeout (line 3)");
}

static void test_http_validation(void **state)
{
	struct config *cfg;

	(void)state;
	load_fail("[[server]]\ntype = \"http_admin_api\"\naddr = \":8080\"\n",
		  "test.toml:1: server[0].api_key: required for http_admin_api servers");
	load_fail("[[server]]\ntype = \"http_admin_api\"\naddr = \":8080\"\napi_key = \"sh0rtK3y\"\n",
		  "test.toml:4: server[0].api_key: must be at least 16 characters long");
	assert_no_diag("sh0rtK3y");
	load_fail("[[server]]\ntype = \"http_admin_api\"\naddr = \":8080\"\napi_key = \"your-secret-api-key-here\"\n",
		  "test.toml:4: server[0].api_key: is the example placeholder");
	/* metrics: optional key and allow-list */
	cfg = load_ok("[[server]]\ntype = \"metrics\"\naddr = \":9090\"\npath = \"/m\"\nallowed_hosts = [\"10.0.0.0/8\"]\n");
	assert_string_equal(cfg->servers[0].http_path, "/m");
	assert_null(cfg->servers[0].api_key);
	config_free(&cfg);
}

static void test_duplicates(void **state)
{
	struct config *cfg;

	(void)state;
	load_fail("[[server]]\ntype = \"imap\"\naddr = \":143\"\n[[server]]\ntype = \"imap\"\naddr = \":144\"\n",
		  "test.toml:4: server[1].name: duplicate server name \"imap\" (also used at line 1");
	load_fail("[servers.imap]\naddr = \":143\"\n[[server]]\ntype = \"pop3\"\nname = \"imap\"\naddr = \":110\"\n",
		  "test.toml:5: server[0].name: duplicate server name \"imap\" (also used at line 1");
	load_fail("[servers.imap]\naddr = \":143\"\n[servers.pop3]\naddr = \":143\"\n",
		  "test.toml:4: servers.pop3.addr: \":143\" is already used by server \"imap\" (line 2)");
	load_fail("[servers.imap]\naddr = \"0.0.0.0:143\"\n[servers.pop3]\naddr = \"127.0.0.1:143\"\n",
		  "servers.pop3.addr: \"127.0.0.1:143\" is already used by server \"imap\"");
	load_fail("[servers.imap]\naddr = \"[::]:143\"\n[servers.pop3]\naddr = \"127.0.0.1:143\"\n",
		  "is already used by server \"imap\"");
	load_fail("[servers.imap]\naddr = \"LOCALHOST:143\"\n[servers.pop3]\naddr = \"localhost:143\"\n",
		  "is already used by server \"imap\"");
	load_fail("[servers.imap]\naddr = \"[::1]:143\"\n[servers.pop3]\naddr = \"[0::1]:143\"\n",
		  "is already used by server \"imap\"");
	/* these can coexist */
	cfg = load_ok("[servers.imap]\naddr = \"127.0.0.1:143\"\n[servers.pop3]\naddr = \"127.0.0.2:143\"\n"
		      "[servers.lmtp]\naddr = \"0.0.0.0:24\"\n[servers.managesieve]\naddr = \"[::1]:24\"\n"
		      "[servers.metrics]\naddr = \":25\"\n");
	assert_int_equal(cfg->server_count, 5);
	config_free(&cfg);
}

static void test_all_problems_reported(void **state)
{
	(void)state;
	load_fail("[servers.imap]\n"                      /* 1 */
		  "addr = \":99999\"\n"                   /* 2 */
		  "tls = true\n"                          /* 3 */
		  "idle_timeout = \"forever\"\n"          /* 4 */
		  "master_username = \"admin\"\n"         /* 5 */
		  "bogus = 1\n"                           /* 6 */
		  "[s3]\n"                                /* 7 */
		  "encrypt = true\n"                      /* 8 */
		  "encryption_key = \"abc\"\n"            /* 9 */
		  "[runtime]\n"                           /* 10 */
		  "worker_threads = \"many\"\n",          /* 11 */
		  "test.toml:2: servers.imap.addr: \":99999\": port 99999 out of range (1-65535)\n"
		  "test.toml:3: servers.imap.tls_cert_file: required when tls = true\n"
		  "test.toml:3: servers.imap.tls_key_file: required when tls = true\n"
		  "test.toml:4: servers.imap.idle_timeout: invalid duration \"forever\"");
	assert_diag("test.toml:5: servers.imap.master_password: missing: master_username is set");
	assert_diag("warning: test.toml:6: servers.imap.bogus: unknown key\n");
	assert_diag("test.toml:9: s3.encryption_key: must be exactly 64 hex characters");
	assert_diag("test.toml:11: runtime.worker_threads: expected an integer, got a string\n");
	assert_int_equal(diag_lines(), 8);
}

static void test_unknown_keys(void **state)
{
	static const char text[] =
		"[servers.imap]\n"
		"addr = \":143\"\n"
		"foo = 1\n"
		"type = \"imap\"\n"
		"[servers.imap.auth_rate_limit]\n"
		"max_attempts_per_ip_username = 5\n"
		"cache_cleanup_interval = \"1m\"\n"
		"[servers]\n"
		"bar = true\n"
		"[[server]]\n"
		"type = \"pop3\"\n"
		"addr = \":110\"\n"
		"limits.nope = 1\n"
		"\"we\\u000Aird\" = 2\n"
		"[tls]\n"
		"enabled = false\n";
	struct config *cfg;

	(void)state;
	assert_int_equal(load_text(text, false, &cfg), 0);
	assert_string_equal(diag_str(),
			    "warning: test.toml:3: servers.imap.foo: unknown key\n"
			    "warning: test.toml:4: servers.imap.type: unknown key\n"
			    "warning: test.toml:6: servers.imap.auth_rate_limit.max_attempts_per_ip_username: unknown key\n"
			    "warning: test.toml:9: servers.bar: unknown key\n"
			    "warning: test.toml:13: server[0].limits.nope: unknown key\n"
			    "warning: test.toml:14: server[0].\"we\\u000aird\": unknown key\n"
			    "warning: test.toml:15: tls: unknown key\n");
	config_free(&cfg);

	assert_int_equal(load_text(text, true, &cfg), -1);
	assert_string_equal(diag_str(),
			    "test.toml:3: servers.imap.foo: unknown key\n"
			    "test.toml:4: servers.imap.type: unknown key\n"
			    "test.toml:6: servers.imap.auth_rate_limit.max_attempts_per_ip_username: unknown key\n"
			    "test.toml:9: servers.bar: unknown key\n"
			    "test.toml:13: server[0].limits.nope: unknown key\n"
			    "test.toml:14: server[0].\"we\\u000aird\": unknown key\n"
			    "test.toml:15: tls: unknown key\n");
	/* strict with nothing unknown */
	assert_int_equal(load_text("[servers.imap]\naddr = \":143\"\n", true, &cfg), 0);
	config_free(&cfg);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	load_fail("[servers.imap]\naddr = :143\n", "test.toml:2:8: invalid value (strings must be quoted)\n");
	assert_int_equal(diag_lines(), 1);
	load_fail("[servers.imap]\naddr = \":143\"\naddr = \":144\"\n", "test.toml:3:1: key addr is already defined\n");
	load_fail("a = \"\xff\"", "test.toml:1:6: invalid UTF-8\n");
	load_fail("[servers.imap]\n  tls = true true\n", "test.toml:2:14: expected the end of the line after a value\n");
}

static void test_secrets_never_shown(void **state)
{
	static const char *const configs[] = {
		/* syntax errors on the secret's line */
		"[servers.imap]\naddr = \":143\"\nmaster_password = \"S3CR3T-a\" x\n",
		"[servers.imap]\naddr = \":143\"\nmaster_password = S3CR3T-b\n",
		"[servers.imap]\naddr = \":143\"\nmaster_password = \"S3CR3T-c\\q\"\n",
		"[s3]\nsecret_key = '''S3CR3T-d\n",
		/* wrong types and values */
		"[servers.imap]\naddr = \":143\"\nmaster_password = [\"S3CR3T-e\"]\n",
		"[servers.imap]\naddr = \":143\"\nmaster_sasl_password = \"S3CR3T-f\"\n",
		"[s3]\nsecret_key = \"S3CR3T-g\"\n",
		"[s3]\nencrypt = true\nencryption_key = \"S3CR3T-h\"\n",
		"[s3]\nencrypt = true\nencryption_key = \"S3CR3T-i\\u0000\"\n",
		"[[server]]\ntype = \"http_admin_api\"\naddr = \":1\"\napi_key = \"S3CR3T-j\"\n",
		"[[server]]\ntype = \"http_admin_api\"\naddr = \":1\"\napi_key = 5\n[x]\ny = \"S3CR3T-k\"\n",
		"[database.write]\npassword = \"S3CR3T-l\"\nbogus = 1\n[storage]\ndriver = \"s3\"\n",
		"[servers.imap]\naddr = \":143\"\nmaster_password = \"S3CR3T-m\"\nmaster_password = \"S3CR3T-n\"\n",
		"[servers.imap]\naddr = \":143\"\nmaster_username = \"u\"\nmaster_password = \"S3CR3T-o\"\ntls = 1\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		struct config *cfg;

		if (load_text(configs[i], true, &cfg) == 0) {
			config_free(&cfg);
			fail_msg("accepted: %s", configs[i]);
		}
		assert_true(diag.len > 0);
		assert_no_diag("S3CR3T");
	}
}

static void test_server_type_names(void **state)
{
	enum server_type t;

	(void)state;
	for (int i = 0; i < SERVER_TYPE_COUNT; i++) {
		assert_int_equal(server_type_parse(server_type_name((enum server_type)i), &t), 0);
		assert_int_equal(t, i);
	}
	assert_string_equal(server_type_name(SERVER_IMAP), "imap");
	assert_string_equal(server_type_name(SERVER_MANAGESIEVE_PROXY), "managesieve_proxy");
	assert_string_equal(server_type_name(SERVER_HTTP_ADMIN_API), "http_admin_api");
	assert_string_equal(server_type_name(SERVER_METRICS), "metrics");
	assert_string_equal(server_type_name(SERVER_TYPE_COUNT), "unknown");
	assert_int_equal(server_type_parse("http_api", &t), 0);
	assert_int_equal(t, SERVER_HTTP_ADMIN_API);
	assert_int_equal(server_type_parse("IMAP", &t), -1);
	assert_int_equal(server_type_parse("", &t), -1);
	assert_int_equal(server_type_parse("user_api_proxy", &t), -1);
}

static void test_load_file(void **state)
{
	char path[128], *text;
	struct config *cfg = NULL;
	struct buf d;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/sora.toml", dir);
	text = subst(seed_tls);
	assert_int_equal(write_file(path, text), 0);
	free(text);
	buf_init(&d, 0);
	assert_int_equal(config_load(path, true, &cfg, &d), 0);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->servers[0].file, path);
	config_free(&cfg);
	config_free(&cfg); /* NULL is fine */
	config_free(NULL);

	assert_int_equal(write_file(path, "[servers.imap]\naddr = \":0\"\n"), 0);
	assert_int_equal(config_load(path, false, &cfg, &d), -1);
	assert_non_null(strstr(d.data, ":2: servers.imap.addr: \":0\": port 0 out of range"));
	assert_true(strncmp(d.data, path, strlen(path)) == 0);
	buf_clear(&d);

	(void)snprintf(path, sizeof(path), "%s/nonexistent.toml", dir);
	assert_int_equal(config_load(path, false, &cfg, &d), -1);
	assert_non_null(strstr(d.data, "nonexistent.toml: cannot read: No such file or directory"));
	buf_clear(&d);
	assert_int_equal(config_load(dir, false, &cfg, &d), -1);
	assert_non_null(strstr(d.data, ": not a regular file"));
	buf_free(&d);
	/* a NULL diagnostics buffer is allowed */
	assert_int_equal(config_load_string("x", "a = ", 4, false, &cfg, NULL), -1);
	assert_int_equal(config_load_string("x", "[s3]\nencrypt = true\n", 17, false, &cfg, NULL), -1);
}

static void test_imap_idle_warning(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("[[server]]\ntype = \"imap\"\naddr = \":143\"\ntimeouts.command_timeout = \"5m\"\n");
	assert_int_equal(cfg->servers[0].idle_timeout_ms, 5 * 60 * 1000);
	assert_diag("warning: test.toml:4: server[0].timeouts.command_timeout: below the 30 minutes RFC 9051 asks for");
	config_free(&cfg);
	cfg = load_ok("[servers.imap]\naddr = \":143\"\ncommand_timeout = \"31m\"\nabsolute_session_timeout = \"2h\"\n");
	assert_int_equal(cfg->servers[0].idle_timeout_ms, 31 * 60 * 1000);
	assert_int_equal(cfg->servers[0].absolute_session_timeout_ms, 2 * 3600 * 1000);
	assert_string_equal(diag_str(), "");
	config_free(&cfg);
}

static void test_many_diagnostics_capped(void **state)
{
	struct buf b;
	struct config *cfg;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_printf(&b, "[servers.imap]\naddr = \":143\"\n"), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(buf_printf(&b, "unknown%d = %d\n", i, i), 0);
	buf_clear(&diag);
	assert_int_equal(config_load_string("big.toml", b.data, b.len, true, &cfg, &diag), -1);
	assert_int_equal(diag_lines(), 201);
	assert_diag("big.toml: 100 more problems not shown\n");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_tls_snippet),
		cmocka_unit_test(test_seed_rate_limit_snippet),
		cmocka_unit_test(test_seed_proxy_snippet),
		cmocka_unit_test(test_seed_s3_snippet),
		cmocka_unit_test(test_seed_all_snippets_together),
		cmocka_unit_test(test_head_form),
		cmocka_unit_test(test_head_proxy_trust),
		cmocka_unit_test(test_head_type_errors),
		cmocka_unit_test(test_head_inline_array),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_global_sections),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_tls_validation),
		cmocka_unit_test(test_master_validation),
		cmocka_unit_test(test_value_validation),
		cmocka_unit_test(test_http_validation),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_all_problems_reported),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_secrets_never_shown),
		cmocka_unit_test(test_server_type_names),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_imap_idle_warning),
		cmocka_unit_test(test_many_diagnostics_capped),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
