/*
 * clock.h - the operator's one clock: wall and monotonic seconds, RFC 3339
 * text, and absolute deadlines for timed waits.
 *
 * Modules that tests drive through time take a clock function
 * (struct kube_config.clock, struct leader_opts.clock, struct
 * workqueue_opts.clock, httpd_health_new) and default to the two below.
 * Thread-safe.
 */
#ifndef APPDB_CLOCK_H
#define APPDB_CLOCK_H

#include <stddef.h>
#include <time.h>

/* A clock in seconds, as modules take them for injection. */
typedef double (*clock_fn)(void);

/* CLOCK_REALTIME in seconds. */
double clock_wall(void);

/* CLOCK_MONOTONIC in seconds. */
double clock_mono(void);

/* t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void clock_format(char *out, size_t len, time_t t);

/* t as RFC 3339 with microseconds ("...:SS.uuuuuuZ", MicroTime) into out (28+). */
void clock_format_micro(char *out, size_t len, double t);

/* The wall clock now as clock_format writes it. */
void clock_format_now(char *out, size_t len);

/* An RFC 3339 UTC/offset timestamp as epoch seconds; -1 when malformed. */
time_t clock_parse(const char *s);

/* The clock id (CLOCK_REALTIME, or the condition's clock) plus seconds, for
 * pthread_cond_timedwait, into out. */
void clock_deadline(struct timespec *out, clockid_t id, double seconds);

#endif
