/*
 * events.h - core/v1 Events about AppDatabases, with aggregation.
 *
 * events_build makes the Event object (involvedObject = the AppDatabase,
 * source and reportingComponent appdb-operator, reportingInstance the pod,
 * firstTimestamp/lastTimestamp/count). The run id is in the message, as
 * "<message> (run <id>)", and in the annotation db.platform.dev/run-id.
 *
 * events_emit sends it. Repeated identical Events (same object, type,
 * reason and message apart from the run id) are aggregated as client-go
 * does: the recorder remembers the Events it created (a small LRU) and
 * patches count, lastTimestamp and the message (so it names the latest run)
 * instead of creating a new one. An Event that could not be sent stays
 * valid JSON: the controller keeps it (memory and disk cache) and emits it
 * again later, oldest first; its own timestamps are kept.
 *
 * A recorder is shared by all workers (thread-safe); the kube_client given
 * to each call belongs to the calling thread.
 */
#ifndef APPDB_EVENTS_H
#define APPDB_EVENTS_H

#include "err.h"
#include "kube_client.h"

#include <jansson.h>

#define EVENT_NORMAL "Normal"
#define EVENT_WARNING "Warning"
#define EVENTS_COMPONENT "appdb-operator"
#define ANNOTATION_RUN_ID "db.platform.dev/run-id"

/* The AppDatabase an Event is about; borrowed strings, uid and rv may be NULL. */
struct event_ref {
	const char *ns;
	const char *name;
	const char *uid;
	const char *resource_version;
};

struct events_recorder;

/* instance: reportingInstance (pod name). capacity: LRU size (0: 256). */
int events_new(struct events_recorder **out, const char *instance, size_t capacity);
void events_free(struct events_recorder *rec);

/*
 * Builds an Event (new reference in *out). type is EVENT_NORMAL or
 * EVENT_WARNING; run_id may be NULL; now is wall-clock seconds. The name is
 * "<object name>.<hex time><hex random>", unique per call.
 */
int events_build(json_t **out, const struct events_recorder *rec, const struct event_ref *ref,
                 const char *type, const char *reason, const char *message, const char *run_id,
                 double now);

/*
 * Creates event (borrowed), or patches the earlier identical one. Returns 0
 * or the client's code (the caller keeps the event and retries later).
 */
int events_emit(struct events_recorder *rec, struct kube_client *kc, json_t *event,
                struct err *err);

/* The aggregation key of an event (owned): object, type, reason, message without the run id. */
char *events_key(json_t *event);

#ifdef APPDB_TEST_API
/* How many events the LRU holds. */
size_t events_lru_len(struct events_recorder *rec);
#endif

#endif
