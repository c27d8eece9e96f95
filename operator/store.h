/*
 * store.h - what the controller knows of each AppDatabase, keyed
 * "namespace/name", and the write-through to its cache file (cache.h).
 *
 * One struct store_res per resource holds exactly what the controller
 * needs: the object as the cache keeps it (metadata and spec, for the
 * decode and the cache file), the part of its status the next run compares
 * with (struct store_status), the status patches and Events not sent yet
 * (the outbox), whether it was Ready (for appdb_resources), and, after a
 * deletion, the object as it was deleted until a worker has handled it.
 *
 * Threads: one struct store is shared by the watch threads (store_put,
 * store_delete), the workers (store_take, the pending lists, store_set_ready)
 * and the main thread (store_load_cache, store_free). Every function takes
 * the store's lock; nothing returned points into the store and nothing
 * given to it is kept: JSON values cross its boundary as deep copies, so no
 * value (nor its reference count) is shared between threads. The cache file
 * is written after
 * the lock is released. Callbacks (store_each_key) run with the lock held
 * and must not call the store.
 */
#ifndef APPDB_STORE_H
#define APPDB_STORE_H

#include "cache.h"
#include "clock.h"
#include "log.h"

#include <jansson.h>
#include <stddef.h>

#define STORE_KEY_MAX 600

/* Of an object's status, what the next run compares with. */
struct store_status {
	int present;                   /* the object had a status */
	long long observed_generation; /* status.observedGeneration; 0 when absent */
	json_t *conditions;            /* status.conditions (owned reference), or NULL */
	int pending_actions;           /* status.pendingActions was set */
};

/* A worker's copy of one resource (store_take); released by store_item_clear. */
struct store_item {
	json_t *object;             /* new reference; NULL when the store holds none */
	struct store_status status; /* owned copy */
	json_t *deleted; /* new reference: the deletion to handle, taken from the store */
};

struct store;

/* A new store writing through to cache (borrowed, must outlive it). ENOMEM. */
int store_new(struct store **out, struct cache *cache);
void store_free(struct store *s);

/* "ns/name" of an API object into out (STORE_KEY_MAX bytes). */
void store_key_of(char *out, size_t len, json_t *obj);

/*
 * Records an API object (borrowed): the part the cache keeps and the part
 * of the status compared with. Returns 1 when it needs a reconcile (new,
 * or its spec, annotations, generation or uid changed), 0 when not,
 * APPDB_ENOMEM. key_out (STORE_KEY_MAX bytes) receives its key.
 */
int store_put(struct store *s, json_t *obj, char *key_out, size_t key_len);

/* Forgets key's object (kept as the deletion to handle), its outbox and its cache file. */
void store_delete(struct store *s, const char *key);

/* Fills out with key's object and status, and takes its pending deletion. */
void store_take(struct store_item *out, struct store *s, const char *key);
void store_item_clear(struct store_item *it);

/* Fills a struct store_status (conditions copied) from a status object (borrowed; NULL is fine). */
void store_status_from_json(struct store_status *out, json_t *status);
void store_status_clear(struct store_status *st);

/* How many resources the store knows. */
size_t store_size(struct store *s);

/*
 * Reads every cache file: each resource becomes known with its outbox, and
 * fn(ctx, key) is called for each (lock not held). Returns how many.
 */
size_t store_load_cache(struct store *s, void (*fn)(void *ctx, const char *key), void *ctx);

/*
 * Calls fn(ctx, key) for every known key in namespace ns (NULL: all), lock
 * held; with pending_only, only for keys with something in the outbox.
 */
void store_each_key(struct store *s, const char *ns, int pending_only,
                    void (*fn)(void *ctx, const char *key), void *ctx);

/* ---- the outbox: status patches and Events not sent yet ---- */

enum store_list { STORE_STATUS = 0, STORE_EVENTS };

/*
 * Appends a copy of item (borrowed) to key's list, dropping the oldest
 * past the cache's caps, and writes the cache file. log (borrowed, may be
 * NULL) names the reconcile in what is logged.
 */
void store_keep(struct store *s, const struct log_ctx *log, const char *key, enum store_list list,
                json_t *item);

/*
 * Copies key's pending lists into *status and *events (new arrays).
 * Returns 1 when key has an outbox, 0 when not (both set to NULL).
 */
int store_pending(json_t **status, json_t **events, struct store *s, const char *key);

/*
 * Replaces key's outbox with what is left (borrowed; empty arrays clear
 * it) and writes the cache file; log as for store_keep.
 */
void store_set_pending(struct store *s, const struct log_ctx *log, const char *key, json_t *status,
                       json_t *events);

/* Records whether key is Ready; the counts of ready and not ready resources go to *yes, *no. */
void store_set_ready(struct store *s, const char *key, int ready, long *yes, long *no);

/* ---- what appdb_time_to_ready_seconds and appdb_resources_by_reason count ---- */

/*
 * The clock store_put times a new generation with (NULL: clock_mono); for
 * tests. A generation (or uid) store_put sees for the first time is timed
 * from then, unless its status already says Ready=True for it; one read
 * from the cache at start is not timed (when it was first seen is unknown).
 */
void store_set_clock(struct store *s, clock_fn clock);

/*
 * Called when a run of key's generation ended Ready: returns 1 and sets
 * *seconds (since that generation was first seen) the first time, 0 after
 * that, for another generation than the one last seen, or when untimed.
 */
int store_first_ready(struct store *s, const char *key, long long generation, double *seconds);

/* A Ready reason and how many resources have it. */
struct store_reason_count {
	char reason[32];
	long count;
};

/*
 * Records key's last Ready reason (NULL: none) and fills out (at most max
 * entries; further reasons are left out) with the count of resources per
 * reason. Returns the number of entries.
 */
size_t store_set_reason(struct store *s, const char *key, const char *reason,
                        struct store_reason_count *out, size_t max);

#endif
