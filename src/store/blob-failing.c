/* The "failing" wrapper: fails chosen calls of the instance it wraps with
   a chosen error, so storage code can be tested against every failure
   (STYLE §11; after Dovecot's fs-randomfail). The rule is set by the test
   while no call runs; the counters are atomic, so calls may come from
   several threads. */

#include "blob-private.h"

#include <stdatomic.h>
#include <stdlib.h>

struct blob_failing {
	struct blob b;
	enum blob_op op; /* BLOB_OP_COUNT: any */
	unsigned nth;    /* 0: every matching call */
	enum blob_err code;
	bool after;
	atomic_uint calls[BLOB_OP_COUNT];
	atomic_uint matched;
};

/* Counts the call; true when it is to fail. */
static bool blob_failing_hit(struct blob_failing *f, enum blob_op op)
{
	atomic_fetch_add(&f->calls[op], 1);
	if (f->code == BLOB_OK || (f->op != BLOB_OP_COUNT && f->op != op))
		return false;
	return f->nth == 0 || atomic_fetch_add(&f->matched, 1) + 1 == f->nth;
}

static int blob_failing_fail(struct blob_failing *f, enum blob_op op, struct blob_error *err)
{
	blob_error_set(err, f->code, "injected %s failure on %s", blob_err_name(f->code),
		       blob_op_name(op));
	return -1;
}

/* Runs one call: before it (fail instead), or after it (fail anyway). */
#define BLOB_FAILING_CALL(b, op, err, call)                                  \
	do {                                                                 \
		struct blob_failing *f_ = (struct blob_failing *)(b);        \
		bool fail_ = blob_failing_hit(f_, (op));                     \
		if (fail_ && !f_->after)                                     \
			return blob_failing_fail(f_, (op), (err));           \
		if ((call) < 0)                                              \
			return -1;                                           \
		return fail_ ? blob_failing_fail(f_, (op), (err)) : 0;       \
	} while (0)

static int blob_failing_put(struct blob *b, const char *key, struct blob_istream *in,
			    struct blob_error *err)
{
	BLOB_FAILING_CALL(b, BLOB_OP_PUT, err, blob_inner_put(b, key, in, err));
}

static int blob_failing_get(struct blob *b, const char *key, struct blob_sink *sink,
			    struct blob_read_info *info_r, struct blob_error *err)
{
	BLOB_FAILING_CALL(b, BLOB_OP_GET, err, blob_inner_get(b, key, sink, info_r, err));
}

static int blob_failing_get_range(struct blob *b, const char *key, uint64_t offset,
				  uint64_t len, struct blob_sink *sink,
				  struct blob_read_info *info_r, struct blob_error *err)
{
	BLOB_FAILING_CALL(b, BLOB_OP_GET, err,
			  blob_inner_get_range(b, key, offset, len, sink, info_r, err));
}

static int blob_failing_head(struct blob *b, const char *key, struct blob_stat *st_r,
			     struct blob_error *err)
{
	BLOB_FAILING_CALL(b, BLOB_OP_HEAD, err, blob_inner_head(b, key, st_r, err));
}

static int blob_failing_del(struct blob *b, const char *key, struct blob_error *err)
{
	BLOB_FAILING_CALL(b, BLOB_OP_DELETE, err, blob_inner_del(b, key, err));
}

static int blob_failing_copy(struct blob *b, const char *src, const char *dst,
			     struct blob_error *err)
{
	BLOB_FAILING_CALL(b, BLOB_OP_COPY, err, blob_inner_copy(b, src, dst, err));
}

static int blob_failing_list(struct blob *b, const char *prefix, blob_list_entry_fn *fn,
			     void *ctx, struct blob_error *err)
{
	BLOB_FAILING_CALL(b, BLOB_OP_LIST, err, blob_inner_list(b, prefix, fn, ctx, err));
}

static void blob_failing_close(struct blob *b)
{
	free(b);
}

const struct blob_vfuncs blob_failing_vfuncs = {
	.name = "failing",
	.put = blob_failing_put,
	.get = blob_failing_get,
	.get_range = blob_failing_get_range,
	.head = blob_failing_head,
	.del = blob_failing_del,
	.copy = blob_failing_copy,
	.list = blob_failing_list,
	.close = blob_failing_close,
};

struct blob *blob_failing_wrap(struct blob *inner)
{
	struct blob_failing *f = xcalloc(1, sizeof(*f));

	f->b.v = &blob_failing_vfuncs;
	f->b.inner = inner;
	f->op = BLOB_OP_COUNT;
	f->code = BLOB_OK;
	for (size_t i = 0; i < BLOB_OP_COUNT; i++)
		atomic_init(&f->calls[i], 0);
	atomic_init(&f->matched, 0);
	return &f->b;
}

static struct blob_failing *blob_failing_layer(struct blob *b)
{
	struct blob *layer = blob_find_layer(b, &blob_failing_vfuncs);

	REQUIRE(layer != NULL);
	return (struct blob_failing *)layer;
}

void blob_failing_set(struct blob *b, enum blob_op op, unsigned nth, enum blob_err code,
		      bool after)
{
	struct blob_failing *f = blob_failing_layer(b);

	f->op = op;
	f->nth = nth;
	f->code = code;
	f->after = after;
	atomic_store(&f->matched, 0);
}

unsigned blob_failing_calls(struct blob *b, enum blob_op op)
{
	struct blob_failing *f = blob_failing_layer(b);
	unsigned sum = 0;

	if (op != BLOB_OP_COUNT)
		return atomic_load(&f->calls[op]);
	for (size_t i = 0; i < BLOB_OP_COUNT; i++)
		sum += atomic_load(&f->calls[i]);
	return sum;
}
