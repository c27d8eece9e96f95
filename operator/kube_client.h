/*
 * kube_client.h - the few Kubernetes API calls the operator makes, on
 * libcurl and jansson.
 *
 * Threads: a struct kube_client (one curl handle, reused for keep-alive)
 * belongs to one thread at a time; give each thread its own. The struct
 * kube_config behind it is borrowed and shared (thread-safe).
 * kube_client_cancel is the one call another thread may make: it aborts a
 * running watch or request within about a second (for shutdown).
 *
 * Every call returns 0 or a distinct code: APPDB_ENOTFOUND (404),
 * APPDB_ECONFLICT (409), APPDB_EGONE (410, or a watch ERROR event with code
 * 410), APPDB_EFORBIDDEN (403), APPDB_EUNAUTHORIZED (401),
 * APPDB_ETHROTTLED (429; err->retry_after from Retry-After),
 * APPDB_ETRANSIENT (5xx, connection failures, timeouts; retry_after when
 * the server gave one), APPDB_EINVAL (400, 422). The message is the
 * server's Status message when it sent one. Objects returned in *out are
 * new references; objects passed in are borrowed.
 */
#ifndef APPDB_KUBE_CLIENT_H
#define APPDB_KUBE_CLIENT_H

#include "err.h"
#include "kube_config.h"

#include <jansson.h>
#include <stddef.h>

struct kube_client;

/* Makes a client over cfg (borrowed; must outlive the client). */
int kube_client_new(struct kube_client **out, struct kube_config *cfg, struct err *err);
void kube_client_free(struct kube_client *kc);

/* Total time allowed for one non-watch request (default 30 s). */
void kube_client_set_timeout(struct kube_client *kc, long seconds);

/* Aborts what the client runs and everything it starts later. Any thread. */
void kube_client_cancel(struct kube_client *kc);
#ifdef APPDB_TEST_API
int kube_client_cancelled(struct kube_client *kc);
#endif

/*
 * One request: method and path (with query), an optional JSON body sent
 * with content_type (NULL: application/json). *out (may be NULL to drop
 * it) receives the decoded answer, or NULL for an empty one.
 */
int kube_request(json_t **out, struct kube_client *kc, const char *method, const char *path,
                 const char *content_type, json_t *body, struct err *err);

/* ---- AppDatabases ---- */

struct kube_list {
	json_t *items;          /* array, new reference */
	char *resource_version; /* the list's resourceVersion, owned */
};
void kube_list_clear(struct kube_list *l);

/*
 * Lists AppDatabases in ns (NULL: all namespaces), following continue
 * tokens with pages of limit items (0: 500). APPDB_EGONE when a continue
 * token expired: list again.
 */
int kube_list_appdbs(struct kube_list *out, struct kube_client *kc, const char *ns, long limit,
                     struct err *err);

int kube_get_appdb(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                   struct err *err);

/*
 * Merge-patches the AppDatabase itself (its metadata.finalizers); a patch
 * carrying metadata.resourceVersion fails with APPDB_ECONFLICT when the
 * object changed. The updated object in *out (may be NULL).
 */
int kube_patch_appdb(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                     json_t *patch, struct err *err);

/* Merge-patches the /status subresource with patch; the updated object in *out (may be NULL). */
int kube_patch_appdb_status(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                            json_t *patch, struct err *err);

/* ---- watch ---- */

enum kube_event_type {
	KUBE_EVENT_ADDED = 0,
	KUBE_EVENT_MODIFIED,
	KUBE_EVENT_DELETED,
	KUBE_EVENT_BOOKMARK,
	KUBE_EVENT_ERROR,
};

struct kube_watch_event {
	enum kube_event_type type;
	json_t *object; /* new reference; for ERROR the Status object */
	int code;       /* ERROR: the Status code */
};

/*
 * Parses one line of a watch stream (a pure function). Returns 0 with out
 * filled (release out->object with json_decref), or APPDB_EINVAL for a
 * line that is not a watch event. An empty line is APPDB_ENOTFOUND.
 */
int kube_watch_parse_line(struct kube_watch_event *out, const char *line, size_t len,
                          struct err *err);

/* The project code for an HTTP status (0 for 2xx). */
int kube_code_for_http(long status);

/*
 * Called for each ADDED, MODIFIED, DELETED and BOOKMARK event; object is
 * borrowed. A non-zero return stops the watch and is returned by it.
 */
typedef int (*kube_watch_fn)(void *ctx, enum kube_event_type type, json_t *object);

struct kube_watch_opts {
	const char *ns;               /* NULL: all namespaces */
	const char *resource_version; /* from the list or the last event */
	int timeout_seconds;          /* server-side; 0: 300 */
};

/*
 * Watches AppDatabases with allowWatchBookmarks=true, calling fn per event
 * until the server ends the stream (returns 0), the client is cancelled
 * (returns 0; see kube_client_cancelled), an ERROR event arrives (410:
 * APPDB_EGONE, else by its code), fn returns non-zero, or the connection
 * fails (APPDB_ETRANSIENT).
 */
int kube_watch_appdbs(struct kube_client *kc, const struct kube_watch_opts *opts, kube_watch_fn fn,
                      void *ctx, struct err *err);

/* ---- core/v1 Secrets and Events, coordination.k8s.io/v1 Leases ---- */

/* The Secret; its data values are secrets: the caller wipes them (secret_wipe_json). */
int kube_get_secret(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                    struct err *err);

int kube_create_event(json_t **out, struct kube_client *kc, const char *ns, json_t *event,
                      struct err *err);
int kube_patch_event(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                     json_t *patch, struct err *err);

int kube_get_lease(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                   struct err *err);
int kube_create_lease(json_t **out, struct kube_client *kc, const char *ns, json_t *lease,
                      struct err *err);
/* PUT: lease must carry metadata.resourceVersion (optimistic concurrency). */
int kube_update_lease(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                      json_t *lease, struct err *err);

/*
 * ---- core/v1 ConfigMaps and Secrets the operator writes (spec.connection) ----
 * create is POST (APPDB_ECONFLICT when the name is taken); update is PUT and
 * the object must carry metadata.resourceVersion, so a change made since
 * the read fails with APPDB_ECONFLICT instead of being overwritten. A
 * Secret passed in or returned holds secrets: the caller wipes it
 * (secret_wipe_json).
 */
int kube_get_configmap(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                       struct err *err);
int kube_create_configmap(json_t **out, struct kube_client *kc, const char *ns, json_t *cm,
                          struct err *err);
int kube_update_configmap(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                          json_t *cm, struct err *err);
int kube_create_secret(json_t **out, struct kube_client *kc, const char *ns, json_t *secret,
                       struct err *err);
int kube_update_secret(json_t **out, struct kube_client *kc, const char *ns, const char *name,
                       json_t *secret, struct err *err);

#endif
