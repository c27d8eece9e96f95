/*
 * audit.h - the audit trail (DESIGN section 7).
 *
 * One JSON object per line ("event":"audit") on stdout and appended to
 * <cacheDir>/audit.jsonl with fsync. Records never hold a password, token or
 * verifier: they are built from names and action texts only. Thread-safe;
 * one struct audit is shared by all workers.
 */
#ifndef APPDB_AUDIT_H
#define APPDB_AUDIT_H

#include "err.h"

#include <jansson.h>

struct audit;

/*
 * Opens the trail. cache_dir may be NULL (stdout only); it is created when
 * missing. to_stdout chooses whether records are also printed. Returns 0,
 * APPDB_EIO or APPDB_ENOMEM.
 */
int audit_open(struct audit **out, const char *cache_dir, int to_stdout, struct err *err);

/* Writes one record (borrowed); adds "event":"audit". Returns 0 or APPDB_EIO. */
int audit_write(struct audit *a, json_t *record, struct err *err);

void audit_close(struct audit *a);

#endif
