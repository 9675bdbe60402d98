#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../deliver/cleanup.h"
#include "../deliver/deliver.h"
#include "../deliver/storage.h"
#include "../imap/imap-client.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "../lmtp/lmtp-client.h"
#include "../relay/relay.h"
#include "../managesieve/managesieve.h"
#include "../pop3/pop3-client.h"
#include "../net/listener.h"
#include "../net/loop.h"
#include "../net/tls.h"
#include "../net/worker.h"
#include "../store/store.h"

#define SHUTDOWN_POLL_MS 50

struct server_instance {
	const struct config_server *cfg;
	struct auth *auth;
	struct tls_server *tls;
	struct listener *listener;
	void *proto_ctx;
	void (*proto_free)(void *ctx);
};

struct loop_thread {
	struct server *srv;
	struct loop *loop;
	pthread_t thread;
	struct timer shutdown_timer;
	uint64_t shutdown_deadline;
};

struct server {
	const struct config *cfg;
	char hostname[256];
	struct server_instance *instances;
	size_t instance_count;
	struct loop_thread *loops;
	unsigned loop_count;
	struct worker_pool *workers;
	struct worker_pool *login_workers; /* password hashing, niced */
	struct mail_services ms; /* store, blob store, workers */
	struct cleanup_worker *cleanup; /* [cleanup] pass every wake_interval */
};

static void imap_ctx_free(void *ctx)
{
	struct imap_server *s = ctx;

	imap_server_free(&s);
}

static void pop3_ctx_free(void *ctx)
{
	struct pop3_server *s = ctx;

	pop3_server_free(&s);
}

static void msieve_ctx_free(void *ctx)
{
	struct msieve_server *s = ctx;

	msieve_server_free(&s);
}

/* [sieve] enabled_extensions must name extensions the engine has. */
static const char *sieve_extensions_check(const struct config *cfg)
{
	static _Thread_local char msg[160];
	const char **ext = cfg->sieve.enabled_extensions;

	for (size_t i = 0; ext != NULL && ext[i] != NULL; i++) {
		if (!sieve_extension_known(ext[i])) {
			snprintf(msg, sizeof(msg), "[sieve] enabled_extensions: unknown extension "
				 "\"%.64s\"", ext[i]);
			return msg;
		}
	}
	if (cfg->sieve.max_script_size == 0 || cfg->sieve.max_script_size > STORE_SIEVE_SCRIPT_MAX)
		return "[sieve] max_script_size: must be between 1 and 1mb";
	return NULL;
}

static void lmtp_ctx_free(void *ctx)
{
	struct lmtp_server *s = ctx;

	lmtp_server_free(&s);
}

static const char *server_error(const struct config_server *sc, const char *what)
{
	static _Thread_local char msg[640];

	snprintf(msg, sizeof(msg), "%s:%u: server %s (%s): %s", sc->file != NULL ? sc->file : "?",
		 sc->line, sc->name, server_type_name(sc->type), what);
	return msg;
}

