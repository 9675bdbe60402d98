/* The delivery record tables (src/deliver/records.h): add, seen within a
   window, count for the rate limit, prune by age. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utime.h>

#include "deliver/records.h"

/* Backdates every record of kind/account by secs. */
static void age_records(const char *dir, const char *kind, int64_t account, time_t secs)
{
	char path[600], file[900];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s/%lld", dir, kind, (long long)account);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		struct utimbuf t = { .actime = time(NULL) - secs, .modtime = time(NULL) - secs };

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		assert_int_equal(utime(file, &t), 0);
	}
	closedir(d);
}

static void test_records(void **state)
{
	char dir[] = "/tmp/sora-records-XXXXXX", err[256], cmd[600];
	struct deliver_records *r;
	int64_t now = (int64_t)time(NULL);
	unsigned n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	r = deliver_records_open(dir, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(deliver_record_seen(r, "vacation", 7, "bob@x", now - 60), 0);
	assert_int_equal(deliver_record_add(r, "vacation", 7, "bob@x"), 0);
	assert_int_equal(deliver_record_seen(r, "vacation", 7, "bob@x", now - 60), 1);
	assert_int_equal(deliver_record_seen(r, "vacation", 8, "bob@x", now - 60), 0);
	assert_int_equal(deliver_record_seen(r, "duplicate", 7, "bob@x", now - 60), 0);
	age_records(dir, "vacation", 7, 3600);
	/* older than the window: not seen, but still there until pruned */
	assert_int_equal(deliver_record_seen(r, "vacation", 7, "bob@x", now - 60), 0);
	assert_int_equal(deliver_record_seen(r, "vacation", 7, "bob@x", now - 7200), 1);
	for (int i = 0; i < 3; i++) {
		char key[16];

		snprintf(key, sizeof(key), "r%d", i);
		assert_int_equal(deliver_record_add(r, "redirect", 7, key), 0);
	}
	assert_int_equal(deliver_record_count(r, "redirect", 7, now - 60, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(deliver_record_count(r, "redirect", 9, now - 60, &n), 0);
	assert_int_equal(n, 0);
	age_records(dir, "redirect", 7, 7200);
	assert_int_equal(deliver_record_count(r, "redirect", 7, now - 60, &n), 0);
	assert_int_equal(n, 0);
	deliver_records_prune(r, "redirect", now - 3600);
	assert_int_equal(deliver_record_count(r, "redirect", 7, 0, &n), 0);
	assert_int_equal(n, 0);
	/* another kind is untouched by a kind's prune, then pruned with all */
	assert_int_equal(deliver_record_seen(r, "vacation", 7, "bob@x", 0), 1);
	deliver_records_prune(r, NULL, now - 60);
	assert_int_equal(deliver_record_seen(r, "vacation", 7, "bob@x", 0), 0);
	deliver_records_close(&r);
	assert_null(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
