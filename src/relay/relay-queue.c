/* The relay queue (relay.h). Threads: relay_queue_add() from delivery
   workers (any number at once: each entry has its own random id); one
   worker thread sending. A file moves between pending/, processing/ and
   failed/ by rename(2), which is atomic; the .json is renamed after the
   .msg, so a .json in a directory always has its .msg there. */
#include "relay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../config/config.h"
#include "../lib/log.h"
#include "../lib/util.h"
#include "relay-private.h"

struct relay_queue {
	const struct config *cfg;
	char *path;
	struct relay_smtp smtp;

	pthread_t thread;
	bool running, stopping, kicked;
	pthread_mutex_t lock;
	pthread_cond_t cond;

	/* circuit breaker (worker thread only) */
	unsigned consecutive_failures;
	int64_t open_until;
};

static const char *const dirs[] = { "pending", "processing", "failed" };

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	(void)close(fd);
	return ret;
}

static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			(void)close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		(void)close(fd);
		return -1;
	}
	return close(fd);
}

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		(void)buf_append(&b, chunk, n);
	fclose(f);
	*len_r = b.len;
	return b.data != NULL ? b.data : xstrdup("");
}

static void entry_path(const struct relay_queue *q, const char *dir, const char *id,
		       const char *ext, char *out, size_t size)
{
	snprintf(out, size, "%s/%s/%s.%s", q->path, dir, id, ext);
}

struct relay_queue *relay_queue_open(const struct config *cfg, const char *default_path,
				     char *err, size_t err_size)
{
	struct relay_queue *q = xcalloc(1, sizeof(*q));
	char sub[4096];

	q->cfg = cfg;
	q->path = xstrdup(cfg->relay.queue.path != NULL ? cfg->relay.queue.path : default_path);
	q->smtp = (struct relay_smtp){
		.host_port = cfg->relay.smtp_host,
		.tls = cfg->relay.smtp_tls || cfg->relay.smtp_use_starttls,
		.starttls = cfg->relay.smtp_use_starttls,
		.verify = cfg->relay.smtp_tls_verify,
		.username = cfg->relay.smtp_username,
		.password = cfg->relay.smtp_password,
	};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(sub, sizeof(sub), "%s/%s/x", q->path, dirs[i]);
		if (util_mkdir_parents(sub) < 0) {
			snprintf(err, err_size, "cannot create %s/%s: %s", q->path, dirs[i],
				 strerror(errno));
			free(q->path);
			free(q);
			return NULL;
		}
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return q;
}

/* rename both files of id from one directory to another (.msg first) */
static int entry_move(struct relay_queue *q, const char *id, const char *from, const char *to)
{
	char a[4096], b[4096];

	entry_path(q, from, id, "msg", a, sizeof(a));
	entry_path(q, to, id, "msg", b, sizeof(b));
	if (rename(a, b) < 0)
		return -1;
	entry_path(q, from, id, "json", a, sizeof(a));
	entry_path(q, to, id, "json", b, sizeof(b));
	return rename(a, b);
}

int relay_queue_add(struct relay_queue *q, const char *type, const char *from, const char *to,
		    const char *data, size_t len, char *id_r, char *err, size_t err_size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[RELAY_ID_LEN / 2];
	struct relay_entry e = { 0 };
	char msg_tmp[4096], json_tmp[4096], msg_path[4096], json_path[4096], dir[4096];
	struct buf json;
	int ret = -1;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		snprintf(err, err_size, "no randomness for a queue id");
		return -1;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		id_r[2 * i] = hex[rnd[i] >> 4];
		id_r[2 * i + 1] = hex[rnd[i] & 15];
	}
	id_r[RELAY_ID_LEN] = '\0';
	e.id = id_r;
	e.from = (char *)from;
	e.to = (char *)to;
	e.type = (char *)type;
	e.queued_at = (int64_t)time(NULL);
	e.next_retry = e.queued_at;
	buf_init(&json, 0);
	relay_entry_to_json(&e, &json);
	/* written under processing/ (the worker never picks them up there
	   while we run: it only looks at processing/ at start-up), then
	   moved into pending/ once both are durable */
	entry_path(q, "processing", id_r, "msg.tmp", msg_tmp, sizeof(msg_tmp));
	entry_path(q, "processing", id_r, "json.tmp", json_tmp, sizeof(json_tmp));
	entry_path(q, "pending", id_r, "msg", msg_path, sizeof(msg_path));
	entry_path(q, "pending", id_r, "json", json_path, sizeof(json_path));
	snprintf(dir, sizeof(dir), "%s/pending", q->path);
	if (write_file(msg_tmp, data, len) < 0 || write_file(json_tmp, json.data, json.len) < 0 ||
	    rename(msg_tmp, msg_path) < 0 || rename(json_tmp, json_path) < 0 ||
	    fsync_path(dir) < 0) {
		snprintf(err, err_size, "cannot write to the relay queue %s: %s", q->path,
			 strerror(errno));
		(void)unlink(msg_tmp);
		(void)unlink(json_tmp);
		(void)unlink(json_path);
		(void)unlink(msg_path);
		goto out;
	}
	ret = 0;
