/*
 * slots.h - how many runs work on one PostgreSQL instance at once: at most
 * its maxConnectionsPerInstance (DESIGN section 10), whoever runs them (the
 * controller's workers, the one-shot reconcile's threads).
 *
 * Threads: one struct slots is shared by every thread that runs the engine;
 * every call is thread-safe. Instance names are borrowed from the config,
 * which outlives the slots.
 */
#ifndef APPDB_SLOTS_H
#define APPDB_SLOTS_H

#include "config.h"

struct slots;

/* Slots for every instance of cfg (borrowed, must outlive them). ENOMEM. */
int slots_new(struct slots **out, const struct config *cfg);
void slots_free(struct slots *s);

/*
 * Waits for a free slot on instance (a name from the config; an unknown
 * name, or NULL, takes none and returns at once). Pair with slots_release.
 */
void slots_acquire(struct slots *s, const char *instance);
void slots_release(struct slots *s, const char *instance);

/* The most slots of instance ever taken at once (for the tests). */
int slots_peak(struct slots *s, const char *instance);

#endif
