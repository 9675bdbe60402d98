#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/arena.h"
#include "../lib/util.h"
#include "../net/cidr.h"
#include "../store/store.h"
#include "ratelimit-store.h"
#include "ratelimit.h"
#include "sasl.h"

#define AUTH_EXPIRE_INTERVAL_MS 60000
#define AUTH_DELAYED_MAX 16 /* largest accepted max_delayed_per_ip */
#define AUTH_DELAY_PROBES 8

/* The delays handed out to one IP that have not run out yet. A delay is
   counted until its end even when the client leaves earlier: stricter, and
   it needs no call back from the protocol. */
struct auth_delay_slot {
	char ip[64]; /* the limiter's IP key (an address or an IPv6 /64); "" = free */
	uint64_t until[AUTH_DELAYED_MAX];
};

struct auth {
	struct store *store;
	struct ratelimit *rl; /* NULL when rate limiting is off */
	struct ratelimit_store *rls; /* rl's persisted blocks; NULL without a store */
	struct auth_settings set;
	_Atomic uint64_t next_expire_ms;

	pthread_mutex_t delay_lock;
	struct auth_delay_slot *delays; /* AUTH_DELAY_TABLE_SIZE; NULL without rl */
};

struct worker_pool *auth_pool(const struct auth *a)
{
	return a->set.pool;
}

struct auth *auth_new(struct store *st, const struct auth_settings *set)
{
	struct auth *a = xcalloc(1, sizeof(*a));

	a->store = st;
	a->set = *set;
	if (a->set.max_delayed_per_ip == 0)
		a->set.max_delayed_per_ip = AUTH_MAX_DELAYED_PER_IP_DEFAULT;
	a->set.max_delayed_per_ip = MIN(a->set.max_delayed_per_ip, (unsigned)AUTH_DELAYED_MAX);
	pthread_mutex_init(&a->delay_lock, NULL);
	if (set->server->auth_rate_limit.enabled) {
		struct ratelimit_options opts = { 0 };

		a->delays = xcalloc(AUTH_DELAY_TABLE_SIZE, sizeof(*a->delays));
		if (st != NULL)
			a->rls = ratelimit_store_new(st, &set->server->auth_rate_limit, &opts);
		a->rl = ratelimit_new_with(&set->server->auth_rate_limit, &opts);
		if (a->rls != NULL)
			ratelimit_store_attach(a->rls, a->rl);
	}
	return a;
}

void auth_free(struct auth **ap)
{
	struct auth *a = *ap;

	if (a == NULL)
		return;
	ratelimit_store_free(&a->rls); /* stops its watcher, which uses rl */
	ratelimit_free(&a->rl);
	free(a->delays);
	pthread_mutex_destroy(&a->delay_lock);
	free(a);
	*ap = NULL;
}

