/* Login rate limiter (contract and rules in ratelimit.h).

   Design: one hash table of entries, each in one of three key spaces (IP,
   username, master name), chained per bucket and hashed with SipHash-2-4
   under a random per-instance key, so chosen usernames cannot pile into
   one bucket. Entries belong to two pools (IP; username + master), each
   with its own LRU list and cap: the least recently used entry of the
   pool is evicted when a new one would exceed the cap. An entry carries
   a ring of its last N failure times (N = the window's max attempts), so
   "N failures within W" is exact: the ring is full and its oldest stamp
   is younger than W.

   Locking: rl->lock guards the table, the lists and every entry; the
   statistics counters are atomics; hooks are called without the lock. */

#include "ratelimit.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "../lib/util.h"

enum rl_space { RL_SPACE_IP, RL_SPACE_USER, RL_SPACE_MASTER, RL_SPACE_COUNT };
enum rl_pool { RL_POOL_IP, RL_POOL_USER, RL_POOL_COUNT };

struct rl_known {
	uint64_t ip_hash;
	uint64_t at_ms;
	bool used;
};

struct rl_entry {
	struct rl_entry *hnext;           /* bucket chain */
	struct rl_entry *lru_prev, *lru_next; /* pool list, most recent first */
	uint64_t hash;
	enum rl_space space;
	uint32_t streak;                  /* IP: failures since success */
	uint64_t last_failure_ms;         /* valid when streak > 0 or ring_used > 0 */
	uint64_t block_until_ms;          /* IP: fast block; 0 = none */
	struct rl_known known[RATELIMIT_KNOWN_ADDRS]; /* username: good IPs */
	uint32_t ring_size, ring_used, ring_next;
	char *key;                        /* after the ring, NUL-terminated */
	uint64_t ring[];                  /* failure times, ring_size slots */
};

struct rl_lru {
	struct rl_entry *head, *tail;
	size_t count, max;
};

struct ratelimit {
	struct config_rate_limit cfg;
	struct ratelimit_hooks hooks;
	bool has_hooks;
	uint64_t known_address_ms;
	uint64_t streak_ttl_ms;
	unsigned ipv6_prefix_len;
	uint32_t ip_ring, user_ring;      /* ring sizes per pool, 0: window off */
	uint64_t sip_k0, sip_k1;

	pthread_mutex_t lock;
	struct rl_entry **buckets;
	size_t bucket_count;              /* a power of two */
	struct rl_lru pools[RL_POOL_COUNT];

	_Atomic uint64_t verdicts[RATELIMIT_VERDICT_COUNT];
	_Atomic uint64_t failures, successes, evicted, expired;
};

static const char *const ratelimit_verdict_names[] = {
	"allow", "fast_block", "ip_window", "username_window", "shared",
};
static_assert(ARRAY_SIZE(ratelimit_verdict_names) == RATELIMIT_VERDICT_COUNT,
	      "ratelimit_verdict_names out of sync");

const char *ratelimit_verdict_name(enum ratelimit_verdict verdict)
{
	return (unsigned)verdict < RATELIMIT_VERDICT_COUNT ? ratelimit_verdict_names[verdict] :
								"?";
}

/* ---- SipHash-2-4 (Aumasson, Bernstein 2012) ---- */

#define RL_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void rl_sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = RL_ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = RL_ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = RL_ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = RL_ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = RL_ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = RL_ROTL(v[2], 32);
}

static uint64_t rl_siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
	uint64_t v[4] = {
		k0 ^ 0x736f6d6570736575ULL,
		k1 ^ 0x646f72616e646f6dULL,
		k0 ^ 0x6c7967656e657261ULL,
		k1 ^ 0x7465646279746573ULL,
	};
	uint64_t m, b = (uint64_t)len << 56;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		m = 0;
		for (int k = 7; k >= 0; k--)
			m = m << 8 | in[i + (size_t)k];
		v[3] ^= m;
		rl_sip_round(v);
		rl_sip_round(v);
		v[0] ^= m;
	}
	for (size_t k = 0; i + k < len; k++)
		b |= (uint64_t)in[i + k] << (8 * k);
	v[3] ^= b;
	rl_sip_round(v);
	rl_sip_round(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++)
		rl_sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t rl_hash(const struct ratelimit *rl, enum rl_space space, const char *key,
			size_t len)
{
	/* the space goes into the key, so "u" and "m" namespaces never meet */
	return rl_siphash(rl->sip_k0 ^ (uint64_t)space, rl->sip_k1, (const unsigned char *)key,
			  len);
}