out:
	buf_free(&json);
	return ret;
}

static void entry_save(struct relay_queue *q, const char *dir, const struct relay_entry *e)
{
	char path[4096], tmp[4200];
	struct buf json;

	buf_init(&json, 0);
	relay_entry_to_json(e, &json);
	entry_path(q, dir, e->id, "json", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (write_file(tmp, json.data, json.len) == 0)
		(void)rename(tmp, path);
	buf_free(&json);
}

static uint64_t backoff_s(const struct relay_queue *q, unsigned attempts)
{
	const struct config *cfg = q->cfg;
	unsigned i = attempts == 0 ? 0 : attempts - 1;

	if (i >= cfg->relay.queue.retry_backoff_count)
		i = cfg->relay.queue.retry_backoff_count - 1;
	return (cfg->relay.queue.retry_backoff_ms[i] + 999) / 1000;
}

/* Sends one pending entry; false when the circuit breaker just opened. */
static bool entry_process(struct relay_queue *q, const char *id, int64_t now)
{
	struct relay_entry e;
	enum relay_send_result res;
	char path[4096], error[512] = "";
	size_t len = 0, mlen = 0;
	char *json, *msg;

	entry_path(q, "pending", id, "json", path, sizeof(path));
	json = read_file(path, &len);
	if (json == NULL)
		return true;
	if (relay_entry_from_json(json, len, &e) < 0) {
		free(json);
		log_error(NULL, "relay.corrupt", "id=%s hint=\"moved to failed/\"", log_str(id));
		(void)entry_move(q, id, "pending", "failed");
		return true;
	}
	free(json);
	if (e.next_retry > now || entry_move(q, id, "pending", "processing") < 0) {
		relay_entry_free(&e);
		return true;
	}
	entry_path(q, "processing", id, "msg", path, sizeof(path));
	msg = read_file(path, &mlen);
	res = msg == NULL ? RELAY_PERMFAIL
			  : relay_smtp_send(&q->smtp, e.from, e.to, msg, mlen, error, sizeof(error));
	if (msg == NULL)
		snprintf(error, sizeof(error), "message file missing");
	free(msg);
	e.attempts++;
	e.last_attempt = now;
	if (res == RELAY_SENT) {
		(void)unlink(path);
		entry_path(q, "processing", id, "json", path, sizeof(path));
		(void)unlink(path);
		log_info(NULL, "relay.sent", "id=%s type=%s from=%s to=%s attempts=%u", id,
			 log_str(e.type), log_str(e.from), log_str(e.to), e.attempts);
		q->consecutive_failures = 0;
		relay_entry_free(&e);
		return true;
	}
	e.errors = xrealloc(e.errors, (e.error_count + 1) * sizeof(char *));
	e.errors[e.error_count++] = xstrdup(error);
	if (res == RELAY_PERMFAIL || e.attempts >= q->cfg->relay.queue.max_attempts) {
		entry_save(q, "processing", &e);
		(void)entry_move(q, id, "processing", "failed");
		log_warn(NULL, "relay.failed", "id=%s type=%s to=%s attempts=%u error=%s", id,
			 log_str(e.type), log_str(e.to), e.attempts, log_str(error));
	} else {
		e.next_retry = now + (int64_t)backoff_s(q, e.attempts);
		entry_save(q, "processing", &e);
		(void)entry_move(q, id, "processing", "pending");
		log_warn(NULL, "relay.retry", "id=%s type=%s to=%s attempts=%u next_retry_in=%llds "
			 "error=%s", id, log_str(e.type), log_str(e.to), e.attempts,
			 (long long)(e.next_retry - now), log_str(error));
	}
	relay_entry_free(&e);
	if (res == RELAY_TEMPFAIL &&
	    ++q->consecutive_failures >= q->cfg->relay.queue.circuit_breaker_threshold) {
		q->open_until = now + (int64_t)(q->cfg->relay.queue.circuit_breaker_timeout_ms / 1000);
		log_warn(NULL, "relay.circuit_open", "failures=%u until_in=%llus",
			 q->consecutive_failures,
			 (unsigned long long)(q->cfg->relay.queue.circuit_breaker_timeout_ms / 1000));
		return false;
	}
	return true;
}

void relay_queue_run_once(struct relay_queue *q)
{
	char dir[4096];
	struct dirent *de;
	unsigned done = 0;
	int64_t now = (int64_t)time(NULL);
	DIR *d;

	/* open: wait out the timeout, then let one attempt through */
	if (q->open_until > now)
		return;
	snprintf(dir, sizeof(dir), "%s/pending", q->path);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && done < q->cfg->relay.queue.batch_size) {
		size_t n = strlen(de->d_name);
		char id[RELAY_ID_LEN + 1];

		if (n != RELAY_ID_LEN + 5 || strcmp(de->d_name + RELAY_ID_LEN, ".json") != 0)
			continue;
		memcpy(id, de->d_name, RELAY_ID_LEN);
		id[RELAY_ID_LEN] = '\0';
		done++;
		if (!entry_process(q, id, now))
			break;
	}
	closedir(d);
}

