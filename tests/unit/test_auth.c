/* Login verification against a real SQLite store: ordinary, wrong and
   unknown users, +detail, master users (both forms), master SASL with its
   network gate, the rate limiter's block, and rehash of legacy hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/arena.h"
#include "store/store.h"

#define SSHA512_SECRET                                                                     \
	"{SSHA512}aGuMrEMGi6onmwqe1nusjHfTEWDBWJ6mi7jgmo/NAQWVisJzsnpZKYeQZCTTT8UyTU6chXA6Ssn" \
	"sAloMvYN+iEMqQjA="

struct fixture {
	char dir[64];
	struct store *st;
	struct config_server sc;
	struct auth *auth;
};

static const struct password_params fast = { .bcrypt_cost = 4 };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[128], *hash = NULL;
	struct store_error err;
	const char *error;
	int64_t id;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_auth_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/sora.db", f->dir);
	assert_int_equal(store_open(&(struct store_settings){ .path = path }, &f->st, &err), 0);
	assert_int_equal(password_hash(PASSWORD_SCHEME_BLF_CRYPT, "secret", &fast, &hash, &error),
			 0);
	assert_int_equal(store_account_create(f->st, "alice@example.org", hash, &id, &err), 0);
	free(hash);
	assert_int_equal(store_account_create(f->st, "bob@example.org", SSHA512_SECRET, &id, &err),
			 0);
	f->sc = (struct config_server){
		.name = "imap",
		.master_username = "proxyuser",
		.master_password = "m4ster",
		.master_sasl_username = "sasl-master",
		.master_sasl_password = "sasl-pw",
		.auth_rate_limit = { .enabled = true, .max_attempts_per_ip = 100,
				     .max_attempts_per_username = 100,
				     .ip_window_ms = 900000, .username_window_ms = 900000,
				     .fast_block_threshold = 3, .fast_block_ms = 300000 },
	};
	f->auth = auth_new(f->st, &(struct auth_settings){ .server = &f->sc, .params = fast,
							   .rehash = true });
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	auth_free(&f->auth);
	store_close(&f->st);
	cidr_list_free(&f->sc.master_sasl_allowed_networks);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void try(struct fixture *f, const char *ip, const char *login, const char *authzid,
		const char *password, uint64_t now, struct auth_result *res)
{
	struct auth_request req = {
		.login = login,
		.authzid = authzid,
		.password = password,
		.password_len = strlen(password),
		.client_ip = ip,
		.now_ms = now,
	};
	struct sockaddr_in *sin = (struct sockaddr_in *)&req.socket_peer;

	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
	auth_verify(f->auth, &req, res);
}

static void test_users(void **state)
{
	struct fixture *f = *state;
	struct auth_result r;

	try(f, "192.0.2.1", "alice@example.org", NULL, "secret", 1, &r);
	assert_int_equal(r.status, AUTH_OK);
	assert_string_equal(r.address, "alice@example.org");
	assert_false(r.via_master);
	try(f, "192.0.2.1", "Alice+Lists@Example.ORG", NULL, "secret", 2, &r);
	assert_int_equal(r.status, AUTH_OK);
	assert_string_equal(r.detail, "Lists");
	try(f, "192.0.2.1", "alice@example.org", NULL, "wrong", 3, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	assert_string_equal(r.reason, "wrong password");
	try(f, "192.0.2.1", "nobody@example.org", NULL, "secret", 4, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	assert_string_equal(r.reason, "unknown user");
	try(f, "192.0.2.1", "not an address", NULL, "secret", 5, &r);
	assert_int_equal(r.status, AUTH_FAILED);
}

static void test_master_users(void **state)
{
	struct fixture *f = *state;
	struct auth_result r;

	try(f, "192.0.2.2", "alice@example.org@proxyuser", NULL, "m4ster", 1, &r);
	assert_int_equal(r.status, AUTH_OK);
	assert_true(r.via_master);
	assert_string_equal(r.address, "alice@example.org");
	try(f, "192.0.2.2", "alice@example.org~proxyuser", NULL, "m4ster", 2, &r);
	assert_int_equal(r.status, AUTH_OK);
	/* the user's own password does not work through the master name */
	try(f, "192.0.2.2", "alice@example.org@proxyuser", NULL, "secret", 3, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	/* nor the master password for an unknown target, nor alone */
	try(f, "192.0.2.2", "ghost@example.org@proxyuser", NULL, "m4ster", 4, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	try(f, "192.0.2.2", "proxyuser", NULL, "m4ster", 5, &r);
	assert_int_equal(r.status, AUTH_FAILED);
}

static void test_master_sasl(void **state)
{
	struct fixture *f = *state;
	struct auth_result r;
	const char *error;

	try(f, "192.0.2.3", "sasl-master", "alice@example.org", "sasl-pw", 1, &r);
	assert_int_equal(r.status, AUTH_OK);
	assert_true(r.via_master);
	try(f, "192.0.2.3", "sasl-master", "alice@example.org", "nope", 2, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	try(f, "192.0.2.3", "bob@example.org", "alice@example.org", "secret", 3, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	/* the network gate looks at the socket peer (127.0.0.1 here) */
	assert_int_equal(cidr_list_add(&f->sc.master_sasl_allowed_networks, "10.0.0.0/8", &error),
			 0);
	try(f, "10.1.1.1", "sasl-master", "alice@example.org", "sasl-pw", 4, &r);
	assert_int_equal(r.status, AUTH_FAILED);
}

static void test_fast_block_and_master_bucket(void **state)
{
	struct fixture *f = *state;
	struct auth_result r;

	/* master failures count under the master name, not alice */
	for (int i = 0; i < 2; i++) {
		try(f, "198.51.100.9", "alice@example.org@proxyuser", NULL, "bad", 10 + i, &r);
		assert_int_equal(r.status, AUTH_FAILED);
	}
	try(f, "198.51.100.10", "alice@example.org", NULL, "secret", 20, &r);
	assert_int_equal(r.status, AUTH_OK);
	for (int i = 0; i < 3; i++) {
		try(f, "198.51.100.11", "alice@example.org", NULL, "bad", 30 + i, &r);
		assert_int_equal(r.status, AUTH_FAILED);
	}
	/* blocked: the right password fails too, reported as the block */
	try(f, "198.51.100.11", "alice@example.org", NULL, "secret", 40, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	assert_string_equal(r.reason, "fast_block");
	/* another address is not affected */
	try(f, "198.51.100.12", "alice@example.org", NULL, "secret", 41, &r);
	assert_int_equal(r.status, AUTH_OK);
}

static void test_rehash(void **state)
{
	struct fixture *f = *state;
	struct arena *a = arena_new(1024);
	struct store_credential cred;
	struct store_error err;
	struct auth_result r;

	try(f, "192.0.2.5", "bob@example.org", NULL, "secret", 1, &r);
	assert_int_equal(r.status, AUTH_OK);
	assert_true(r.rehashed);
	assert_int_equal(store_credential_lookup(f->st, "bob@example.org", a, &cred, &err), 0);
	assert_true(strncmp(cred.password_hash, "{BLF-CRYPT}$2b$04$", 18) == 0);
	try(f, "192.0.2.5", "bob@example.org", NULL, "secret", 2, &r);
	assert_int_equal(r.status, AUTH_OK);
	assert_false(r.rehashed);
	arena_free(&a);
}

static void test_rehash_off(void **state)
{
	struct fixture *f = *state;
	struct arena *a = arena_new(1024);
	struct store_credential cred;
	struct store_error err;
	struct auth_result r;

	auth_free(&f->auth);
	f->auth = auth_new(f->st, &(struct auth_settings){ .server = &f->sc, .params = fast,
							   .rehash = false });
	try(f, "192.0.2.5", "bob@example.org", NULL, "secret", 1, &r);
	assert_int_equal(r.status, AUTH_OK);
	assert_false(r.rehashed);
	assert_int_equal(store_credential_lookup(f->st, "bob@example.org", a, &cred, &err), 0);
	assert_string_equal(cred.password_hash, SSHA512_SECRET);
	arena_free(&a);
}

/* At most AUTH_MAX_DELAYED_PER_IP_DEFAULT of one IP's attempts wait out a
   delay at once; the next are refused at once (no delay, same status). */
static void test_delayed_attempts_capped(void **state)
{
	struct fixture *f = *state;
	struct auth_result r;

	f->sc.auth_rate_limit.fast_block_threshold = 0;
	f->sc.auth_rate_limit.delay_start_threshold = 1;
	f->sc.auth_rate_limit.initial_delay_ms = 10000;
	f->sc.auth_rate_limit.max_delay_ms = 10000;
	f->sc.auth_rate_limit.delay_multiplier = 1.0;
	auth_free(&f->auth);
	f->auth = auth_new(f->st, &(struct auth_settings){ .server = &f->sc, .params = fast,
							   .rehash = true });
	try(f, "192.0.2.70", "bob@example.org", NULL, "wrong", 1000, &r);
	assert_int_equal(r.delay_ms, 0);
	for (int i = 0; i < AUTH_MAX_DELAYED_PER_IP_DEFAULT; i++) {
		try(f, "192.0.2.70", "bob@example.org", NULL, "wrong", 1001, &r);
		assert_int_equal(r.status, AUTH_FAILED);
		assert_int_equal(r.delay_ms, 10000);
		assert_string_equal(r.reason, "wrong password");
	}
	try(f, "192.0.2.70", "bob@example.org", NULL, "secret", 1002, &r);
	assert_int_equal(r.status, AUTH_FAILED);
	assert_int_equal(r.delay_ms, 0);
	assert_string_equal(r.reason, "too many delayed attempts");
	/* other addresses have their own slots */
	try(f, "192.0.2.71", "bob@example.org", NULL, "secret", 1003, &r);
	assert_int_equal(r.status, AUTH_OK);
	/* once the held delays are over, the next one is held again */
	try(f, "192.0.2.70", "bob@example.org", NULL, "wrong", 11002, &r);
	assert_int_equal(r.delay_ms, 10000);
	assert_string_equal(r.reason, "wrong password");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_master_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_master_sasl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_block_and_master_bucket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rehash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rehash_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delayed_attempts_capped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
