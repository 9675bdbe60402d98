#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_STR_RING 8
#define LOG_STR_MAX 512

static int log_fd = 2;
static bool log_fd_owned;
static enum log_format log_fmt = LOG_FORMAT_CONSOLE;
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_level_parse(const char *s, enum log_level *level_r)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*level_r = LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

int log_open(const char *output, enum log_format format, enum log_level level,
	     const char **error_r)
{
	int fd;

	if (output == NULL || strcmp(output, "stderr") == 0 || output[0] == '\0') {
		fd = 2;
	} else if (strcmp(output, "stdout") == 0) {
		fd = 1;
	} else {
		fd = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1) {
			*error_r = strerror(errno);
			return -1;
		}
	}
	log_close();
	log_fd = fd;
	log_fd_owned = fd > 2;
	log_fmt = format;
	log_min = level;
	return 0;
}

void log_close(void)
{
	if (log_fd_owned)
		(void)close(log_fd);
	log_fd = 2;
	log_fd_owned = false;
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

void log_ctx_init(struct log_ctx *ctx, const char *proto, const char *remote)
{
	unsigned char rnd[6];
	static const char hex[] = "0123456789abcdef";

	*ctx = (struct log_ctx){ .proto = proto };
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++) {
		ctx->sid[2 * i] = hex[rnd[i] >> 4];
		ctx->sid[2 * i + 1] = hex[rnd[i] & 15];
	}
	ctx->sid[12] = '\0';
	if (remote != NULL)
		snprintf(ctx->remote, sizeof(ctx->remote), "%s", remote);
}

/* Escapes into out (size >= 8); quotes when the value has anything but
   plain printable ASCII without spaces, quotes, '=' or backslashes. */
static void escape_value(const char *s, size_t n, char *out, size_t size, bool force_quotes)
{
	static const char hex[] = "0123456789abcdef";
	bool quote = force_quotes || n == 0;
	size_t o = 0;

	for (size_t i = 0; i < n && !quote; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\')
			quote = true;
	}
	if (quote)
		out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[4];
		size_t tn;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			tn = 2;
		} else if (c < ' ' || c >= 0x7f) {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15];
			tn = 4;
		} else {
			tmp[0] = (char)c;
			tn = 1;
		}
		if (o + tn + 5 > size) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, tmp, tn);
		o += tn;
	}
	if (quote)
		out[o++] = '"';
	out[o] = '\0';
}

const char *log_strn(const char *s, size_t n)
{
	static _Thread_local char ring[LOG_STR_RING][LOG_STR_MAX];
	static _Thread_local unsigned next;
	char *out = ring[next++ % LOG_STR_RING];

	if (s == NULL)
		return "-";
	escape_value(s, n, out, LOG_STR_MAX, false);
	return out;
}

const char *log_str(const char *s)
{
	return s == NULL ? "-" : log_strn(s, strlen(s));
}

static size_t append(char *line, size_t o, const char *fmt, ...) PRINTF_FMT(3, 4);
static size_t append(char *line, size_t o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o >= LOG_LINE_MAX)
		return o;
	va_start(ap, fmt);
	n = vsnprintf(line + o, LOG_LINE_MAX - o, fmt, ap);
	va_end(ap);
	if (n < 0)
		return o;
	return MIN(o + (size_t)n, LOG_LINE_MAX - 1);
}

void log_vmsg(enum log_level level, const struct log_ctx *ctx, const char *event,
	      const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX], msg[LOG_LINE_MAX / 2], ts[32];
	struct timespec now;
	struct tm tm;
	size_t o = 0;
	int n;

	if (level < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = fmt == NULL ? 0 : vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';

	if (log_fmt == LOG_FORMAT_JSON) {
		char esc[sizeof(msg) + 64];

		o = append(line, o, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", ts,
			   now.tv_nsec / 1000000, level_names[level]);
		if (ctx != NULL) {
			o = append(line, o, ",\"sid\":\"%s\"", ctx->sid);
			if (ctx->proto != NULL)
				o = append(line, o, ",\"proto\":\"%s\"", ctx->proto);
			if (ctx->remote[0] != '\0') {
				escape_value(ctx->remote, strlen(ctx->remote), esc, sizeof(esc),
					     true);
				o = append(line, o, ",\"remote\":%s", esc);
			}
			if (ctx->user[0] != '\0') {
				escape_value(ctx->user, strlen(ctx->user), esc, sizeof(esc), true);
				o = append(line, o, ",\"user\":%s", esc);
			}
		}
		o = append(line, o, ",\"event\":\"%s\"", event);
		escape_value(msg, strlen(msg), esc, sizeof(esc), true);
		o = append(line, o, ",\"msg\":%s}", esc);
	} else {
		o = append(line, o, "%s.%03ldZ %s", ts, now.tv_nsec / 1000000,
			   level_names[level]);
		if (ctx != NULL) {
			o = append(line, o, " sid=%s", ctx->sid);
			if (ctx->proto != NULL)
				o = append(line, o, " proto=%s", ctx->proto);
			if (ctx->remote[0] != '\0')
				o = append(line, o, " remote=%s", ctx->remote);
			if (ctx->user[0] != '\0')
				o = append(line, o, " user=%s", log_str(ctx->user));
		}
		o = append(line, o, " event=%s", event);
		if (msg[0] != '\0')
			o = append(line, o, " %s", msg);
	}
	/* a newline inside msg would forge a line: msg carries only escaped
	   values, but make sure anyway */
	for (size_t i = 0; i < o; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[o++] = '\n';
	(void)!write(log_fd, line, o);
}

void log_msg(enum log_level level, const struct log_ctx *ctx, const char *event,
	     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, ctx, event, fmt, ap);
	va_end(ap);
}