/* ---- keys ---- */

/* The canonical text of an IPv6 address cut to its first prefix bits:
   "2001:db8:1:2::/64", or the address itself for 128. */
static bool rl_ipv6_key(unsigned char addr[16], unsigned prefix, char *out, size_t out_size)
{
	size_t len;
	int ret;

	for (unsigned bit = prefix; bit < 128; bit++)
		addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	if (inet_ntop(AF_INET6, addr, out, (socklen_t)out_size) == NULL)
		return false;
	if (prefix == 128)
		return true;
	len = strlen(out);
	ret = snprintf(out + len, out_size - len, "/%u", prefix);
	return ret >= 0 && (size_t)ret < out_size - len;
}

/* Canonical key of an IP address text (without brackets or zone), or
   false when it is not one. */
static bool rl_ip_canonical(const char *text, unsigned prefix, char *out, size_t out_size)
{
	static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	unsigned char addr[16];

	if (inet_pton(AF_INET, text, addr) == 1)
		return inet_ntop(AF_INET, addr, out, (socklen_t)out_size) != NULL;
	if (inet_pton(AF_INET6, text, addr) != 1)
		return false;
	if (memcmp(addr, v4mapped, sizeof(v4mapped)) == 0)
		return inet_ntop(AF_INET, addr + 12, out, (socklen_t)out_size) != NULL;
	return rl_ipv6_key(addr, prefix, out, out_size);
}

size_t ratelimit_ip_key(const char *ip, unsigned prefix, char *out, size_t out_size)
{
	char text[INET6_ADDRSTRLEN + 1], key[INET6_ADDRSTRLEN + 8];
	const char *p = ip, *zone, *src = ip;
	size_t len = ip == NULL ? 0 : strlen(ip), n;

	if (out_size == 0)
		return 0;
	if (prefix == 0 || prefix > 128)
		prefix = RATELIMIT_IPV6_PREFIX_DEFAULT;
	if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
		p++;
		len -= 2;
	}
	zone = len == 0 ? NULL : memchr(p, '%', len); /* "fe80::1%eth0" */
	if (zone != NULL)
		len = (size_t)(zone - p);
	if (len > 0 && len < sizeof(text)) {
		memcpy(text, p, len);
		text[len] = '\0';
		if (rl_ip_canonical(text, prefix, key, sizeof(key)))
			src = key;
	}
	/* not an address: the text as given */
	n = src == NULL ? 0 : MIN(strlen(src), out_size - 1);
	if (n > 0)
		memcpy(out, src, n);
	out[n] = '\0';
	return n;
}

