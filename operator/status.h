/*
 * status.h - the AppDatabase status a run writes (DESIGN section 3): the
 * merge patch, whether it would say anything new, and the write with its
 * conflict retry; a status the API cannot take goes to the outbox.
 *
 * Threads: called by a worker with its own Kubernetes client; the
 * struct ctl is shared.
 */
#ifndef APPDB_STATUS_H
#define APPDB_STATUS_H

#include "ctl.h"
#include "engine.h"
#include "kube_client.h"
#include "store.h"

#define STATUS_CONFLICT_RETRIES 3

/* The status merge patch of run r (new reference). prev_conditions: the current ones (borrowed). */
json_t *status_patch(const struct run_result *r, long long generation, json_t *prev_conditions);

/* 1 when an unchanged run has nothing new to say over prev. */
int status_current(const struct run_result *r, long long generation,
                   const struct store_status *prev);

/* 1 when prev's Ready condition is True. */
int status_ready(const struct store_status *prev);

/*
 * Writes the status of run r for db (borrowed); prev is what the store
 * holds of it. On a conflict it re-reads the object and retries; when the
 * API cannot take it, it is kept in the outbox.
 */
void status_write(struct ctl *c, struct kube_client *kc, const struct log_ctx *log, const char *key,
                  const struct appdb *db, const struct store_status *prev,
                  const struct run_result *r);

#endif
