/* PostgreSQL metadata driver: connection pools, statement cache,
   transactions, error mapping, migrations, the LISTEN thread and the
   vtable. The operations live in store-pg-{account,mailbox,message}.c.

   Durability: COMMIT returns once the server has flushed its WAL
   (synchronous_commit is left to the server's setting, "on" by default),
   so an acknowledged delivery survives a crash of sora and of the server.

   Lost connections: any failure on a connection whose status went bad
   (server restart, network) is STORE_TEMPORARY; the connection is closed
   when it goes back to its pool and the next call that takes it connects
   again. BEGIN is retried once on a fresh connection, since nothing has
   happened yet, so the first call after the server came back succeeds. */

#include "store/store-pg-private.h"
#include "store/store-schema.h"

#include "lib/arena.h"
#include "lib/utf8.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PG_WRITERS_DEFAULT 4
#define PG_READERS_DEFAULT 4
#define PG_CONNS_MAX 256
#define PG_LOCK_TIMEOUT_DEFAULT 5000
#define PG_STMT_SLOTS_INITIAL 64
/* any fixed number, the same on every node: serialises migrations */
#define PG_MIGRATION_LOCK 0x536f72614d696772LL /* "SoraMigr" */

#define PG_BYTEAOID 17
#define PG_INT8OID 20
#define PG_TEXTOID 25

int64_t pg_now(void)
{
	return (int64_t)time(NULL);
}

int pg_not_found(struct store_error *err, const char *what, int64_t id)
{
	store_error_set(err, STORE_NOT_FOUND, "%s %lld not found", what, (long long)id);
	return -1;
}

void pg_u32vec_push(struct arena *arena, struct pg_u32vec *vec, uint32_t x)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap == 0 ? 64 : vec->cap * 2;
		uint32_t *v = arena_alloc(arena, sizeof(*v) * cap);

		if (vec->n > 0)
			memcpy(v, vec->v, sizeof(*v) * vec->n);
		vec->v = v;
		vec->cap = cap;
	}
	vec->v[vec->n++] = x;
}

const char *pg_utf8_clean(struct arena *arena, const char *s, size_t len, size_t *len_r)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;
	size_t i = 0;

	if (utf8_is_valid(s, len) && memchr(s, '\0', len) == NULL) {
		*len_r = len;
		return s;
	}
	out = o = arena_alloc(arena, len * 3 + 1);
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);

		if (n == 0 || cp == 0) {
			memcpy(o, replacement, 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(o, p + i, n);
		o += n;
		i += n;
	}
	*o = '\0';
	*len_r = (size_t)(o - out);
	return out;
}

/* ---- parameters -------------------------------------------------------- */

static int pg_p_next(struct pg_params *p)
{
	REQUIRE(p->n < PG_PARAMS_MAX);
	return p->n++;
}

void pg_p_int(struct pg_params *p, int64_t v)
{
	int i = pg_p_next(p);
	int n = snprintf(p->nums[i], sizeof(p->nums[i]), "%" PRId64, v);

	REQUIRE(n > 0 && (size_t)n < sizeof(p->nums[i]));
	p->types[i] = PG_INT8OID;
	p->values[i] = p->nums[i];
	p->lengths[i] = 0;
	p->formats[i] = 0;
}

void pg_p_bool(struct pg_params *p, bool v)
{
	pg_p_int(p, v ? 1 : 0);
}

void pg_p_array(struct pg_params *p, const struct buf *literal, Oid oid)
{
	int i = pg_p_next(p);

	p->types[i] = oid;
	p->values[i] = literal->data != NULL ? literal->data : "{}";
	p->lengths[i] = 0;
	p->formats[i] = 0;
}

void pg_arr_int(struct buf *b, int64_t v)
{
	(void)buf_printf(b, "%c%" PRId64, b->len == 0 ? '{' : ',', v);
}

/* Elements are always quoted: "" and words like NULL stay text. */
void pg_arr_text(struct buf *b, const char *s)
{
	(void)buf_append_str(b, b->len == 0 ? "{\"" : ",\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			(void)buf_append(b, "\\", 1);
		(void)buf_append(b, s, 1);
	}
	(void)buf_append(b, "\"", 1);
}

