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

/*
 * The intent of a run that changes something, so that a run cut by a kill
 * still leaves its records. Before its first change statement the run
 * writes the records it would leave had it failed there (result Failed,
 * the planned actions): they are appended as one line to
 * <cacheDir>/audit-intent/<runId>.jsonl, fsynced, and the file stays locked
 * (flock) while the run lives. A later write (more statements planned)
 * appends a fuller line. Once the run has written its own records,
 * audit_intent_done removes the file. A process that opens the trail
 * writes the last line of every intent whose run died (its file not
 * locked) as that run's records, and removes the file: every run that
 * changed something has its records, once.
 *
 * audit_intent_write: *io is NULL for the first write (a struct
 * audit_intent is made, owned by the caller until audit_intent_done);
 * records is an array (borrowed). Returns 0, APPDB_EIO or APPDB_ENOMEM;
 * without a cache dir it does nothing and returns 0.
 */
struct audit_intent;
int audit_intent_write(struct audit_intent **io, struct audit *a, const char *run_id,
                       json_t *records, struct err *err);
/* Removes the intent and frees it (NULL is fine). */
void audit_intent_done(struct audit_intent *in);

/*
 * Writes the records of the intents of runs that died and removes them;
 * audit_open calls it. Returns how many runs were so completed.
 */
size_t audit_complete_interrupted(struct audit *a);

#endif
