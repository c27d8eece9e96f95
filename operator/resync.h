/*
 * resync.h - the controller's periodic resync in two tiers (DESIGN section
 * 10, docs/resync.md).
 *
 * Every resyncSeconds, per instance, one query (pg_instance.h) reads the
 * instance-wide state of all of that instance's converged resources and
 * compares each resource's digest with the one its last converged run
 * recorded: a resource whose digest differs is reconciled at once; the
 * others are due their in-database check (schemas, object and default
 * privileges, which leave no trace outside the database), spread evenly
 * over the period. The runs go through the work queue like any other and
 * take a slot of their instance (slots.h) while they run.
 *
 * Resources that did not converge (blocked, failed, invalid) are not kept
 * here: their own requeue (backoff, or resyncSeconds) brings them back.
 *
 * Threads: one struct resync is shared by the workers (resync_record,
 * resync_forget, resync_count_check), the resync thread (resync_run) and
 * the metrics endpoint (resync_render_metrics); every call is thread-safe.
 */
#ifndef APPDB_RESYNC_H
#define APPDB_RESYNC_H

#include "config.h"
#include "engine.h"
#include "model.h"

struct resync;
struct workqueue;

/* cfg and q are borrowed and must outlive it. Returns 0 or APPDB_ENOMEM. */
int resync_new(struct resync **out, const struct config *cfg, struct workqueue *q);
void resync_free(struct resync *rs);

/*
 * Records the outcome of key's run: a converged run (r->instance_digest
 * set) makes the resync own key's periodic checks and returns 1; any other
 * run forgets key here and returns 0 (the caller requeues it itself).
 */
int resync_record(struct resync *rs, const char *key, const struct appdb *db,
                  const struct run_result *r);
void resync_forget(struct resync *rs, const char *key);

/* Counts one in-database check on instance (appdb_database_checks_total). */
void resync_count_check(struct resync *rs, const char *instance);

/*
 * The resync thread's loop: one pass per instance every resyncSeconds,
 * with eng (owned by the thread), until resync_stop. Returns then.
 */
void resync_run(struct resync *rs, struct engine *eng);
void resync_stop(struct resync *rs);

/* The two metrics' text (exposition format 0.0.4); owned, NULL when out of memory. */
char *resync_render_metrics(void *rs);

#endif