static int instance_init(struct server *srv, struct server_instance *inst,
			 const struct config_server *sc, const char **error_r)
{
	const struct proto_ops *ops;
	bool starttls = sc->tls && sc->tls_use_starttls;
	const char *error;
	struct listener_settings ls;

	inst->cfg = sc;
	switch (sc->type) {
	case SERVER_IMAP:
		ops = &imap_proto_ops;
		inst->auth = auth_new(srv->ms.store, &(struct auth_settings){
			.server = sc, .rehash = srv->cfg->auth.rehash_on_login,
			.pool = srv->login_workers });
		inst->proto_ctx = imap_server_new(sc, starttls, srv->hostname, inst->auth,
						  srv->workers, &srv->ms);
		inst->proto_free = imap_ctx_free;
		break;
	case SERVER_POP3:
		ops = &pop3_proto_ops;
		inst->auth = auth_new(srv->ms.store, &(struct auth_settings){
			.server = sc, .rehash = srv->cfg->auth.rehash_on_login,
			.pool = srv->login_workers });
		inst->proto_ctx = pop3_server_new(sc, starttls, srv->hostname, inst->auth, &srv->ms);
		inst->proto_free = pop3_ctx_free;
		break;
	case SERVER_MANAGESIEVE: {
		const char *problem = sieve_extensions_check(srv->cfg);

		if (problem != NULL) {
			*error_r = server_error(sc, problem);
			return -1;
		}
		ops = &msieve_proto_ops;
		inst->auth = auth_new(srv->ms.store, &(struct auth_settings){
			.server = sc, .rehash = srv->cfg->auth.rehash_on_login,
			.pool = srv->login_workers });
		inst->proto_ctx = msieve_server_new(
			sc, starttls, inst->auth, &srv->ms,
			&(struct msieve_settings){
				.extensions = (const char *const *)srv->cfg->sieve.enabled_extensions,
				.max_script_size = srv->cfg->sieve.max_script_size,
				.max_scripts = srv->cfg->sieve.max_scripts,
			});
		inst->proto_free = msieve_ctx_free;
		break;
	}
	case SERVER_LMTP:
		ops = &lmtp_proto_ops;
		inst->proto_ctx = lmtp_server_new(sc, starttls, srv->hostname,
						  &srv->cfg->trusted_networks, &srv->ms);
		inst->proto_free = lmtp_ctx_free;
		break;
	default:
		/* refuse rather than silently not listen where the operator
		   expects a service */
		*error_r = server_error(sc, "this server type is not implemented in this build "
					    "(see README, Feature status)");
		return -1;
	}
	if (sc->tls) {
		struct tls_server_settings ts = {
			.cert_file = sc->tls_cert_file,
			.key_file = sc->tls_key_file,
			.client_ca_file = sc->tls_client_ca_file,
			.verify_client = sc->tls_verify,
			.alpn = sc->type == SERVER_IMAP ? "imap"
				: sc->type == SERVER_POP3 ? "pop3"
				: sc->type == SERVER_MANAGESIEVE ? "sieve"
				: "lmtp",
			.session_id_context = sc->name,
		};

		inst->tls = tls_server_new(&ts, &error);
		if (inst->tls == NULL) {
			*error_r = server_error(sc, error);
			return -1;
		}
	}
	ls = (struct listener_settings){
		.name = sc->name,
		.addr = sc->addr,
		.max_connections = sc->max_connections,
		.max_connections_per_ip = sc->max_connections_per_ip,
		.trusted_proxies = &sc->trusted_proxies,
		.conn = {
			.ops = ops,
			.server_ctx = inst->proto_ctx,
			.tls = inst->tls,
			.implicit_tls = sc->tls && !sc->tls_use_starttls,
			.proxy_protocol = sc->proxy_protocol,
			.proxy_timeout_ms = sc->proxy_protocol_timeout_ms,
			.tls_handshake_timeout_ms = sc->tls_handshake_timeout_ms,
		},
	};
	inst->listener = listener_new(&ls, &error);
	if (inst->listener == NULL) {
		*error_r = server_error(sc, error);
		return -1;
	}
	log_info(NULL, "listen", "server=%s type=%s addr=%s port=%u tls=%s proxy_protocol=%s",
		 log_str(sc->name), server_type_name(sc->type), log_str(sc->addr),
		 listener_port(inst->listener),
		 !sc->tls ? "off" : sc->tls_use_starttls ? "starttls" : "implicit",
		 sc->proxy_protocol ? "on" : "off");
	return 0;
}

/* The stores, for logins and deliveries. A database or bucket that cannot
   be opened stops the start-up: serving without them would only refuse
   everyone. */