/* After a crash: what was being sent is pending again (at worst a
   duplicate send, never a lost one). Half-written *.tmp files of an
   enqueue that never returned are dropped. */
static void relay_recover(struct relay_queue *q)
{
	char dir[4096], path[4400];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/processing", q->path);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(void)unlink(path);
		} else if (n == RELAY_ID_LEN + 5 &&
			   strcmp(de->d_name + RELAY_ID_LEN, ".json") == 0) {
			char id[RELAY_ID_LEN + 1];

			memcpy(id, de->d_name, RELAY_ID_LEN);
			id[RELAY_ID_LEN] = '\0';
			log_info(NULL, "relay.recovered", "id=%s", id);
			(void)entry_move(q, id, "processing", "pending");
		}
	}
	closedir(d);
}

static void *relay_worker(void *arg)
{
	struct relay_queue *q = arg;

	relay_recover(q);
	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		struct timespec ts;
		uint64_t ms = q->cfg->relay.queue.worker_interval_ms;

		pthread_mutex_unlock(&q->lock);
		relay_queue_run_once(q);
		pthread_mutex_lock(&q->lock);
		if (q->stopping)
			break;
		if (!q->kicked) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(ms / 1000);
			ts.tv_nsec += (long)(ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&q->cond, &q->lock, &ts);
		}
		q->kicked = false;
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int relay_queue_start(struct relay_queue *q)
{
	if (pthread_create(&q->thread, NULL, relay_worker, q) != 0)
		return -1;
	q->running = true;
	log_info(NULL, "relay.start", "path=%s smtp_host=%s tls=%s", log_str(q->path),
		 log_str(q->smtp.host_port),
		 q->smtp.starttls ? "starttls" : q->smtp.tls ? "implicit" : "off");
	return 0;
}

void relay_queue_kick(struct relay_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->kicked = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void relay_queue_close(struct relay_queue **qp)
{
	struct relay_queue *q = *qp;

	if (q == NULL)
		return;
	if (q->running) {
		pthread_mutex_lock(&q->lock);
		q->stopping = true;
		pthread_cond_signal(&q->cond);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->path);
	free(q);
	*qp = NULL;
}
