/*
 * err.h - the project's error codes and the error message that travels
 * beside them.
 *
 * A function that can fail returns 0 or one of the negative codes below and,
 * when given a struct err, fills its message. Expected failures (not found,
 * conflict, gone, forbidden, throttled, transient) have codes of their own so
 * callers can branch on them without reading text. A message is never
 * overwritten by a caller further up: err_set only writes into an empty err.
 */
#ifndef APPDB_ERR_H
#define APPDB_ERR_H

#include <stddef.h>

enum {
	APPDB_OK = 0,
	APPDB_ENOMEM = -1,        /* allocation failed */
	APPDB_EINVAL = -2,        /* bad input: a manifest, a config, an argument */
	APPDB_ENOTFOUND = -3,     /* the thing asked for does not exist */
	APPDB_ECONFLICT = -4,     /* optimistic concurrency: stale version */
	APPDB_EGONE = -5,         /* watch/list resource version too old */
	APPDB_EFORBIDDEN = -6,    /* authenticated but not allowed */
	APPDB_EUNAUTHORIZED = -7, /* credentials refused */
	APPDB_ETHROTTLED = -8,    /* slow down; see retry_after */
	APPDB_ETRANSIENT = -9,    /* network, 5xx, timeouts: retry with backoff */
	APPDB_EIO = -10,          /* local file system */
	APPDB_EDB = -11,          /* PostgreSQL refused a statement */
	APPDB_EEXISTS = -12,      /* already exists */
	APPDB_ELIMIT = -13,       /* a size or count bound was exceeded */
	APPDB_EINTERNAL = -14,    /* a bug: should not happen */
	APPDB_ETIMEOUT = -15,     /* a statement or lock wait ran past its timeout */
};

#define ERR_MSG_MAX 1024

struct err {
	char msg[ERR_MSG_MAX];
	int retry_after; /* seconds, for APPDB_ETHROTTLED; 0 when not given */
};

/* Sets the message when err is non-NULL and still empty; returns code. */
int err_set(struct err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "prefix: "; returns code. */
int err_wrap(struct err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clears err for reuse. */
void err_clear(struct err *err);

/* A short constant name for a code ("not found", "conflict"...). */
const char *err_name(int code);

#endif
