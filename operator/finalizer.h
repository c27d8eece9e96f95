/*
 * finalizer.h - the disable-on-delete finalizer (DESIGN 11.2).
 */
#ifndef APPDB_FINALIZER_H
#define APPDB_FINALIZER_H

#include "kube_client.h"
#include "log.h"
#include "model.h"

#include <jansson.h>

/* 1 when obj (an AppDatabase, borrowed) lists the disable-on-delete finalizer. */
int finalizer_present(json_t *obj);

/*
 * Adds (add 1) or removes the disable-on-delete finalizer on db, keeping
 * every other one of obj's, with a merge patch conditional on the
 * resourceVersion the store holds (a conflict: the watch brings the newer
 * object and a later reconcile tries again). Logs the outcome; returns 0 or
 * a project error.
 */
int finalizer_set(struct kube_client *kc, const struct log_ctx *log, const struct appdb *db,
                  json_t *obj, int add);

#endif
