/* The authenticated ManageSieve commands (RFC 5804 §2.3-2.12): each one
   is a job on the worker pool that runs managesieve-scripts.h and writes
   the whole reply into its buffer; the completion sends it. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/util.h"
#include "../net/worker.h"
#include "../store/store.h"
#include "managesieve-private.h"

enum msieve_op {
	OP_LIST,
	OP_GET,
	OP_PUT,
	OP_CHECK,
	OP_HAVESPACE,
	OP_RENAME,
	OP_SETACTIVE,
	OP_DELETE,
	OP_COUNT
};

static const char *const op_names[] = { "listscripts", "getscript", "putscript", "checkscript",
					"havespace", "renamescript", "setactive", "deletescript" };
static_assert(ARRAY_SIZE(op_names) == OP_COUNT, "op_names out of sync");

struct msieve_job {
	struct conn *conn;
	const struct msieve_server *srv;
	enum msieve_op op;
	int64_t account_id;
	char *name, *name2; /* malloc */
	char *text;         /* script (malloc) */
	size_t text_len;
	uint64_t size;
	char sid[32];
	struct buf out;     /* the reply */
	char log_error[sizeof(((struct msieve_result *)0)->text)];
};

/* The reply for a finished operation; TEMPFAIL keeps its cause for the log. */
static void put_result(struct msieve_job *job, const struct msieve_result *r, const char *ok_text)
{
	char msg[96];

	switch (r->status) {
	case MSIEVE_OK:
		msieve_put_response(&job->out, "OK", NULL, ok_text);
		break;
	case MSIEVE_NO:
		msieve_put_response(&job->out, "NO", r->code, r->text);
		break;
	case MSIEVE_TEMPFAIL:
		snprintf(job->log_error, sizeof(job->log_error), "%s", r->text);
		snprintf(msg, sizeof(msg), "Internal error, session %s", job->sid);
		msieve_put_response(&job->out, "NO", "TRYLATER", msg);
		break;
	}
}

static void run_list(struct msieve_job *job, struct store *st)
{
	struct arena *a = arena_new(4096);
	struct store_sieve_script *list = NULL;
	struct msieve_result r;
	size_t count = 0;

	msieve_script_list(st, job->account_id, a, &list, &count, &r);
	if (r.status == MSIEVE_OK) {
		for (size_t i = 0; i < count; i++) {
			msieve_put_string(&job->out, list[i].name, strlen(list[i].name));
			(void)buf_append_str(&job->out, list[i].is_active ? " ACTIVE\r\n" : "\r\n");
		}
	}
	put_result(job, &r, "Listscripts completed.");
	arena_free(&a);
}

static void run_get(struct msieve_job *job, struct store *st)
{
	struct arena *a = arena_new(4096);
	const char *content = NULL;
	struct msieve_result r;

	msieve_script_get(st, job->account_id, job->name, a, &content, &r);
	if (r.status == MSIEVE_OK) {
		/* RFC 5804 §2.9: always a literal, then CRLF, then OK */
		(void)buf_printf(&job->out, "{%zu}\r\n", strlen(content));
		(void)buf_append(&job->out, content, strlen(content));
		(void)buf_append_str(&job->out, "\r\n");
	}
	put_result(job, &r, "Getscript completed.");
	arena_free(&a);
}

static void job_run(void *arg)
{
	struct msieve_job *job = arg;
	const struct msieve_server *srv = job->srv;
	struct store *st = srv->ms.store;
	struct msieve_result r;

	switch (job->op) {
	case OP_LIST:
		run_list(job, st);
		return;
	case OP_GET:
		run_get(job, st);
		return;
	case OP_PUT:
		msieve_script_put(st, job->account_id, &srv->set, job->name, job->text,
				  job->text_len, &r);
		put_result(job, &r, "Putscript completed.");
		return;
	case OP_CHECK:
		msieve_script_check(&srv->set, job->text, job->text_len, &r);
		put_result(job, &r, "Script is valid.");
		return;
	case OP_HAVESPACE:
		msieve_script_havespace(st, job->account_id, &srv->set, job->name, job->size, &r);
		put_result(job, &r, "Putscript would succeed.");
		return;
	case OP_RENAME:
		msieve_script_rename(st, job->account_id, job->name, job->name2, &r);
		put_result(job, &r, "Renamescript completed.");
		return;
	case OP_SETACTIVE:
		msieve_script_activate(st, job->account_id, job->name, &r);
		put_result(job, &r, "Setactive completed.");
		return;
	case OP_DELETE:
		msieve_script_delete(st, job->account_id, job->name, &r);
		put_result(job, &r, "Deletescript completed.");
		return;
	case OP_COUNT:
		break;
	}
}

static void job_free(struct msieve_job *job)
{
	free(job->name);
	free(job->name2);
	free(job->text);
	buf_free(&job->out);
	free(job);
}

static void job_done(void *arg)
{
	struct msieve_job *job = arg;
	struct conn *c = job->conn;
	struct msieve_client *mc = conn_session(c);

	if (mc != NULL && !conn_is_closing(c)) {
		if (job->log_error[0] != '\0')
			log_error(conn_log(c), "store.fail", "op=%s err=%s", op_names[job->op],
				  log_str(job->log_error));
		(void)conn_send(c, job->out.data, job->out.len);
		msieve_resume(mc);
	}
	conn_job_end(c);
	job_free(job);
}

