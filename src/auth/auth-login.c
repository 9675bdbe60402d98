#include "auth-login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "../net/worker.h"

struct auth_login_job {
	struct conn *conn;
	struct auth_login *al; /* valid only while conn_session(conn) != NULL */
	struct auth *auth;
	struct auth_login_hooks hooks;
	char login[AUTH_LOGIN_FIELD_MAX + 1];
	char authzid[AUTH_LOGIN_FIELD_MAX + 1];
	char client_ip[64];
	char *password; /* malloc'ed, wiped */
	size_t password_len;
	struct auth_request req;
	struct auth_result res;
};

void auth_login_init(struct auth_login *al, struct conn *c, auth_login_done_fn *done, void *ctx)
{
	*al = (struct auth_login){ .conn = c, .done = done, .ctx = ctx };
	timer_init(&al->delay, NULL, al);
}

static void job_free(struct auth_login_job *job)
{
	util_wipe(job->password, job->password_len);
	free(job->password);
	if (job->hooks.free_extra != NULL)
		job->hooks.free_extra(job->hooks.extra);
	free(job);
}

static void job_run(void *arg)
{
	struct auth_login_job *job = arg;

	auth_verify(job->auth, &job->req, &job->res);
	/* the password is not needed any more */
	util_wipe(job->password, job->password_len);
	if (job->res.status == AUTH_OK && job->hooks.work != NULL)
		job->hooks.work(&job->res, job->hooks.extra);
}

static void delay_done(struct timer *t)
{
	struct auth_login *al = t->ctx;

	al->busy = false;
	al->done(al, &al->pending, NULL);
}

static void job_done(void *arg)
{
	struct auth_login_job *job = arg;
	struct conn *c = job->conn;

	/* the limiter's store failed and the attempt was refused for it */
	if (job->res.store_error[0] != '\0')
		log_error(conn_log(c), "ratelimit.store.fail", "error=%s",
			  log_str(job->res.store_error));
	if (conn_session(c) != NULL && !conn_is_closing(c)) {
		struct auth_login *al = job->al;

		if (job->res.status == AUTH_FAILED && job->res.delay_ms > 0) {
			/* the same answer as a wrong password, after the delay */
			al->pending = job->res;
			timer_init(&al->delay, delay_done, al);
			loop_timer_start(conn_loop(c), &al->delay, job->res.delay_ms);
		} else {
			al->busy = false;
			al->done(al, &job->res, job->hooks.extra);
		}
	}
	conn_job_end(c);
	job_free(job);
}

void auth_login_submit(struct auth_login *al, struct auth *a, struct worker_pool *workers,
		       const struct auth_login_creds *creds, const struct auth_login_hooks *hooks)
{
	struct auth_login_job *job = xcalloc(1, sizeof(*job));
	struct conn *c = al->conn;

	job->conn = c;
	job->al = al;
	job->auth = a;
	if (hooks != NULL)
		job->hooks = *hooks;
	memcpy(job->login, creds->login, MIN(creds->login_len, (size_t)AUTH_LOGIN_FIELD_MAX));
	snprintf(job->authzid, sizeof(job->authzid), "%s",
		 creds->authzid != NULL ? creds->authzid : "");
	snprintf(job->client_ip, sizeof(job->client_ip), "%s",
		 creds->client_ip != NULL && creds->client_ip[0] != '\0' ? creds->client_ip
									  : conn_peer_str(c));
	job->password = xmalloc(creds->password_len + 1);
	memcpy(job->password, creds->password, creds->password_len);
	job->password[creds->password_len] = '\0';
	job->password_len = creds->password_len;
	job->req = (struct auth_request){
		.login = job->login,
		.authzid = job->authzid,
		.password = job->password,
		.password_len = job->password_len,
		.client_ip = job->client_ip,
		.now_ms = loop_now(conn_loop(c)),
	};
	memcpy(&job->req.socket_peer, conn_socket_peer(c), sizeof(job->req.socket_peer));
	al->busy = true;
	conn_pause_input(c);
	conn_job_begin(c);
	/* hashing goes to the login pool when there is one, so that a storm
	   of logins cannot hold every worker that sessions need */
	worker_submit(auth_pool(a) != NULL ? auth_pool(a) : workers, conn_loop(c), job_run,
		      job_done, job);
}

void auth_login_cleanup(struct auth_login *al)
{
	if (al->conn != NULL && timer_is_armed(&al->delay))
		loop_timer_stop(conn_loop(al->conn), &al->delay);
}
