/*
 * metrics.h - the operator's Prometheus metrics (DESIGN section 8),
 * rendered in the text exposition format 0.0.4 with HELP and TYPE lines:
 *
 *   appdb_reconcile_total{result}          counter
 *   appdb_reconcile_duration_seconds       histogram
 *   appdb_resources{ready="true"|"false"}  gauge
 *   appdb_kube_api_up                      gauge (1 or 0)
 *   appdb_instance_up{instance}            gauge (1 or 0)
 *   appdb_workqueue_depth                  gauge
 *
 * One struct metrics is shared by all threads; every call is thread-safe.
 */
#ifndef APPDB_METRICS_H
#define APPDB_METRICS_H

#include <stddef.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics;

/* Returns 0 or APPDB_ENOMEM. */
int metrics_new(struct metrics **out);
void metrics_free(struct metrics *m);

/* One finished reconcile: result is a run_result_name() ("Changed", ...). */
void metrics_observe_reconcile(struct metrics *m, const char *result, double seconds);

void metrics_set_resources(struct metrics *m, long ready, long not_ready);
void metrics_set_kube_api_up(struct metrics *m, int up);
void metrics_set_instance_up(struct metrics *m, const char *instance, int up);
#ifdef APPDB_TEST_API
void metrics_set_workqueue_depth(struct metrics *m, long depth);
#endif

/* Read at render time instead of the value set, when given (e.g. workqueue_len). */
void metrics_set_depth_source(struct metrics *m, long (*fn)(void *ctx), void *ctx);

/* Renders all metrics into *out (owned, NUL-terminated). Returns 0 or APPDB_ENOMEM. */
int metrics_render(char **out, size_t *out_len, struct metrics *m);

#endif