void pg_arr_close(struct buf *b)
{
	(void)buf_append_str(b, b->len == 0 ? "{}" : "}");
}

void pg_p_textn(struct pg_params *p, const char *s, size_t len)
{
	int i = pg_p_next(p);

	REQUIRE(len <= INT32_MAX);
	p->types[i] = PG_TEXTOID;
	p->values[i] = s;
	p->lengths[i] = (int)len;
	/* binary text is the raw bytes: no NUL terminator needed */
	p->formats[i] = 1;
}

void pg_p_bytea(struct pg_params *p, const void *data, size_t len)
{
	int i = pg_p_next(p);

	REQUIRE(len <= INT32_MAX);
	p->types[i] = PG_BYTEAOID;
	p->values[i] = data;
	p->lengths[i] = (int)len;
	p->formats[i] = 1;
}

void pg_p_text(struct pg_params *p, const char *s)
{
	pg_p_textn(p, s, s != NULL ? strlen(s) : 0);
}

void pg_p_text0(struct pg_params *p, const char *s)
{
	pg_p_text(p, s != NULL ? s : "");
}

/* ---- errors ------------------------------------------------------------ */

static enum store_err pg_sqlstate_code(const char *state)
{
	if (state == NULL || strlen(state) != 5)
		return STORE_TEMPORARY; /* no server answer: connection trouble */
	if (strcmp(state, "23505") == 0)
		return STORE_EXISTS;
	/* a foreign key broken by a concurrent cleanup pass (a body's row
	   forgotten while a copy of it was appended): retrying succeeds */
	if (strcmp(state, "23503") == 0)
		return STORE_TEMPORARY;
	/* connection exceptions, serialization failure, deadlock, resources,
	   operator intervention (shutdown, cannot connect now), lock timeout,
	   statement timeout / cancel, read-only standby */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "25006") == 0 ||
	    strncmp(state, "58", 2) == 0)
		return STORE_TEMPORARY;
	return STORE_INTERNAL;
}

/* The first line of a libpq message (they end with newlines and hints). */
static void pg_error_from(struct store_error *err, enum store_err code, const char *prefix,
			  const char *msg)
{
	size_t len = msg != NULL ? strcspn(msg, "\n") : 0;

	store_error_set(err, code, "postgres: %s%.*s", prefix, (int)len,
			msg != NULL && len > 0 ? msg : "connection lost");
}

int pg_fail_result(struct pg_conn *c, PGresult *r, struct store_error *err)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	enum store_err code = pg_sqlstate_code(state);
	/* the primary message names constraints and columns; the DETAIL,
	   which may quote values, is left out */
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (c->db == NULL || PQstatus(c->db) != CONNECTION_OK)
		code = STORE_TEMPORARY;
	pg_error_from(err, code, "", msg != NULL ? msg : PQerrorMessage(c->db));
	PQclear(r);
	return -1;
}

/* ---- statement cache --------------------------------------------------- */

static uint32_t pg_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void pg_slots_clear(struct pg_conn *c)
{
	for (size_t i = 0; i < c->slot_count; i++)
		free(c->slots[i].sql);
	free(c->slots);
	c->slots = NULL;
	c->slot_count = c->slot_used = 0;
}

static void pg_slots_grow(struct pg_conn *c)
{
	size_t count = c->slot_count == 0 ? PG_STMT_SLOTS_INITIAL : c->slot_count * 2;
	struct pg_stmt_slot *slots = xcalloc(count, sizeof(*slots));

	for (size_t i = 0; i < c->slot_count; i++) {
		struct pg_stmt_slot *old = &c->slots[i];
		size_t j = old->hash & (count - 1);

		if (old->sql == NULL)
			continue;
		while (slots[j].sql != NULL)
			j = (j + 1) & (count - 1);
		slots[j] = *old;
	}
	free(c->slots);
	c->slots = slots;
	c->slot_count = count;
}

