/*
 * log.c - one line per call on stderr, text or JSON.
 */
#include "log.h"
#include "clock.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static enum log_format out_format = LOG_TEXT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

#define LOG_MSG_MAX 2048
#define LOG_ESCAPED_MAX (4 * LOG_MSG_MAX)

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_configure(enum log_level min, enum log_format format)
{
	min_level = min;
	out_format = format;
}

/* Length of the valid UTF-8 sequence at s that is not a control character, or 0. */
static size_t printable_seq(const unsigned char *s)
{
	size_t n, i;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0; /* C0 control, DEL, stray continuation or invalid lead byte */
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (s[0] == 0xc2 && s[1] <= 0x9f)
		return 0; /* C1 control (U+0080..U+009F) */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0; /* overlong, surrogate or beyond U+10FFFF */
	return n;
}

/* Writes s into out (len > 0 bytes, truncating) with unprintable bytes as \xNN. */
static void escape_into(char *out, size_t len, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p != '\0') {
		size_t n = printable_seq(p);

		if (n == 0) {
			if (o + 5 > len)
				break;
			snprintf(out + o, 5, "\\x%02x", *p);
			o += 4;
			p++;
			continue;
		}
		if (o + n + 1 > len)
			break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
}

char *log_escape(const char *s)
{
	size_t len;
	char *out;

	if (s == NULL)
		return NULL;
	len = 4 * strlen(s) + 1;
	out = malloc(len);
	if (out != NULL)
		escape_into(out, len, s);
	return out;
}

static void write_json(enum log_level level, const struct log_ctx *ctx, const char *ts,
                       const char *msg)
{
	json_t *o = json_object();
	char *line = NULL;

	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(level_names[level]));
	if (ctx != NULL && ctx->ns != NULL)
		json_object_set_new(o, "namespace", json_string(ctx->ns));
	if (ctx != NULL && ctx->name != NULL)
		json_object_set_new(o, "name", json_string(ctx->name));
	if (ctx != NULL && ctx->run_id != NULL)
		json_object_set_new(o, "runId", json_string(ctx->run_id));
	if (json_object_set_new(o, "msg", json_string(msg)) != 0) { /* not UTF-8 */
		char esc[LOG_ESCAPED_MAX];

		escape_into(esc, sizeof(esc), msg);
		json_object_set_new(o, "msg", json_string(esc));
	}
	line = json_dumps(o, JSON_COMPACT);
	if (line != NULL)
		fprintf(stderr, "%s\n", line);
	free(line);
	json_decref(o);
}

void log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	char esc[LOG_ESCAPED_MAX], ns[256], name[1024];
	char ts[32];
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_format_now(ts, sizeof(ts));

	pthread_mutex_lock(&log_lock);
	if (out_format == LOG_JSON) {
		write_json(level, ctx, ts, msg);
	} else {
		/* Text lines: resource-supplied text never forges a line or a terminal escape. */
		escape_into(esc, sizeof(esc), msg);
		if (ctx != NULL && ctx->name != NULL) {
			escape_into(ns, sizeof(ns), ctx->ns != NULL ? ctx->ns : "");
			escape_into(name, sizeof(name), ctx->name);
			fprintf(stderr, "%s %s %s/%s%s%s: %s\n", ts, level_names[level], ns, name,
			        ctx->run_id != NULL ? " run=" : "",
			        ctx->run_id != NULL ? ctx->run_id : "", esc);
		} else {
			fprintf(stderr, "%s %s %s\n", ts, level_names[level], esc);
		}
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