static struct msieve_job *job_new(struct msieve_client *mc, enum msieve_op op)
{
	struct msieve_job *job = xcalloc(1, sizeof(*job));

	job->conn = mc->conn;
	job->srv = mc->srv;
	job->op = op;
	job->account_id = mc->account_id;
	snprintf(job->sid, sizeof(job->sid), "%s", conn_log(mc->conn)->sid);
	buf_init(&job->out, 0);
	return job;
}

static void job_submit(struct msieve_client *mc, struct msieve_job *job)
{
	if (mc->srv->ms.store == NULL || mc->srv->ms.workers == NULL) {
		msieve_send_response(mc, "NO", "TRYLATER", "Script storage is not available");
		job_free(job);
		return;
	}
	msieve_busy(mc);
	conn_job_begin(mc->conn);
	worker_submit(mc->srv->ms.workers, conn_loop(mc->conn), job_run, job_done, job);
}

/* A script name argument, checked here with its real length (a NUL in a
   literal would otherwise cut it short). NULL after a NO. */
static char *name_arg(struct msieve_client *mc, const struct msieve_cmd *cmd, size_t i,
		      bool empty_ok)
{
	const struct msieve_arg *arg = &cmd->args[i];
	const char *why;

	if (empty_ok && arg->len == 0)
		return xstrdup("");
	if (!msieve_name_valid(arg->str, arg->len, &why)) {
		msieve_client_error(mc, NULL, why);
		return NULL;
	}
	return xstrndup(arg->str, arg->len);
}

static bool want_args(struct msieve_client *mc, const struct msieve_cmd *cmd, size_t n,
		      const char *usage)
{
	/* RFC 5804 wants strings; atoms are taken too, as Pigeonhole does */
	if (cmd->count == n)
		return true;
	msieve_client_error(mc, NULL, usage);
	return false;
}

void msieve_cmd_listscripts(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	if (want_args(mc, cmd, 0, "Syntax: LISTSCRIPTS"))
		job_submit(mc, job_new(mc, OP_LIST));
}

static void name_op(struct msieve_client *mc, struct msieve_cmd *cmd, enum msieve_op op,
		    const char *usage, bool empty_ok)
{
	struct msieve_job *job;
	char *name;

	if (!want_args(mc, cmd, 1, usage))
		return;
	name = name_arg(mc, cmd, 0, empty_ok);
	if (name == NULL)
		return;
	job = job_new(mc, op);
	job->name = name;
	job_submit(mc, job);
}

void msieve_cmd_getscript(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	name_op(mc, cmd, OP_GET, "Syntax: GETSCRIPT <name>", false);
}

void msieve_cmd_setactive(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	name_op(mc, cmd, OP_SETACTIVE, "Syntax: SETACTIVE <name>", true);
}

void msieve_cmd_deletescript(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	name_op(mc, cmd, OP_DELETE, "Syntax: DELETESCRIPT <name>", false);
}

static void script_op(struct msieve_client *mc, enum msieve_op op, char *name,
		      const struct msieve_arg *script)
{
	struct msieve_job *job = job_new(mc, op);

	job->name = name;
	job->text = xmalloc(script->len + 1);
	memcpy(job->text, script->str, script->len);
	job->text[script->len] = '\0';
	job->text_len = script->len;
	job_submit(mc, job);
}

void msieve_cmd_putscript(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	char *name;

	if (!want_args(mc, cmd, 2, "Syntax: PUTSCRIPT <name> <script>"))
		return;
	name = name_arg(mc, cmd, 0, false);
	if (name != NULL)
		script_op(mc, OP_PUT, name, &cmd->args[1]);
}

void msieve_cmd_checkscript(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	if (want_args(mc, cmd, 1, "Syntax: CHECKSCRIPT <script>"))
		script_op(mc, OP_CHECK, NULL, &cmd->args[0]);
}

void msieve_cmd_havespace(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	struct msieve_job *job;
	uint64_t size;
	char *name;

	if (!want_args(mc, cmd, 2, "Syntax: HAVESPACE <name> <size>"))
		return;
	if (cmd->args[1].type != MSIEVE_ARG_ATOM ||
	    str_to_u64(slice_from(cmd->args[1].str, cmd->args[1].len), &size) < 0) {
		msieve_client_error(mc, NULL, "HAVESPACE: the size must be a number");
		return;
	}
	name = name_arg(mc, cmd, 0, false);
	if (name == NULL)
		return;
	job = job_new(mc, OP_HAVESPACE);
	job->name = name;
	job->size = size;
	job_submit(mc, job);
}

void msieve_cmd_renamescript(struct msieve_client *mc, struct msieve_cmd *cmd)
{
	struct msieve_job *job;
	char *old_name, *new_name;

	if (!want_args(mc, cmd, 2, "Syntax: RENAMESCRIPT <old name> <new name>"))
		return;
	old_name = name_arg(mc, cmd, 0, false);
	if (old_name == NULL)
		return;
	new_name = name_arg(mc, cmd, 1, false);
	if (new_name == NULL) {
		free(old_name);
		return;
	}
	job = job_new(mc, OP_RENAME);
	job->name = old_name;
	job->name2 = new_name;
	job_submit(mc, job);
}