/* Lower-cased (ASCII), cut at RATELIMIT_KEY_MAX. */
static size_t rl_user_key(const char *user, char out[RATELIMIT_KEY_MAX + 1])
{
	size_t n = 0;

	if (user != NULL) {
		for (; n < RATELIMIT_KEY_MAX && user[n] != '\0'; n++) {
			char c = user[n];

			out[n] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
	}
	out[n] = '\0';
	return n;
}

/* ---- table ---- */

static enum rl_pool rl_pool_of(enum rl_space space)
{
	return space == RL_SPACE_IP ? RL_POOL_IP : RL_POOL_USER;
}

static void rl_lru_unlink(struct rl_lru *l, struct rl_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		l->head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		l->tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void rl_lru_push(struct rl_lru *l, struct rl_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = l->head;
	if (l->head != NULL)
		l->head->lru_prev = e;
	l->head = e;
	if (l->tail == NULL)
		l->tail = e;
}

static void rl_touch(struct ratelimit *rl, struct rl_entry *e)
{
	struct rl_lru *l = &rl->pools[rl_pool_of(e->space)];

	if (l->head == e)
		return;
	rl_lru_unlink(l, e);
	rl_lru_push(l, e);
}

static struct rl_entry *rl_find(struct ratelimit *rl, enum rl_space space, const char *key,
				size_t len, uint64_t hash)
{
	for (struct rl_entry *e = rl->buckets[hash & (rl->bucket_count - 1)]; e != NULL;
	     e = e->hnext) {
		if (e->hash == hash && e->space == space && strlen(e->key) == len &&
		    memcmp(e->key, key, len) == 0)
			return e;
	}
	return NULL;
}

static void rl_remove(struct ratelimit *rl, struct rl_entry *e)
{
	struct rl_entry **pp = &rl->buckets[e->hash & (rl->bucket_count - 1)];
	struct rl_lru *l = &rl->pools[rl_pool_of(e->space)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	rl_lru_unlink(l, e);
	l->count--;
	free(e);
}

static void rl_grow(struct ratelimit *rl)
{
	size_t n = rl->bucket_count * 2;
	struct rl_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < rl->bucket_count; i++) {
		struct rl_entry *e = rl->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(rl->buckets);
	rl->buckets = b;
	rl->bucket_count = n;
}

static struct rl_entry *rl_get(struct ratelimit *rl, enum rl_space space, const char *key,
			       size_t len, uint64_t hash)
{
	struct rl_entry *e = rl_find(rl, space, key, len, hash);
	struct rl_lru *l = &rl->pools[rl_pool_of(space)];
	uint32_t ring = space == RL_SPACE_IP ? rl->ip_ring : rl->user_ring;

	if (e != NULL) {
		rl_touch(rl, e);
		return e;
	}
	if (l->count >= l->max && l->tail != NULL) {
		rl_remove(rl, l->tail);
		atomic_fetch_add_explicit(&rl->evicted, 1, memory_order_relaxed);
	}
	e = xmalloc(sizeof(*e) + ring * sizeof(e->ring[0]) + len + 1);
	*e = (struct rl_entry){ .hash = hash, .space = space, .ring_size = ring };
	e->key = (char *)(e->ring + ring);
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	e->hnext = rl->buckets[hash & (rl->bucket_count - 1)];
	rl->buckets[hash & (rl->bucket_count - 1)] = e;
	rl_lru_push(l, e);
	l->count++;
	if (rl->pools[RL_POOL_IP].count + rl->pools[RL_POOL_USER].count > rl->bucket_count)
		rl_grow(rl);
	return e;
}

/* ---- rules ---- */

/* t happened less than window ago (a time in the future counts). */
static bool rl_within(uint64_t t, uint64_t now, uint64_t window)
{
	return t >= now || now - t < window;
}

static void rl_ring_push(struct rl_entry *e, uint64_t now)
{
	if (e->ring_size == 0)
		return;
	e->ring[e->ring_next] = now;
	e->ring_next = (e->ring_next + 1) % e->ring_size;
	if (e->ring_used < e->ring_size)
		e->ring_used++;
}

/* Failures within window; the ring holds the last ring_size of them. */
static uint32_t rl_ring_count(const struct rl_entry *e, uint64_t now, uint64_t window)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < e->ring_used; i++)
		n += rl_within(e->ring[i], now, window);
	return n;
}

/* Has the window's limit been reached? */
static bool rl_window_full(const struct rl_entry *e, uint64_t now, uint64_t window)
{
	return e->ring_size > 0 && e->ring_used == e->ring_size &&
	       rl_ring_count(e, now, window) >= e->ring_size;
}

/* Forget a streak idle for longer than its lifetime. */
static void rl_streak_refresh(const struct ratelimit *rl, struct rl_entry *e, uint64_t now)
{
	if (e->streak > 0 && !rl_within(e->last_failure_ms, now, rl->streak_ttl_ms))
		e->streak = 0;
}

static uint64_t rl_delay(const struct config_rate_limit *c, uint32_t streak)
{
	uint64_t e, max = c->max_delay_ms;
	double r, base = c->delay_multiplier;

	if (c->delay_start_threshold == 0 || c->initial_delay_ms == 0 || max == 0 ||
	    streak < c->delay_start_threshold)
		return 0;
	if (c->initial_delay_ms >= max)
		return max;
	if (!(base > 1.0)) /* also NaN: a constant delay */
		return c->initial_delay_ms;
	/* initial * base^e by squaring; every factor left is >= 1, so stop
	   once over the cap (an overflow to inf is over it too) */
	e = streak - c->delay_start_threshold;
	r = (double)c->initial_delay_ms;
	while (e > 0 && r < (double)max) {
		if (e & 1)
			r *= base;
		base *= base;
		e >>= 1;
	}
	return r >= (double)max ? max : (uint64_t)r;
}

static bool rl_is_known(const struct ratelimit *rl, const struct rl_entry *u, uint64_t ip_hash,
			uint64_t now)
{
	for (size_t i = 0; i < RATELIMIT_KNOWN_ADDRS; i++) {
		if (u->known[i].used && u->known[i].ip_hash == ip_hash &&
		    rl_within(u->known[i].at_ms, now, rl->known_address_ms))
			return true;
	}
	return false;
}

static void rl_add_known(struct rl_entry *u, uint64_t ip_hash, uint64_t now)
{
	size_t slot = 0;

	for (size_t i = 0; i < RATELIMIT_KNOWN_ADDRS; i++) {
		if (u->known[i].used && u->known[i].ip_hash == ip_hash) {
			slot = i;
			break;
		}
		/* else the first free slot, or the oldest */
		if (!u->known[i].used) {
			if (u->known[slot].used)
				slot = i;
		} else if (u->known[slot].used && u->known[i].at_ms < u->known[slot].at_ms) {
			slot = i;
		}
	}
	u->known[slot] = (struct rl_known){ .ip_hash = ip_hash, .at_ms = now, .used = true };
}

static bool rl_has_known(const struct ratelimit *rl, const struct rl_entry *u, uint64_t now)
{
	for (size_t i = 0; i < RATELIMIT_KNOWN_ADDRS; i++) {
		if (u->known[i].used && rl_within(u->known[i].at_ms, now, rl->known_address_ms))
			return true;
	}
	return false;
}

/* Nothing left to remember? */
static bool rl_is_stale(const struct ratelimit *rl, struct rl_entry *e, uint64_t now)
{
	if (e->space == RL_SPACE_IP) {
		rl_streak_refresh(rl, e, now);
		if (e->block_until_ms > now || e->streak > 0)
			return false;
		return rl_ring_count(e, now, rl->cfg.ip_window_ms) == 0;
	}
	return rl_ring_count(e, now, rl->cfg.username_window_ms) == 0 &&
	       !rl_has_known(rl, e, now);
}

/* ---- public ---- */

struct ratelimit *ratelimit_new(const struct config_rate_limit *cfg)
{
	return ratelimit_new_with(cfg, NULL);
}

static uint32_t rl_ring_size(uint32_t max_attempts, uint64_t window)
{
	if (max_attempts == 0 || window == 0)
		return 0;
	return MIN(max_attempts, RATELIMIT_RING_MAX);
}

static void rl_seed(struct ratelimit *rl)
{
	uint64_t k[2];
	ssize_t n = getrandom(k, sizeof(k), 0);

	if (n != (ssize_t)sizeof(k)) {
		/* no entropy (very early boot): degrade to a guessable seed;
		   the table still works, only flooding gets easier */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		k[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)rl;
		k[1] = (uint64_t)ts.tv_sec ^ util_now_ms();
	}
	rl->sip_k0 = k[0];
	rl->sip_k1 = k[1];
	util_wipe(k, sizeof(k));
}

struct ratelimit *ratelimit_new_with(const struct config_rate_limit *cfg,
				     const struct ratelimit_options *opts)
{
	struct ratelimit_options o = opts == NULL ? (struct ratelimit_options){ 0 } : *opts;
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	rl->cfg = *cfg;
	if (o.hooks != NULL) {
		rl->hooks = *o.hooks;
		rl->has_hooks = true;
	}
	rl->known_address_ms =
		o.known_address_ms == 0 ? RATELIMIT_KNOWN_ADDRESS_MS_DEFAULT : o.known_address_ms;
	rl->ipv6_prefix_len = o.ipv6_prefix_len == 0 || o.ipv6_prefix_len > 128 ?
				      RATELIMIT_IPV6_PREFIX_DEFAULT :
				      o.ipv6_prefix_len;
	rl->streak_ttl_ms =
	    cfg->ip_window_ms > 0 ? cfg->ip_window_ms : RATELIMIT_STREAK_TTL_DEFAULT;
	rl->ip_ring = rl_ring_size(cfg->max_attempts_per_ip, cfg->ip_window_ms);
	rl->user_ring = rl_ring_size(cfg->max_attempts_per_username, cfg->username_window_ms);
	rl->pools[RL_POOL_IP].max =
		o.max_ip_entries == 0 ? RATELIMIT_MAX_IP_ENTRIES_DEFAULT : o.max_ip_entries;
	rl->pools[RL_POOL_USER].max = o.max_username_entries == 0 ?
					      RATELIMIT_MAX_USERNAME_ENTRIES_DEFAULT :
					      o.max_username_entries;
	rl->bucket_count = 256;
	rl->buckets = xcalloc(rl->bucket_count, sizeof(*rl->buckets));
	rl_seed(rl);
	REQUIRE(pthread_mutex_init(&rl->lock, NULL) == 0);
	return rl;
}

void ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl = rlp == NULL ? NULL : *rlp;

	if (rl == NULL)
		return;
	for (size_t i = 0; i < rl->bucket_count; i++) {
		struct rl_entry *e = rl->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(rl->buckets);
	(void)pthread_mutex_destroy(&rl->lock);
	util_wipe(rl, sizeof(*rl)); /* the SipHash key */
	free(rl);
	*rlp = NULL;
}

static enum rl_space rl_user_space(enum ratelimit_kind kind)
{
	return kind == RATELIMIT_KIND_MASTER ? RL_SPACE_MASTER : RL_SPACE_USER;
}

/* The locked part of ratelimit_check(). */
static enum ratelimit_verdict rl_check_locked(struct ratelimit *rl, const char *ip_key,
					      size_t ip_len, const char *user_key,
					      size_t user_len, enum ratelimit_kind kind,
					      uint64_t now, uint64_t *delay_r)
{
	const struct config_rate_limit *c = &rl->cfg;
	enum ratelimit_verdict v = RATELIMIT_ALLOW;
	uint64_t ip_hash = rl_hash(rl, RL_SPACE_IP, ip_key, ip_len);
	struct rl_entry *e;

	*delay_r = 0;
	e = ip_len == 0 ? NULL : rl_find(rl, RL_SPACE_IP, ip_key, ip_len, ip_hash);
	if (e != NULL) {
		rl_touch(rl, e);
		rl_streak_refresh(rl, e, now);
		if (e->block_until_ms > now)
			v = RATELIMIT_BLOCKED_FAST;
		else
			e->block_until_ms = 0;
		if (v == RATELIMIT_ALLOW && rl_window_full(e, now, c->ip_window_ms))
			v = RATELIMIT_BLOCKED_IP;
		*delay_r = rl_delay(c, e->streak);
	}
	if (v != RATELIMIT_ALLOW || user_len == 0 || rl->user_ring == 0)
		return v;
	e = rl_find(rl, rl_user_space(kind), user_key, user_len,
		    rl_hash(rl, rl_user_space(kind), user_key, user_len));
	if (e == NULL)
		return v;
	rl_touch(rl, e);
	if (rl_window_full(e, now, c->username_window_ms) &&
	    (ip_len == 0 || !rl_is_known(rl, e, ip_hash, now)))
		v = RATELIMIT_BLOCKED_USERNAME;
	return v;
}

enum ratelimit_verdict ratelimit_check(struct ratelimit *rl, const char *ip, const char *username,
				       enum ratelimit_kind kind, uint64_t now_ms,
				       uint64_t *delay_ms_r)
{
	char ip_key[RATELIMIT_KEY_MAX + 1], user_key[RATELIMIT_KEY_MAX + 1];
	size_t ip_len, user_len;
	enum ratelimit_verdict v;

	*delay_ms_r = 0;
	if (!rl->cfg.enabled) {
		atomic_fetch_add_explicit(&rl->verdicts[RATELIMIT_ALLOW], 1, memory_order_relaxed);
		return RATELIMIT_ALLOW;
	}
	ip_len = ratelimit_ip_key(ip, rl->ipv6_prefix_len, ip_key, sizeof(ip_key));
	user_len = rl_user_key(username, user_key);
	pthread_mutex_lock(&rl->lock);
	v = rl_check_locked(rl, ip_key, ip_len, user_key, user_len, kind, now_ms, delay_ms_r);
	pthread_mutex_unlock(&rl->lock);
	if (v == RATELIMIT_ALLOW && rl->has_hooks && rl->hooks.check != NULL) {
		v = rl->hooks.check(rl->hooks.context, ip_key, user_key, kind, now_ms);
		if (v != RATELIMIT_ALLOW)
			v = RATELIMIT_BLOCKED_SHARED;
	}
	atomic_fetch_add_explicit(&rl->verdicts[v], 1, memory_order_relaxed);
	return v;
}

static void rl_failure_locked(struct ratelimit *rl, const char *ip_key, size_t ip_len,
			      const char *user_key, size_t user_len, enum ratelimit_kind kind,
			      uint64_t now)
{
	const struct config_rate_limit *c = &rl->cfg;
	struct rl_entry *e;

	if (ip_len > 0) {
		e = rl_get(rl, RL_SPACE_IP, ip_key, ip_len,
			   rl_hash(rl, RL_SPACE_IP, ip_key, ip_len));
		rl_streak_refresh(rl, e, now);
		if (e->streak < UINT32_MAX)
			e->streak++;
		e->last_failure_ms = now;
		rl_ring_push(e, now);
		if (c->fast_block_threshold > 0 && c->fast_block_ms > 0 &&
		    e->streak >= c->fast_block_threshold)
			e->block_until_ms = now > UINT64_MAX - c->fast_block_ms ?
						    UINT64_MAX :
						    now + c->fast_block_ms;
	}
	if (user_len > 0 && rl->user_ring > 0) {
		enum rl_space space = rl_user_space(kind);

		e = rl_get(rl, space, user_key, user_len, rl_hash(rl, space, user_key, user_len));
		e->last_failure_ms = now;
		rl_ring_push(e, now);
	}
}

void ratelimit_record_failure(struct ratelimit *rl, const char *ip, const char *username,
			      enum ratelimit_kind kind, uint64_t now_ms)
{
	char ip_key[RATELIMIT_KEY_MAX + 1], user_key[RATELIMIT_KEY_MAX + 1];
	size_t ip_len, user_len;

	if (!rl->cfg.enabled)
		return;
	ip_len = ratelimit_ip_key(ip, rl->ipv6_prefix_len, ip_key, sizeof(ip_key));
	user_len = rl_user_key(username, user_key);
	pthread_mutex_lock(&rl->lock);
	rl_failure_locked(rl, ip_key, ip_len, user_key, user_len, kind, now_ms);
	pthread_mutex_unlock(&rl->lock);
	atomic_fetch_add_explicit(&rl->failures, 1, memory_order_relaxed);
	if (rl->has_hooks && rl->hooks.record != NULL)
		rl->hooks.record(rl->hooks.context, ip_key, user_key, kind, false, now_ms);
}

static void rl_success_locked(struct ratelimit *rl, const char *ip_key, size_t ip_len,
			      const char *user_key, size_t user_len, enum ratelimit_kind kind,
			      uint64_t now)
{
	uint64_t ip_hash = rl_hash(rl, RL_SPACE_IP, ip_key, ip_len);
	enum rl_space space = rl_user_space(kind);
	struct rl_entry *e;

	e = ip_len == 0 ? NULL : rl_find(rl, RL_SPACE_IP, ip_key, ip_len, ip_hash);
	if (e != NULL) {
		/* the streak (so the delay) and a fast block go; the window stays */
		e->streak = 0;
		e->block_until_ms = 0;
	}
	if (user_len == 0 || rl->user_ring == 0)
		return;
	if (ip_len == 0) {
		e = rl_find(rl, space, user_key, user_len, rl_hash(rl, space, user_key, user_len));
		if (e != NULL)
			e->ring_used = e->ring_next = 0;
		return;
	}
	e = rl_get(rl, space, user_key, user_len, rl_hash(rl, space, user_key, user_len));
	e->ring_used = e->ring_next = 0;
	rl_add_known(e, ip_hash, now);
}

void ratelimit_record_success(struct ratelimit *rl, const char *ip, const char *username,
			      enum ratelimit_kind kind, uint64_t now_ms)
{
	char ip_key[RATELIMIT_KEY_MAX + 1], user_key[RATELIMIT_KEY_MAX + 1];
	size_t ip_len, user_len;

	if (!rl->cfg.enabled)
		return;
	ip_len = ratelimit_ip_key(ip, rl->ipv6_prefix_len, ip_key, sizeof(ip_key));
	user_len = rl_user_key(username, user_key);
	pthread_mutex_lock(&rl->lock);
	rl_success_locked(rl, ip_key, ip_len, user_key, user_len, kind, now_ms);
	pthread_mutex_unlock(&rl->lock);
	atomic_fetch_add_explicit(&rl->successes, 1, memory_order_relaxed);
	if (rl->has_hooks && rl->hooks.record != NULL)
		rl->hooks.record(rl->hooks.context, ip_key, user_key, kind, true, now_ms);
}

size_t ratelimit_expire(struct ratelimit *rl, uint64_t now_ms)
{
	size_t dropped = 0;

	pthread_mutex_lock(&rl->lock);
	for (size_t p = 0; p < RL_POOL_COUNT; p++) {
		struct rl_entry *e = rl->pools[p].head, *next;

		for (; e != NULL; e = next) {
			next = e->lru_next;
			if (rl_is_stale(rl, e, now_ms)) {
				rl_remove(rl, e);
				dropped++;
			}
		}
	}
	pthread_mutex_unlock(&rl->lock);
	atomic_fetch_add_explicit(&rl->expired, dropped, memory_order_relaxed);
	return dropped;
}

void ratelimit_get_stats(struct ratelimit *rl, uint64_t now_ms, struct ratelimit_stats *stats_r)
{
	struct ratelimit_stats s = { 0 };

	pthread_mutex_lock(&rl->lock);
	s.ip_entries = rl->pools[RL_POOL_IP].count;
	s.username_entries = rl->pools[RL_POOL_USER].count;
	for (struct rl_entry *e = rl->pools[RL_POOL_IP].head; e != NULL; e = e->lru_next)
		s.blocked_ips += e->block_until_ms > now_ms;
	pthread_mutex_unlock(&rl->lock);
	for (size_t i = 0; i < RATELIMIT_VERDICT_COUNT; i++)
		s.verdicts[i] = atomic_load_explicit(&rl->verdicts[i], memory_order_relaxed);
	s.failures = atomic_load_explicit(&rl->failures, memory_order_relaxed);
	s.successes = atomic_load_explicit(&rl->successes, memory_order_relaxed);
	s.evicted = atomic_load_explicit(&rl->evicted, memory_order_relaxed);
	s.expired = atomic_load_explicit(&rl->expired, memory_order_relaxed);
	*stats_r = s;
}
