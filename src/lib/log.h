#ifndef SORA_LIB_LOG_H
#define SORA_LIB_LOG_H

/* One line per event, key=value (or one JSON object per line), with the
   session id, protocol and real client address of the connection on every
   line. Thread-safe: a line is formatted on the stack and written with one
   write(2). Values that come from the network go through log_str(), which
   quotes and escapes, so nobody can forge a log line. Never pass a password,
   AUTH payload or key to any of these functions. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_CONSOLE, LOG_FORMAT_JSON };

struct log_ctx {
	char sid[13];     /* 12 hex digits, unique per connection */
	const char *proto; /* static string: "imap", "lmtp", … or NULL */
	char remote[64];  /* client address as the session sees it */
	char user[256];   /* empty until authenticated */
};

/* output: "stderr", "stdout" or a file path (appended). */
int log_open(const char *output, enum log_format format, enum log_level level,
	     const char **error_r);
void log_close(void);
bool log_enabled(enum log_level level);
int log_level_parse(const char *s, enum log_level *level_r);

/* Fills sid with a fresh random id and copies remote. */
void log_ctx_init(struct log_ctx *ctx, const char *proto, const char *remote);

void log_msg(enum log_level level, const struct log_ctx *ctx, const char *event,
	     const char *fmt, ...) PRINTF_FMT(4, 5);
void log_vmsg(enum log_level level, const struct log_ctx *ctx, const char *event,
	      const char *fmt, va_list ap) PRINTF_FMT(4, 0);

#define log_debug(ctx, ev, ...) log_msg(LOG_LEVEL_DEBUG, ctx, ev, __VA_ARGS__)
#define log_info(ctx, ev, ...) log_msg(LOG_LEVEL_INFO, ctx, ev, __VA_ARGS__)
#define log_warn(ctx, ev, ...) log_msg(LOG_LEVEL_WARN, ctx, ev, __VA_ARGS__)
#define log_error(ctx, ev, ...) log_msg(LOG_LEVEL_ERROR, ctx, ev, __VA_ARGS__)

/* A printable, quoted-when-needed form of untrusted bytes, in a small
   thread-local ring (valid for the next few calls; long values are cut). */
const char *log_str(const char *s);
const char *log_strn(const char *s, size_t n);

#endif
