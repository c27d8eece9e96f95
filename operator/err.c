/*
 * err.c - error messages beside error codes.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->msg[0] != '\0')
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int err_wrap(struct err *err, int code, const char *fmt, ...)
{
	char prefix[256];
	char old[ERR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if (old[0] == '\0')
		snprintf(err->msg, sizeof(err->msg), "%s", prefix);
	else
		snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return code;
}

void err_clear(struct err *err)
{
	if (err == NULL)
		return;
	err->msg[0] = '\0';
	err->retry_after = 0;
}

const char *err_name(int code)
{
	switch (code) {
	case APPDB_OK:
		return "ok";
	case APPDB_ENOMEM:
		return "out of memory";
	case APPDB_EINVAL:
		return "invalid";
	case APPDB_ENOTFOUND:
		return "not found";
	case APPDB_ECONFLICT:
		return "conflict";
	case APPDB_EGONE:
		return "gone";
	case APPDB_EFORBIDDEN:
		return "forbidden";
	case APPDB_EUNAUTHORIZED:
		return "unauthorized";
	case APPDB_ETHROTTLED:
		return "throttled";
	case APPDB_ETRANSIENT:
		return "transient";
	case APPDB_EIO:
		return "i/o error";
	case APPDB_EDB:
		return "database error";
	case APPDB_EEXISTS:
		return "already exists";
	case APPDB_ETIMEOUT:
		return "timed out";
	case APPDB_ELIMIT:
		return "limit exceeded";
	default:
		return "internal error";
	}
}