static int server_open_stores(struct server *srv, const char **error_r)
{
	static _Thread_local char msg[768];

	srv->ms.workers = srv->workers;
	if (mail_services_open(srv->cfg, &srv->ms, msg, sizeof(msg)) < 0) {
		*error_r = msg;
		return -1;
	}
	log_info(NULL, "store.open", "driver=%s path=%s storage=%s",
		 store_driver_name(srv->ms.store), log_str(srv->cfg->database.path),
		 log_str(srv->cfg->storage.driver != NULL ? srv->cfg->storage.driver : "fs"));
	/* Sieve redirects and vacation replies leave through [relay] */
	if (srv->ms.relay != NULL && relay_queue_start(srv->ms.relay) < 0) {
		*error_r = "cannot start the relay queue worker";
		return -1;
	}
	return 0;
}

static unsigned cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)MIN(n, 64L);
}

/* SIGTERM, SIGINT and SIGHUP are taken by server_run()'s sigwaitinfo()
   only. They must be blocked before the first thread is created, since
   threads inherit the mask: a signal that lands on a worker or loop
   thread with the default action would kill the process. */
static void server_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

struct server *server_new(const struct config *cfg, const char **error_r)
{
	struct server *srv = xcalloc(1, sizeof(*srv));
	sigset_t set;

	server_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	unsigned loops = cfg->runtime.event_loops != 0 ? cfg->runtime.event_loops : cpu_count();
	unsigned workers = cfg->runtime.worker_threads != 0 ? cfg->runtime.worker_threads
							     : 2 * cpu_count();