/* The statement's name on this connection, preparing it the first time. */
int pg_prepare(struct pg_conn *c, const char *sql, const struct pg_params *p,
		      char *name, size_t name_size, struct store_error *err)
{
	uint32_t h = pg_hash(sql);
	PGresult *r;
	size_t i, mask;

	if (c->slot_used * 2 >= c->slot_count)
		pg_slots_grow(c);
	mask = c->slot_count - 1;
	for (i = h & mask; c->slots[i].sql != NULL; i = (i + 1) & mask) {
		if (c->slots[i].hash == h && strcmp(c->slots[i].sql, sql) == 0) {
			REQUIRE(snprintf(name, name_size, "s%u", c->slots[i].id) > 0);
			return 0;
		}
	}
	REQUIRE(snprintf(name, name_size, "s%u", ++c->next_id) > 0);
	r = PQprepare(c->db, name, sql, p != NULL ? p->n : 0, p != NULL ? p->types : NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return pg_fail_result(c, r, err);
	PQclear(r);
	c->slots[i] = (struct pg_stmt_slot){ .sql = xstrdup(sql), .hash = h, .id = c->next_id };
	c->slot_used++;
	return 0;
}

PGresult *pg_exec(struct pg_conn *c, const char *sql, const struct pg_params *p,
		  struct store_error *err)
{
	char name[24];
	PGresult *r;
	ExecStatusType status;

	if (c->db == NULL) {
		store_error_set(err, STORE_TEMPORARY, "postgres: not connected");
		return NULL;
	}
	if (pg_prepare(c, sql, p, name, sizeof(name), err) < 0)
		return NULL;
	r = PQexecPrepared(c->db, name, p != NULL ? p->n : 0, p != NULL ? p->values : NULL,
			   p != NULL ? p->lengths : NULL, p != NULL ? p->formats : NULL, 0);
	status = PQresultStatus(r);
	if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
		return r;
	(void)pg_fail_result(c, r, err);
	return NULL;
}

int pg_run(struct pg_conn *c, const char *sql, const struct pg_params *p, uint64_t *changes_r,
	   struct store_error *err)
{
	PGresult *r = pg_exec(c, sql, p, err);

	if (r == NULL)
		return -1;
	if (changes_r != NULL) {
		const char *n = PQcmdTuples(r);

		*changes_r = n[0] != '\0' ? strtoull(n, NULL, 10) : 0;
	}
	PQclear(r);
	return 0;
}

int pg_query_int(struct pg_conn *c, const char *sql, const struct pg_params *p, int64_t *v_r,
		 struct store_error *err)
{
	PGresult *r = pg_exec(c, sql, p, err);
	int rc;

	if (r == NULL)
		return -1;
	rc = PQntuples(r) > 0 ? 1 : 0;
	if (rc == 1)
		*v_r = pg_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int pg_run_intv(struct pg_conn *c, const char *sql, const int64_t *args, size_t count,
		struct store_error *err)
{
	struct pg_params p = { 0 };

	for (size_t i = 0; i < count; i++)
		pg_p_int(&p, args[i]);
	return pg_run(c, sql, &p, NULL, err);
}

int pg_query_intv(struct pg_conn *c, const char *sql, int64_t *v_r, const int64_t *args,
		  size_t count, struct store_error *err)
{
	struct pg_params p = { 0 };

	for (size_t i = 0; i < count; i++)
		pg_p_int(&p, args[i]);
	return pg_query_int(c, sql, &p, v_r, err);
}

int64_t pg_int(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pg_bool(const PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col);

	return !PQgetisnull(r, row, col) && (v[0] == 't' || (v[0] >= '1' && v[0] <= '9'));
}

const char *pg_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

const char *pg_dup(struct arena *arena, const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return "";
	return arena_strndup(arena, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

int pg_notify_change(struct pg_conn *c, int64_t mailbox_id, uint64_t modseq,
		     struct store_error *err)
{
	struct pg_params p = { 0 };
	char payload[48];

	REQUIRE(snprintf(payload, sizeof(payload), "%lld %llu", (long long)mailbox_id,
			 (unsigned long long)modseq) > 0);
	pg_p_text(&p, payload);
	return pg_run(c, "SELECT pg_notify('" PG_NOTIFY_CHANNEL "', $1)", &p, NULL, err);
}

/* ---- connections ------------------------------------------------------- */

/* Simple-protocol statements without parameters (BEGIN, COMMIT, scripts). */
static int pg_exec_simple(struct pg_conn *c, const char *sql, struct store_error *err)
{
	PGresult *r;

	if (c->db == NULL) {
		store_error_set(err, STORE_TEMPORARY, "postgres: not connected");
		return -1;
	}
	r = PQexec(c->db, sql);
	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	return pg_fail_result(c, r, err);
}

void pg_conn_disconnect(struct pg_conn *c)
{
	if (c->db != NULL)
		PQfinish(c->db);
	c->db = NULL;
	atomic_store(&c->be_pid, 0);
	pg_slots_clear(c);
	c->next_id = 0;
}

static void pg_notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *pg_connect(const char *conninfo, struct store_error *err)
{
	/* defaults first: the expanded conninfo (last) overrides them */
	static const char *const keys[] = {
		"connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "dbname", NULL,
	};
	const char *values[] = { "5", "sora", "30", "10", "3", conninfo, NULL };
	PGconn *db = PQconnectdbParams(keys, values, 1);

	if (db == NULL) {
		store_error_set(err, STORE_TEMPORARY, "postgres: out of memory");
		return NULL;
	}
	if (PQstatus(db) != CONNECTION_OK) {
		pg_error_from(err, STORE_TEMPORARY, "cannot connect: ", PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	/* NOTICEs ("relation exists, skipping") are not errors: not on stderr */
	(void)PQsetNoticeProcessor(db, pg_notice_ignore, NULL);
	if (PQsetClientEncoding(db, "UTF8") != 0) {
		pg_error_from(err, STORE_TEMPORARY, "cannot set client encoding: ",
			      PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	return db;
}

int pg_conn_connect(struct store_pg *pg, struct pg_conn *c, struct store_error *err)
{
	char sql[96];

	pg_conn_disconnect(c);
	c->db = pg_connect(c->pool->conninfo, err);
	if (c->db == NULL)
		return -1;
	/* a writer waiting behind another node's row lock gives up like
	   SQLite's busy_timeout would: STORE_TEMPORARY */
	REQUIRE(snprintf(sql, sizeof(sql), "SET lock_timeout = %u", pg->lock_timeout_ms) > 0);
	if (pg_exec_simple(c, sql, err) < 0) {
		pg_conn_disconnect(c);
		return -1;
	}
	atomic_store(&c->be_pid, PQbackendPID(c->db));
	return 0;
}

static struct pg_conn *pg_pool_take(struct pg_pool *pool)
{
	struct pg_conn *c = NULL;

	REQUIRE(pthread_mutex_lock(&pool->lock) == 0);
	for (;;) {
		/* prefer a connected one */
		for (unsigned int i = 0; i < pool->count; i++) {
			struct pg_conn *x = &pool->conns[i];

			if (!x->in_use && (c == NULL || (c->db == NULL && x->db != NULL)))
				c = x;
		}
		if (c != NULL)
			break;
		REQUIRE(pthread_cond_wait(&pool->cond, &pool->lock) == 0);
	}
	c->in_use = true;
	REQUIRE(pthread_mutex_unlock(&pool->lock) == 0);
	return c;
}

static void pg_pool_give(struct pg_pool *pool, struct pg_conn *c)
{
	if (c->db != NULL && (PQstatus(c->db) != CONNECTION_OK ||
			      PQtransactionStatus(c->db) != PQTRANS_IDLE))
		pg_conn_disconnect(c);
	REQUIRE(pthread_mutex_lock(&pool->lock) == 0);
	c->in_use = false;
	REQUIRE(pthread_cond_signal(&pool->cond) == 0);
	REQUIRE(pthread_mutex_unlock(&pool->lock) == 0);
}

/* Takes a connection and starts a transaction on it. */
static int pg_begin(struct store_pg *pg, struct pg_pool *pool, const char *begin_sql,
		    struct pg_conn **c_r, struct store_error *err)
{
	struct pg_conn *c = pg_pool_take(pool);

	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh = c->db == NULL;

		if (fresh && pg_conn_connect(pg, c, err) < 0)
			break;
		if (pg_exec_simple(c, begin_sql, err) == 0) {
			*c_r = c;
			return 0;
		}
		/* a connection that died while idle: retry once on a new one */
		if (fresh || PQstatus(c->db) == CONNECTION_OK)
			break;
		pg_conn_disconnect(c);
	}
	pg_pool_give(pool, c);
	return -1;
}

int pg_write_begin(struct store_pg *pg, struct pg_conn **c_r, struct store_error *err)
{
	return pg_begin(pg, &pg->writers, "BEGIN", c_r, err);
}

void pg_write_rollback(struct store_pg *pg, struct pg_conn *c)
{
	if (c->db != NULL && PQtransactionStatus(c->db) != PQTRANS_IDLE) {
		PGresult *r = PQexec(c->db, "ROLLBACK");

		PQclear(r);
	}
	pg_pool_give(&pg->writers, c);
}

int pg_write_commit(struct store_pg *pg, struct pg_conn *c, struct store_error *err)
{
	if (pg_exec_simple(c, "COMMIT", err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	pg_pool_give(&pg->writers, c);
	return 0;
}

int pg_read_begin(struct store_pg *pg, struct pg_conn **c_r, struct store_error *err)
{
	return pg_begin(pg, &pg->readers, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", c_r,
			err);
}

void pg_read_end(struct store_pg *pg, struct pg_conn *c)
{
	if (c->db != NULL && PQtransactionStatus(c->db) != PQTRANS_IDLE) {
		PGresult *r = PQexec(c->db, "ROLLBACK");

		PQclear(r);
	}
	pg_pool_give(&pg->readers, c);
}

static void pg_pool_init(struct pg_pool *pool, const char *what, const char *conninfo,
			 unsigned int count)
{
	pool->what = what;
	pool->conninfo = xstrdup(conninfo);
	REQUIRE(pthread_mutex_init(&pool->lock, NULL) == 0);
	REQUIRE(pthread_cond_init(&pool->cond, NULL) == 0);
	pool->count = count;
	pool->conns = xcalloc(count, sizeof(*pool->conns));
	for (unsigned int i = 0; i < count; i++)
		pool->conns[i].pool = pool;
}

static void pg_pool_deinit(struct pg_pool *pool)
{
	if (pool->conns == NULL)
		return;
	for (unsigned int i = 0; i < pool->count; i++)
		pg_conn_disconnect(&pool->conns[i]);
	free(pool->conns);
	pool->conns = NULL;
	if (pool->conninfo != NULL)
		util_wipe(pool->conninfo, strlen(pool->conninfo)); /* may hold a password */
	free(pool->conninfo);
	REQUIRE(pthread_mutex_destroy(&pool->lock) == 0);
	REQUIRE(pthread_cond_destroy(&pool->cond) == 0);
}

/* ---- LISTEN thread ----------------------------------------------------- */

static bool pg_pid_is_ours(struct store_pg *pg, int pid)
{
	const struct pg_pool *pools[] = { &pg->writers, &pg->readers };

	for (size_t p = 0; p < ARRAY_SIZE(pools); p++) {
		for (unsigned int i = 0; i < pools[p]->count; i++) {
			if (atomic_load(&pools[p]->conns[i].be_pid) == pid)
				return true;
		}
	}
	return false;
}

static void pg_listener_deliver(struct store_pg *pg, const PGnotify *n)
{
	unsigned long long mailbox = 0, modseq = 0;
	char *end;

	if (strcmp(n->relname, PG_NOTIFY_CHANNEL) != 0 || pg_pid_is_ours(pg, n->be_pid))
		return; /* ours were announced by store.c already */
	errno = 0;
	mailbox = strtoull(n->extra, &end, 10);
	if (errno != 0 || end == n->extra || *end != ' ' || mailbox == 0 || mailbox > INT64_MAX)
		return;
	modseq = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return;
	store_changed(&pg->store, (int64_t)mailbox, modseq);
}

/* Sleeps ms unless asked to stop: true = stop. */
static bool pg_listener_wait(struct store_pg *pg, int fd, int ms)
{
	struct pollfd pfd[2] = {
		{ .fd = pg->stop_pipe[0], .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};
	int rc = poll(pfd, fd >= 0 ? 2 : 1, ms);

	return rc > 0 && (pfd[0].revents & (POLLIN | POLLHUP)) != 0;
}

static void *pg_listener_main(void *arg)
{
	struct store_pg *pg = arg;
	struct store_error err;
	PGconn *db = NULL;
	int backoff = 100;

	for (;;) {
		PGnotify *n;

		if (db == NULL) {
			db = pg_connect(pg->writers.conninfo, &err);
			if (db != NULL) {
				PGresult *r = PQexec(db, "LISTEN " PG_NOTIFY_CHANNEL);

				if (PQresultStatus(r) != PGRES_COMMAND_OK) {
					PQfinish(db);
					db = NULL;
				}
				PQclear(r);
			}
			if (db == NULL) {
				if (pg_listener_wait(pg, -1, backoff))
					break;
				backoff = backoff >= 5000 ? 5000 : backoff * 2;
				continue;
			}
			backoff = 100;
		}
		if (PQsocket(db) < 0) {
			PQfinish(db);
			db = NULL;
			continue;
		}
		if (pg_listener_wait(pg, PQsocket(db), -1))
			break;
		if (PQconsumeInput(db) == 0 || PQstatus(db) != CONNECTION_OK) {
			PQfinish(db);
			db = NULL;
			continue;
		}
		while ((n = PQnotifies(db)) != NULL) {
			pg_listener_deliver(pg, n);
			PQfreemem(n);
		}
	}
	if (db != NULL)
		PQfinish(db);
	return NULL;
}

/* ---- migrations -------------------------------------------------------- */

static int pg_schema_version(struct pg_conn *c, unsigned int *version_r,
			     struct store_error *err)
{
	int64_t v = 0;

	if (pg_query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL, &v,
			 err) < 0)
		return -1;
	*version_r = (unsigned int)v;
	return 0;
}

/* In the caller's write transaction; the advisory lock lets several nodes
   start at once: one migrates, the others wait and then find nothing to
   do. */
static int pg_migrate_in(struct pg_conn *c, unsigned int *applied_r, struct store_error *err)
{
	unsigned int version, applied = 0;

	/* waiting for another node's migration, or building an index on a
	   big table, may take longer than the per-request limits */
	if (pg_exec_simple(c, "SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0",
			   err) < 0 ||
	    pg_run_ints(c, "SELECT pg_advisory_xact_lock($1)", err, PG_MIGRATION_LOCK) < 0 ||
	    pg_exec_simple(c, store_schema_pg_bootstrap, err) < 0 ||
	    pg_schema_version(c, &version, err) < 0)
		return -1;
	if (version > STORE_SCHEMA_VERSION) {
		store_error_set(err, STORE_INVALID,
				"database schema version %u is newer than this binary's %u",
				version, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (size_t i = 0; i < store_schema_pg_count; i++) {
		const struct store_migration *m = &store_schema_pg[i];
		struct pg_params p = { 0 };

		if (m->version <= version)
			continue;
		if (pg_exec_simple(c, m->sql, err) < 0) {
			char msg[STORE_ERROR_MSG_MAX];

			memcpy(msg, err->msg, sizeof(msg));
			store_error_set(err, err->code, "migration %u (%s): %s", m->version,
					m->name, msg);
			return -1;
		}
		pg_p_int(&p, m->version);
		pg_p_text(&p, m->name);
		pg_p_int(&p, pg_now());
		if (pg_run(c,
			   "INSERT INTO schema_migrations (version, name, applied_at) "
			   "VALUES ($1, $2, $3)",
			   &p, NULL, err) < 0)
			return -1;
		applied++;
	}
	*applied_r = applied;
	return 0;
}

static int pg_migrate_up(struct store *st, unsigned int *applied_r, struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	if (pg_migrate_in(c, applied_r, err) < 0) {
		pg_write_rollback(pg, c);
		return -1;
	}
	return pg_write_commit(pg, c, err);
}

static int pg_migrate_version(struct store *st, unsigned int *version_r,
			      struct store_error *err)
{
	struct store_pg *pg = pg_from(st);
	struct pg_conn *c;
	int64_t exists = 0;
	int ret;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	ret = pg_query_int(c, "SELECT (to_regclass('schema_migrations') IS NOT NULL)::int", NULL,
			   &exists, err);
	if (ret >= 0) {
		*version_r = 0;
		ret = exists == 0 ? 0 : pg_schema_version(c, version_r, err);
	}
	pg_write_rollback(pg, c);
	return ret < 0 ? -1 : 0;
}

/* ---- open and close ---------------------------------------------------- */

static void pg_close(struct store *st)
{
	struct store_pg *pg = pg_from(st);

	if (pg->listener_started) {
		ssize_t n = write(pg->stop_pipe[1], "x", 1);

		REQUIRE(n == 1); /* the pipe is empty: it cannot be full */
		REQUIRE(pthread_join(pg->listener, NULL) == 0);
	}
	if (pg->stop_pipe[0] >= 0)
		(void)close(pg->stop_pipe[0]);
	if (pg->stop_pipe[1] >= 0)
		(void)close(pg->stop_pipe[1]);
	pg_conn_disconnect(&pg->cleanup_conn); /* releases the cleanup lock */
	REQUIRE(pthread_mutex_destroy(&pg->cleanup_mutex) == 0);
	pg_pool_deinit(&pg->writers);
	pg_pool_deinit(&pg->readers);
	free(pg);
}

static int pg_check_server(struct store_pg *pg, struct store_error *err)
{
	struct pg_conn *c;
	PGresult *r;
	int ret = 0;

	if (pg_write_begin(pg, &c, err) < 0)
		return -1;
	r = pg_exec(c, "SELECT current_setting('server_encoding')", NULL, err);
	if (r == NULL) {
		ret = -1;
	} else if (strcmp(pg_text(r, 0, 0), "UTF8") != 0) {
		store_error_set(err, STORE_INVALID,
				"postgres: the database encoding is %s, UTF8 is required",
				pg_text(r, 0, 0));
		ret = -1;
	}
	PQclear(r);
	pg_write_rollback(pg, c);
	return ret;
}

static int pg_open(const struct store_settings *set, struct store **st_r,
		   struct store_error *err)
{
	unsigned int writers = set->write_connections > 0 ? set->write_connections
							  : PG_WRITERS_DEFAULT;
	unsigned int readers = set->read_connections > 0 ? set->read_connections
							 : PG_READERS_DEFAULT;
	const char *read_info = set->read_conninfo != NULL && set->read_conninfo[0] != '\0'
					? set->read_conninfo
					: set->write_conninfo;
	struct store_pg *pg;
	unsigned int applied;

	if (set->write_conninfo == NULL || set->write_conninfo[0] == '\0') {
		store_error_set(err, STORE_INVALID, "postgres: no connection settings "
						    "([database.write])");
		return -1;
	}
	if (writers > PG_CONNS_MAX || readers > PG_CONNS_MAX) {
		store_error_set(err, STORE_INVALID, "postgres: more than %d connections in a pool",
				PG_CONNS_MAX);
		return -1;
	}
	if (PQisthreadsafe() == 0) {
		store_error_set(err, STORE_INTERNAL, "postgres: libpq built without threads");
		return -1;
	}
	pg = xcalloc(1, sizeof(*pg));
	pg->store.v = &store_pg_vfuncs;
	pg->stop_pipe[0] = pg->stop_pipe[1] = -1;
	pg->lock_timeout_ms = set->busy_timeout_ms > 0 ? set->busy_timeout_ms
						       : PG_LOCK_TIMEOUT_DEFAULT;
	pg_pool_init(&pg->writers, "write", set->write_conninfo, writers);
	pg_pool_init(&pg->readers, "read", read_info, readers);
	REQUIRE(pthread_mutex_init(&pg->cleanup_mutex, NULL) == 0);
	pg->cleanup_conn.pool = &pg->writers;

	/* one connection now, so that a wrong address or password fails the
	   start instead of the first delivery */
	if (pg_check_server(pg, err) < 0)
		goto fail;
	if (!set->skip_migrations && pg_migrate_up(&pg->store, &applied, err) < 0)
		goto fail;
	if (pipe2(pg->stop_pipe, O_CLOEXEC) < 0) {
		store_error_set(err, STORE_TEMPORARY, "postgres: pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&pg->listener, NULL, pg_listener_main, pg) != 0) {
		store_error_set(err, STORE_TEMPORARY, "postgres: cannot start the listener");
		goto fail;
	}
	pg->listener_started = true;
	*st_r = &pg->store;
	return 0;
fail:
	pg_close(&pg->store);
	return -1;
}

const struct store_vfuncs store_pg_vfuncs = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.migrate_version = pg_migrate_version,
	.migrate_up = pg_migrate_up,

	.account_create = pg_account_create,
	.account_get = pg_account_get,
	.account_list = pg_account_list,
	.account_find = pg_account_find,
	.account_delete = pg_account_delete,
	.account_restore = pg_account_restore,
	.account_set_quota = pg_account_set_quota,
	.credential_lookup = pg_credential_lookup,
	.credential_add = pg_credential_add,
	.credential_delete = pg_credential_delete,
	.credential_set_password = pg_credential_set_password,
	.credential_set_primary = pg_credential_set_primary,
	.credential_list = pg_credential_list,

	.mailbox_create = pg_mailbox_create,
	.mailbox_get = pg_mailbox_get,
	.mailbox_get_by_id = pg_mailbox_get_by_id,
	.mailbox_list = pg_mailbox_list,
	.mailbox_delete = pg_mailbox_delete,
	.mailbox_rename = pg_mailbox_rename,
	.mailbox_set_special_use = pg_mailbox_set_special_use,
	.mailbox_status = pg_mailbox_status,
	.mailbox_uids = pg_mailbox_uids,
	.mailbox_keywords = pg_mailbox_keywords,
	.subscription_set = pg_subscription_set,
	.subscription_list = pg_subscription_list,

	.append_batch = pg_append_batch,
	.flags_update = pg_flags_update,
	.expunge = pg_expunge,
	.copy = pg_copy,
	.fetch = pg_fetch,
	.changes_since = pg_changes_since,
	.search = pg_search,

	.sieve_put = pg_sieve_put,
	.sieve_get = pg_sieve_get,
	.sieve_list = pg_sieve_list,
	.sieve_activate = pg_sieve_activate,
	.sieve_delete = pg_sieve_delete,
	.sieve_rename = pg_sieve_rename,

	.auth_attempt_add = pg_auth_attempt_add,
	.auth_failures = pg_auth_failures,
	.auth_block_set = pg_auth_block_set,
	.auth_block_get = pg_auth_block_get,
	.auth_prune = pg_auth_prune,

	.cleanup_try_lock = pg_cleanup_try_lock,
	.cleanup_unlock = pg_cleanup_unlock,
	.cleanup_expunged = pg_cleanup_expunged,
	.cleanup_accounts = pg_cleanup_accounts,
	.cleanup_unreferenced = pg_cleanup_unreferenced,
	.cleanup_forget = pg_cleanup_forget,
	.blob_list = pg_blob_list,
	.blob_set_key_id = pg_blob_set_key_id,
	.cleanup_hashes_referenced = pg_cleanup_hashes_referenced,
	.auth_block_list = pg_auth_block_list,
};
