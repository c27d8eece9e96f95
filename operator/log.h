/*
 * log.h - the operator's log lines.
 *
 * Only this module and audit.c write output. Lines go to stderr, one per
 * call, as text ("2026-01-02T03:04:05Z info team/orders run=abc: message")
 * or as JSON objects (--log-format json). Inside a reconcile every line
 * carries namespace, name and run id through a struct log_ctx. Never pass a
 * secret to a log call. Thread-safe.
 */
#ifndef APPDB_LOG_H
#define APPDB_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT = 0, LOG_JSON };

/* Borrowed strings; any may be NULL. */
struct log_ctx {
	const char *ns;
	const char *name;
	const char *run_id;
};

void log_configure(enum log_level min, enum log_format format);

/*
 * s with every control character (C0, DEL, C1) and every byte that is not
 * UTF-8 written as \xNN, so text a resource supplies cannot start a new line
 * or a terminal escape. Text lines are escaped this way; the CLI summary uses
 * it too. Returns a new string the caller frees, or NULL (s NULL, ENOMEM).
 */
char *log_escape(const char *s);
void log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ctx, ...) log_msg(LOG_DEBUG, ctx, __VA_ARGS__)
#define log_info(ctx, ...) log_msg(LOG_INFO, ctx, __VA_ARGS__)
#define log_warn(ctx, ...) log_msg(LOG_WARN, ctx, __VA_ARGS__)
#define log_error(ctx, ...) log_msg(LOG_ERROR, ctx, __VA_ARGS__)

#endif
