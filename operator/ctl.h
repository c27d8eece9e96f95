/*
 * ctl.h - what the controller's threads share: the config, the store, the
 * work queue, the Events recorder, the metrics and probes, and whether the
 * Kubernetes API answers.
 *
 * Threads: one struct ctl is made by controller_run on the main thread and
 * outlives every other thread. Its pointers are set before the threads start
 * and never change; the objects they point to are thread-safe. api_up and
 * stopping are read and written through the functions below (atomics).
 */
#ifndef APPDB_CTL_H
#define APPDB_CTL_H

#include "config.h"
#include "log.h"

#include <stdatomic.h>

struct audit;
struct cache;
struct events_recorder;
struct httpd;
struct httpd_health;
struct ksecret_cache;
struct kube_config;
struct leader;
struct metrics;
struct resync;
struct slots;
struct store;
struct workqueue;

struct ctl {
	const struct config *cfg;
	struct kube_config *kcfg;
	struct cache *cache;
	struct store *store;
	struct ksecret_cache *secrets;
	struct workqueue *q;
	struct metrics *metrics;
	struct httpd_health *health;
	struct httpd *httpd;
	struct events_recorder *events;
	struct audit *audit;
	struct leader *leader;
	struct slots *slots;   /* runs per instance at once (maxConnectionsPerInstance) */
	struct resync *resync; /* the periodic resync's two tiers */
	atomic_int api_up;
	atomic_int stopping;
};

/* Records whether the API answered (logged when it flips; the metric follows). */
void ctl_set_api_up(struct ctl *c, int up, const struct log_ctx *log);
int ctl_api_up(struct ctl *c);

/* 1 once the controller stops. */
int ctl_stopping(struct ctl *c);

/* Sleeps up to seconds, waking early when the controller stops. */
void ctl_nap(struct ctl *c, double seconds);

#endif