static size_t delay_hash(const char *s)
{
	size_t h = 5381;

	for (; *s != '\0'; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

static unsigned delay_slot_live(const struct auth_delay_slot *slot, unsigned max, uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < max; i++)
		n += slot->until[i] > now;
	return n;
}

/* true: the IP may wait out delay_ms (recorded); false: it already holds
   max_delayed_per_ip delays. An IP that finds no room in the table is let
   through: the cap is a bound on held work, not a rule of its own. */
static bool delay_admit(struct auth *a, const char *ip, uint64_t now, uint64_t delay_ms)
{
	unsigned max = a->set.max_delayed_per_ip;
	char key[sizeof(a->delays->ip)];
	struct auth_delay_slot *slot = NULL, *free_slot = NULL;
	size_t h;
	bool admit = true;

	if (a->delays == NULL || ip == NULL || ip[0] == '\0')
		return true;
	(void)ratelimit_ip_key(ip, RATELIMIT_IPV6_PREFIX_DEFAULT, key, sizeof(key));
	h = delay_hash(key);
	pthread_mutex_lock(&a->delay_lock);
	for (unsigned p = 0; p < AUTH_DELAY_PROBES; p++) {
		struct auth_delay_slot *s = &a->delays[(h + p) % AUTH_DELAY_TABLE_SIZE];

		if (s->ip[0] != '\0' && strcmp(s->ip, key) == 0) {
			slot = s;
			break;
		}
		if (free_slot == NULL && (s->ip[0] == '\0' || delay_slot_live(s, max, now) == 0))
			free_slot = s;
	}
	if (slot == NULL && free_slot != NULL) {
		slot = free_slot;
		*slot = (struct auth_delay_slot){ 0 };
		snprintf(slot->ip, sizeof(slot->ip), "%s", key);
	}
	if (slot != NULL) {
		admit = false;
		for (unsigned i = 0; i < max; i++) {
			if (slot->until[i] <= now) {
				slot->until[i] = now + delay_ms;
				admit = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&a->delay_lock);
	return admit;
}

static bool secret_equal(const char *configured, const char *given, size_t given_len)
{
	return configured != NULL &&
	       util_mem_equal_ct(configured, strlen(configured), given, given_len);
}

static void fail(struct auth_result *res, const char *reason)
{
	res->status = AUTH_FAILED;
	res->reason = reason;
}

static void tempfail(struct auth_result *res, const char *reason)
{
	res->status = AUTH_TEMPFAIL;
	res->reason = reason;
}

/* The account of a target address, for logins made by a master. */
static void open_as_master(struct auth *a, const char *address, struct auth_result *res)
{
	struct store_error err;
	int64_t id;

	if (store_account_find(a->store, address, false, &id, &err) < 0) {
		if (err.code == STORE_NOT_FOUND)
			fail(res, "master login for unknown user");
		else
			tempfail(res, "store error");
		return;
	}
	res->status = AUTH_OK;
	res->account_id = id;
	res->via_master = true;
	snprintf(res->address, sizeof(res->address), "%s", address);
}

static void maybe_rehash(struct auth *a, const struct store_credential *cred,
			 const struct auth_request *req, struct auth_result *res)
{
	struct store_error err;
	char *fresh = NULL, *pw;
	const char *error;

	if (!a->set.rehash || !password_needs_rehash(cred->password_hash, &a->set.params))
		return;
	if (memchr(req->password, '\0', req->password_len) != NULL)
		return;
	pw = xstrndup(req->password, req->password_len);
	if (password_hash(PASSWORD_SCHEME_BLF_CRYPT, pw, &a->set.params, &fresh, &error) == 0 &&
	    store_credential_set_password(a->store, cred->address, fresh, &err) == 0)
		res->rehashed = true;
	util_wipe(pw, req->password_len);
	free(pw);
	free(fresh);
}

static void verify_user(struct auth *a, struct arena *arena, const char *address,
			const struct auth_request *req, struct auth_result *res)
{
	struct store_credential cred;
	struct store_error err;
	const char *error;
	bool match = false;

	if (store_credential_lookup(a->store, address, arena, &cred, &err) < 0) {
		if (err.code != STORE_NOT_FOUND) {
			tempfail(res, "store error");
			return;
		}
		/* as long as a wrong password for a real user */
		password_verify_dummy(&a->set.params);
		fail(res, "unknown user");
		return;
	}
	if (password_verify(cred.password_hash, req->password, req->password_len, address,
			    &match, &error) < 0) {
		fail(res, "unusable stored hash");
		return;
	}
	if (!match) {
		fail(res, "wrong password");
		return;
	}
	res->status = AUTH_OK;
	res->account_id = cred.account_id;
	snprintf(res->address, sizeof(res->address), "%s", cred.address);
	maybe_rehash(a, &cred, req, res);
}

/* SASL authzid ≠ authcid: the proxy → backend master SASL login. */
static void verify_master_sasl(struct auth *a, struct arena *arena, const struct auth_request *req,
			       struct auth_result *res)
{
	const struct config_server *sc = a->set.server;
	struct sasl_login_name target;
	const char *error;

	if (sc->master_sasl_username == NULL || strcmp(req->login, sc->master_sasl_username) != 0) {
		fail(res, "authzid not allowed");
		return;
	}
	if (sc->master_sasl_allowed_networks.count > 0 &&
	    !cidr_list_match(&sc->master_sasl_allowed_networks,
			     (const struct sockaddr *)&req->socket_peer)) {
		fail(res, "master SASL from a network not allowed");
		return;
	}
	if (!secret_equal(sc->master_sasl_password, req->password, req->password_len)) {
		fail(res, "wrong master SASL password");
		return;
	}
	if (sasl_login_name_parse(slice_cstr(req->authzid), NULL, arena, &target, &error) < 0) {
		fail(res, "invalid authzid");
		return;
	}
	open_as_master(a, target.address, res);
}

void auth_verify(struct auth *a, const struct auth_request *req, struct auth_result *res)
{
	const struct config_server *sc = a->set.server;
	struct arena *arena = arena_new(1024);
	struct sasl_login_name name;
	enum ratelimit_verdict verdict = RATELIMIT_ALLOW;
	enum ratelimit_kind kind;
	const char *error, *rl_user;
	bool master_sasl;

	*res = (struct auth_result){ .status = AUTH_FAILED, .reason = "invalid login name" };
	if (a->rl != NULL && req->now_ms >= a->next_expire_ms) {
		/* bounded memory: forget what no window or block needs */
		a->next_expire_ms = req->now_ms + AUTH_EXPIRE_INTERVAL_MS;
		(void)ratelimit_expire(a->rl, req->now_ms);
	}
	master_sasl = req->authzid != NULL && req->authzid[0] != '\0' &&
		      strcmp(req->authzid, req->login) != 0;
	if (master_sasl) {
		/* the authcid is the master SASL name, not an address */
		name = (struct sasl_login_name){ .address = req->login };
	} else if (sasl_login_name_parse(slice_cstr(req->login), sc->master_username, arena,
					 &name, &error) < 0) {
		/* nothing to look up, but as slow as a wrong password, and
		   counted against the IP like one */
		password_verify_dummy(&a->set.params);
		if (a->rl != NULL)
			ratelimit_record_failure(a->rl, req->client_ip, NULL, RATELIMIT_KIND_USER,
						 req->now_ms);
		goto out;
	}
	if (name.detail != NULL)
		snprintf(res->detail, sizeof(res->detail), "%s", name.detail);
	kind = master_sasl || name.is_master ? RATELIMIT_KIND_MASTER : RATELIMIT_KIND_USER;
	rl_user = master_sasl ? req->login : name.is_master ? sc->master_username : name.address;
	if (a->rl != NULL) {
		verdict = ratelimit_check(a->rl, req->client_ip, rl_user, kind, req->now_ms,
					  &res->delay_ms);
	}
	if (res->delay_ms > 0 && !delay_admit(a, req->client_ip, req->now_ms, res->delay_ms)) {
		/* too many of this IP's attempts are waiting already: refuse
		   this one now, with the wrong-password answer */
		res->delay_ms = 0;
		fail(res, "too many delayed attempts");
		goto out;
	}
	if (verdict != RATELIMIT_ALLOW) {
		fail(res, ratelimit_verdict_name(verdict));
		goto out;
	}
	if (master_sasl) {
		verify_master_sasl(a, arena, req, res);
	} else if (name.is_master) {
		if (secret_equal(sc->master_password, req->password, req->password_len))
			open_as_master(a, name.address, res);
		else
			fail(res, "wrong master password");
	} else {
		verify_user(a, arena, name.address, req, res);
	}
	if (a->rl != NULL && res->status != AUTH_TEMPFAIL) {
		if (res->status == AUTH_OK)
			ratelimit_record_success(a->rl, req->client_ip, rl_user, kind, req->now_ms);
		else
			ratelimit_record_failure(a->rl, req->client_ip, rl_user, kind, req->now_ms);
	}
out:
	/* fail closed happened inside the hooks; hand its cause up to log */
	if (a->rls != NULL)
		(void)ratelimit_store_take_error(a->rls, res->store_error, sizeof(res->store_error));
	arena_free(&arena);
}
