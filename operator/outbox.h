/*
 * outbox.h - the Events of runs and deletions, and what could not be sent:
 * status patches and Events the API did not take are kept in the store
 * (memory and the resource's cache file) and sent later, oldest first,
 * once the API answers again.
 *
 * Threads: called by a worker with its own Kubernetes client; the
 * struct ctl (store, Events recorder) is shared.
 */
#ifndef APPDB_OUTBOX_H
#define APPDB_OUTBOX_H

#include "ctl.h"
#include "engine.h"
#include "kube_client.h"

/*
 * Sends what is kept for key (ns/name), oldest first; stops at the first
 * failure. Returns 0 when nothing is left, else the code of that failure
 * when the API answered (what is left stays kept; the caller retries the
 * key with backoff), 0 when it could not be reached (the next list that
 * finds it back queues the key again).
 */
int outbox_flush(struct ctl *c, struct kube_client *kc, const struct log_ctx *log, const char *key,
                 const char *ns, const char *name);

/*
 * Emits the Event of a run that changed or refused something. When the API
 * does not take it (or answers with something that is not the Event) it is
 * kept and, when the API answered, the code returned: the caller retries
 * the key with backoff. Returns 0 when sent, not needed, or kept for the
 * API's return.
 */
int outbox_run_event(struct ctl *c, struct kube_client *kc, const struct log_ctx *log,
                     const char *key, const struct appdb *db, const struct run_result *r);

/* Emits the Event of a deletion (run r recorded it); not kept: the object is gone. */
void outbox_deletion_event(struct ctl *c, struct kube_client *kc, const struct log_ctx *log,
                           const char *key, const struct appdb *db, const struct run_result *r);

#endif
