/* The relay queue (src/relay): the entry JSON round trip, a durable
   enqueue into pending/, a failed attempt with backoff back to pending/,
   the last attempt into failed/, and crash recovery of processing/. The
   SMTP side points at a closed loopback port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "relay/relay-private.h"
#include "relay/relay.h"

static void test_json_round_trip(void **state)
{
	char *errors[] = { "first \"error\"\n", "second\\" };
	struct relay_entry e = { .id = "0123", .from = "", .to = "b@c", .type = "vacation",
				 .queued_at = 1700000000, .attempts = 2,
				 .last_attempt = 1700000060, .next_retry = 1700000360,
				 .errors = errors, .error_count = 2 };
	struct relay_entry back;
	struct buf json;

	(void)state;
	buf_init(&json, 0);
	relay_entry_to_json(&e, &json);
	assert_non_null(strstr(json.data, "\"queued_at\": \"2023-11-14T22:13:20Z\""));
	assert_int_equal(relay_entry_from_json(json.data, json.len, &back), 0);
	assert_string_equal(back.id, "0123");
	assert_string_equal(back.from, "");
	assert_string_equal(back.type, "vacation");
	assert_int_equal(back.attempts, 2);
	assert_true(back.queued_at == 1700000000 && back.next_retry == 1700000360);
	assert_int_equal(back.error_count, 2);
	assert_string_equal(back.errors[0], "first \"error\"\n");
	assert_string_equal(back.errors[1], "second\\");
	relay_entry_free(&back);
	assert_int_equal(relay_entry_from_json("{\"id\": \"x\"}", 11, &back), -1);
	assert_int_equal(relay_entry_from_json("[]", 2, &back), -1);
	buf_free(&json);
}

static unsigned count_dir(const char *base, const char *sub, const char *ext)
{
	char path[512];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", base, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > strlen(ext) && strcmp(de->d_name + l - strlen(ext), ext) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_queue_attempts(void **state)
{
	char dir[] = "/tmp/sora-relay-test-XXXXXX", text[1024], err[256], id[RELAY_ID_LEN + 1];
	char path[512];
	struct config *cfg;
	struct relay_queue *q;
	struct buf diag;
	size_t len;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* port 9 (discard) on loopback: nothing listens, connect is refused */
	len = (size_t)snprintf(text, sizeof(text),
			       "[relay]\ntype = \"smtp\"\nsmtp_host = \"127.0.0.1:9\"\n"
			       "smtp_tls = false\n[relay.queue]\npath = \"%s\"\n"
			       "retry_backoff = [\"1s\"]\nmax_attempts = 2\n", dir);
	buf_init(&diag, 0);
	assert_int_equal(config_load_string("t.toml", text, len, true, &cfg, &diag), 0);
	q = relay_queue_open(cfg, "/nonexistent", err, sizeof(err));
	assert_non_null(q);
	assert_int_equal(relay_queue_add(q, "redirect", "a@b", "c@d", "Subject: x\r\n\r\nhi\r\n",
					 19, id, err, sizeof(err)),
			 0);
	assert_int_equal(strlen(id), RELAY_ID_LEN);
	assert_int_equal(count_dir(dir, "pending", ".msg"), 1);
	assert_int_equal(count_dir(dir, "pending", ".json"), 1);
	relay_queue_run_once(q); /* attempt 1 fails: back to pending */
	assert_int_equal(count_dir(dir, "pending", ".json"), 1);
	snprintf(path, sizeof(path), "%s/pending/%s.json", dir, id);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
	fclose(f);
	assert_non_null(strstr(text, "\"attempts\": 1"));
	relay_queue_run_once(q); /* next_retry is 1s away: untouched */
	assert_int_equal(count_dir(dir, "failed", ".json"), 0);
	sleep(2);
	relay_queue_run_once(q); /* attempt 2 = max_attempts: failed/ */
	assert_int_equal(count_dir(dir, "pending", ".json"), 0);
	assert_int_equal(count_dir(dir, "failed", ".json"), 1);
	assert_int_equal(count_dir(dir, "failed", ".msg"), 1);
	/* a crash while sending left an entry in processing/: recovered */
	assert_int_equal(relay_queue_add(q, "vacation", "", "c@d", "x\r\n", 3, id, err,
					 sizeof(err)),
			 0);
	{
		char a[512], b[512];

		snprintf(a, sizeof(a), "%s/pending/%s.msg", dir, id);
		snprintf(b, sizeof(b), "%s/processing/%s.msg", dir, id);
		assert_int_equal(rename(a, b), 0);
		snprintf(a, sizeof(a), "%s/pending/%s.json", dir, id);
		snprintf(b, sizeof(b), "%s/processing/%s.json", dir, id);
		assert_int_equal(rename(a, b), 0);
	}
	assert_int_equal(relay_queue_start(q), 0);
	for (int i = 0; i < 100 && count_dir(dir, "processing", ".json") > 0; i++)
		usleep(20000);
	assert_int_equal(count_dir(dir, "processing", ".json"), 0);
	relay_queue_close(&q);
	config_free(&cfg);
	buf_free(&diag);
	snprintf(text, sizeof(text), "rm -rf '%s'", dir);
	assert_int_equal(system(text), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_queue_attempts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
