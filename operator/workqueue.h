/*
 * workqueue.h - a rate-limited work queue of resource keys, after
 * controller-runtime's workqueue.
 *
 * A key sits in the queue at most once (repeated adds coalesce); a key that
 * a worker holds (between workqueue_get and workqueue_done) is never handed
 * to a second worker: an add while it is held marks it dirty and it is
 * queued again when the holder calls done. add_after delays an add;
 * add_rate_limited delays it by a per-key exponential backoff with jitter
 * (base 1 s, doubled per failure, capped at 5 min) until forget resets it.
 *
 * Thread-safe: one queue is shared by the watch loop and all workers. Keys
 * are copied on add; workqueue_get hands out an owned copy. The clock is
 * injectable for tests (seconds on a monotonic scale).
 */
#ifndef APPDB_WORKQUEUE_H
#define APPDB_WORKQUEUE_H

#include <stddef.h>

typedef double (*workqueue_clock_fn)(void *ctx);

struct workqueue_opts {
	double base_delay;        /* seconds, default 1 */
	double max_delay;         /* seconds, default 300 */
	double jitter;            /* fraction added at random; 0: 0.1, negative: none */
	workqueue_clock_fn clock; /* NULL: CLOCK_MONOTONIC */
	void *clock_ctx;
	unsigned int seed; /* jitter seed; 0: from the time */
};

struct workqueue;

/* Makes a queue; opts may be NULL for the defaults. Returns 0 or APPDB_ENOMEM. */
int workqueue_new(struct workqueue **out, const struct workqueue_opts *opts);

/* Frees q; no thread may use it any more. NULL is fine. */
void workqueue_free(struct workqueue *q);

/* Queues key (copied) unless already queued. Returns 0 or APPDB_ENOMEM. */
int workqueue_add(struct workqueue *q, const char *key);

/* Queues key after delay seconds (an earlier pending time wins). */
int workqueue_add_after(struct workqueue *q, const char *key, double delay);

/* Queues key after its next backoff delay; the delay used goes to *out_delay when non-NULL. */
int workqueue_add_rate_limited(struct workqueue *q, const char *key, double *out_delay);

/* Resets the backoff of key. */
void workqueue_forget(struct workqueue *q, const char *key);

#ifdef APPDB_TEST_API
/* How many times key was rate-limited since the last forget. */
int workqueue_num_requeues(struct workqueue *q, const char *key);
#endif

/*
 * Blocks until a key is ready and hands it out (owned, free it) in *out.
 * Returns 0 with *out NULL once the queue is shut down.
 */
int workqueue_get(struct workqueue *q, char **out);

#ifdef APPDB_TEST_API
/* Like workqueue_get but never blocks: *out NULL when nothing is ready. */
int workqueue_try_get(struct workqueue *q, char **out);
#endif

/* Marks key as no longer held; a dirty key is queued again. */
void workqueue_done(struct workqueue *q, const char *key);

/* Wakes every getter; later gets return NULL; adds are ignored. */
void workqueue_shutdown(struct workqueue *q);

/* Keys ready to be handed out (appdb_workqueue_depth). */
size_t workqueue_len(struct workqueue *q);

#ifdef APPDB_TEST_API
/* Keys waiting for a delay to run out. */
size_t workqueue_delayed_len(struct workqueue *q);
#endif

/* The backoff before jitter for the n-th failure (n >= 1) with these options. */
double workqueue_backoff(const struct workqueue_opts *opts, int n);

#endif
