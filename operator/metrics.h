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
 * and, for the dashboard and the alerts (DESIGN 11.5):
 *
 *   appdb_time_to_ready_seconds                    histogram: a generation first seen -> Ready
 *   appdb_resources_by_reason{reason}              gauge: by the reason of the last run
 *   appdb_instance_reconcile_total{instance,result} counter
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

/* A generation's first Ready=True, seconds after it was first seen. */
void metrics_observe_time_to_ready(struct metrics *m, double seconds);

/* One finished reconcile of a resource of instance (borrowed, copied). */
void metrics_count_instance_reconcile(struct metrics *m, const char *instance, const char *result);

/*
 * The number of resources per reason (n entries, borrowed); a reason given
 * before and missing now reads 0.
 */
void metrics_set_reason_count(struct metrics *m, const char *const *reasons, const long *counts,
                              size_t n);

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
