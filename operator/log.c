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

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_configure(enum log_level min, enum log_format format)
{
	min_level = min;
	out_format = format;
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
	json_object_set_new(o, "msg", json_string(msg));
	line = json_dumps(o, JSON_COMPACT);
	if (line != NULL)
		fprintf(stderr, "%s\n", line);
	free(line);
	json_decref(o);
}

void log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
	char msg[2048];
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
	} else if (ctx != NULL && ctx->name != NULL) {
		fprintf(stderr, "%s %s %s/%s%s%s: %s\n", ts, level_names[level],
		        ctx->ns != NULL ? ctx->ns : "", ctx->name,
		        ctx->run_id != NULL ? " run=" : "", ctx->run_id != NULL ? ctx->run_id : "",
		        msg);
	} else {
		fprintf(stderr, "%s %s %s\n", ts, level_names[level], msg);
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