	srv->cfg = cfg;
	if (gethostname(srv->hostname, sizeof(srv->hostname) - 1) != 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
	srv->workers = worker_pool_new(workers);
	/* one hashing thread per core: bcrypt is CPU-bound, more threads would
	   not log in faster; niced so that sessions' commands come first */
	srv->login_workers = worker_pool_new_niced(cpu_count(), 5);
	if (server_open_stores(srv, error_r) < 0) {
		server_free(&srv);
		return NULL;
	}
	srv->instances = xcalloc(cfg->server_count, sizeof(*srv->instances));
	for (size_t i = 0; i < cfg->server_count; i++) {
		const struct config_server *sc = &cfg->servers[i];

		srv->instance_count = i + 1;
		if (sc->hostname != NULL)
			snprintf(srv->hostname, sizeof(srv->hostname), "%s", sc->hostname);
		if (instance_init(srv, &srv->instances[i], sc, error_r) < 0) {
			server_free(&srv);
			return NULL;
		}
	}
	if (srv->instance_count == 0) {
		*error_r = "no servers configured";
		server_free(&srv);
		return NULL;
	}
	srv->loop_count = MIN(loops, 64u);
	srv->loops = xcalloc(srv->loop_count, sizeof(*srv->loops));
	for (unsigned i = 0; i < srv->loop_count; i++) {
		srv->loops[i].srv = srv;
		srv->loops[i].loop = loop_new(i);
		for (size_t j = 0; j < srv->instance_count; j++)
			REQUIRE(listener_attach(srv->instances[j].listener, srv->loops[i].loop) == 0);
	}
	return srv;
}

void server_free(struct server **sp)
{
	struct server *srv = *sp;

	if (srv == NULL)
		return;
	worker_pool_free(&srv->login_workers);
	worker_pool_free(&srv->workers);
	for (unsigned i = 0; i < srv->loop_count; i++)
		loop_free(&srv->loops[i].loop);
	free(srv->loops);
	for (size_t i = 0; i < srv->instance_count; i++) {
		struct server_instance *inst = &srv->instances[i];

		listener_free(&inst->listener);
		tls_server_free(&inst->tls);
		if (inst->proto_ctx != NULL)
			inst->proto_free(inst->proto_ctx);
		auth_free(&inst->auth);
	}
	free(srv->instances);
	cleanup_worker_stop(&srv->cleanup);
	mail_services_close(&srv->ms);
	free(srv);
	*sp = NULL;
}

static void *loop_thread_main(void *ctx)
{
	struct loop_thread *lt = ctx;

	if (loop_run(lt->loop) < 0)
		log_error(NULL, "loop.fail", "loop=%u error=%s", loop_id(lt->loop),
			  log_str(strerror(errno)));
	return NULL;
}

/* --- graceful shutdown, on each loop's own thread --- */

static void shutdown_check(struct timer *t)
{
	struct loop_thread *lt = t->ctx;

	if (conn_count_loop(lt->loop) == 0) {
		loop_stop(lt->loop);
		return;
	}
	if (loop_now(lt->loop) >= lt->shutdown_deadline) {
		log_warn(NULL, "shutdown.forced", "loop=%u connections=%u", loop_id(lt->loop),
			 conn_count_loop(lt->loop));
		conn_abort_loop(lt->loop);
		lt->shutdown_deadline = UINT64_MAX;
	}
	loop_timer_start(lt->loop, t, SHUTDOWN_POLL_MS);
}

static void shutdown_on_loop(void *ctx)
{
	struct loop_thread *lt = ctx;
	struct server *srv = lt->srv;

	for (size_t i = 0; i < srv->instance_count; i++)
		listener_detach(srv->instances[i].listener, lt->loop);
	conn_shutdown_loop(lt->loop);
	lt->shutdown_deadline = loop_now(lt->loop) + srv->cfg->runtime.shutdown_timeout_ms;
	timer_init(&lt->shutdown_timer, shutdown_check, lt);
	loop_timer_start(lt->loop, &lt->shutdown_timer, 0);
}

static void reload_certificates(struct server *srv)
{
	for (size_t i = 0; i < srv->instance_count; i++) {
		struct server_instance *inst = &srv->instances[i];
		const char *error;

		if (inst->tls == NULL)
			continue;
		if (tls_server_reload(inst->tls, &error) < 0)
			log_error(NULL, "tls.reload.fail", "server=%s error=%s",
				  log_str(inst->cfg->name), log_str(error));
		else
			log_info(NULL, "tls.reload", "server=%s", log_str(inst->cfg->name));
	}
}

int server_run(struct server *srv)
{
	sigset_t set;
	bool stopping = false;

	server_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* already, since server_new() */
	for (unsigned i = 0; i < srv->loop_count; i++) {
		if (pthread_create(&srv->loops[i].thread, NULL, loop_thread_main,
				   &srv->loops[i]) != 0)
			util_require_failed(__FILE__, __LINE__, "pthread_create");
	}
	{
		char err[512];

		/* background storage work: the uploader drains staged bodies
		   (also those left by a previous run), cleanup purges */
		if (storage_start(&srv->ms, err, sizeof(err)) < 0)
			log_error(NULL, "uploader.fail", "reason=%s", log_str(err));
		srv->cleanup = cleanup_worker_start(&srv->ms, srv->cfg->cleanup.grace_period_ms,
						    srv->cfg->cleanup.wake_interval_ms);
		if (srv->cleanup == NULL)
			log_error(NULL, "cleanup.fail", "reason=%s", "cannot start the thread");
	}
	log_info(NULL, "started", "version=%s loops=%u servers=%zu", SORA_VERSION,
		 srv->loop_count, srv->instance_count);
	while (!stopping) {
		int sig = sigwaitinfo(&set, NULL);

		if (sig == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (sig == SIGHUP) {
			reload_certificates(srv);
			continue;
		}
		log_info(NULL, "shutdown", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
		stopping = true;
	}
	for (unsigned i = 0; i < srv->loop_count; i++)
		loop_post(srv->loops[i].loop, shutdown_on_loop, &srv->loops[i]);
	for (unsigned i = 0; i < srv->loop_count; i++)
		pthread_join(srv->loops[i].thread, NULL);
	cleanup_worker_stop(&srv->cleanup);
	storage_stop(&srv->ms);
	log_info(NULL, "stopped", "version=%s", SORA_VERSION);
	return 0;
}
