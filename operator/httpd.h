/*
 * httpd.h - the probe and metrics endpoint (libmicrohttpd, one port):
 *
 *   GET /healthz  200 while every registered loop has beaten recently,
 *                 500 naming the stale loop otherwise. The Kubernetes API
 *                 being down does not fail it: the loops keep beating
 *                 while they back off.
 *   GET /readyz   200 once ready is set (config loaded and caches synced,
 *                 or running from the disk cache), 503 before.
 *   GET /metrics  the metrics module's text, format 0.0.4.
 *
 * struct httpd_health holds the heartbeats; it is shared by all threads
 * (thread-safe) and its clock is injectable for tests.
 */
#ifndef APPDB_HTTPD_H
#define APPDB_HTTPD_H

#include "err.h"
#include "metrics.h"

#define HTTPD_DEFAULT_PORT 8080
#define HTTPD_MAX_LOOPS 64

struct httpd_health;

/* clock: monotonic seconds, NULL for CLOCK_MONOTONIC. */
int httpd_health_new(struct httpd_health **out, double (*clock)(void));
void httpd_health_free(struct httpd_health *h);

/*
 * Registers a loop that must beat at least every max_age seconds; returns
 * its id (>= 0) in *out and counts as a beat. APPDB_ELIMIT when full.
 */
int httpd_health_register(struct httpd_health *h, const char *name, double max_age, int *out);

/* Records a beat of loop id. */
void httpd_health_beat(struct httpd_health *h, int id);

#ifdef APPDB_TEST_API
/* Stops watching loop id (it ended on purpose). */
void httpd_health_unregister(struct httpd_health *h, int id);
#endif

void httpd_health_set_ready(struct httpd_health *h, int ready);

/* 1 when alive; otherwise 0 with the reason in why. */
int httpd_health_alive(struct httpd_health *h, char *why, size_t why_len);
int httpd_health_ready(struct httpd_health *h);

struct httpd;

/*
 * Serves on port (0: any free port; see httpd_port) on all addresses.
 * health and metrics are borrowed and must outlive the server.
 */
int httpd_start(struct httpd **out, int port, struct httpd_health *health, struct metrics *m,
                struct err *err);

/* The port actually bound. */
int httpd_port(const struct httpd *d);

/* Stops serving and frees d; NULL is fine. */
void httpd_stop(struct httpd *d);

#endif
