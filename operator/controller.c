/*
 * controller.c - `appdb-operator run`: list and watch AppDatabases, a work
 * queue and workers around the engine, status and Events, the disk cache
 * that keeps reconciling while the Kubernetes API is down, the probe and
 * metrics endpoint, and a clean stop on SIGTERM.
 *
 * Each reconcile is a straight list of steps (reconcile_key): take the
 * object, send what is pending, check leadership, decode, run the engine,
 * write the status, emit the Event, count, requeue.
 */
#include "controller.h"

#include "audit.h"
#include "cache.h"
#include "conditions.h"
#include "engine.h"
#include "events.h"
#include "httpd.h"
#include "kube_client.h"
#include "kube_config.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "workqueue.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_TIMEOUT_SECONDS 300
#define BACKOFF_MAX_SECONDS 30.0
#define CLIENT_TIMEOUT_SECONDS 10
#define STOP_GRACE_SECONDS 60
#define STATUS_CONFLICT_RETRIES 3

struct ctl {
	const struct config *cfg;
	struct kube_config *kcfg;
	struct cache *cache;
	struct workqueue *q;
	struct metrics *metrics;
	struct httpd_health *health;
	struct httpd *httpd;
	struct events_recorder *events;
	struct audit *audit;
	struct leader *leader;

	pthread_mutex_t mu; /* guards the maps below and api_up */
	json_t *objects;    /* key -> last known AppDatabase (API or cache) */
	json_t *saved;      /* key -> a hash of the sanitized object last written to the cache */
	json_t *deleted;    /* key -> the object as it was deleted, until handled */
	json_t *pending;    /* key -> {"status": [...], "events": [...]} not yet sent */
	json_t *secrets;    /* "ns/name" -> Secret object, memory only */
	json_t *ready;      /* key -> true/false, for appdb_resources */
	int api_up;

	volatile sig_atomic_t stopping;
	size_t n_watch;
	struct kube_client **watch_clients;
};

struct worker {
	struct ctl *ctl;
	struct engine *eng;
	struct kube_client *kc;
	struct secret_resolver resolver;
	int health_id;
	pthread_t thread;
};

struct watcher {
	struct ctl *ctl;
	const char *ns; /* NULL: all namespaces */
	struct kube_client *kc;
	int health_id;
	pthread_t thread;
	char *rv;
};

static double now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps up to seconds, waking early when the controller stops. */
static void nap(struct ctl *c, double seconds)
{
	double end = now_mono() + seconds;

	while (!c->stopping && now_mono() < end)
		usleep(100 * 1000);
}

/* Capped exponential backoff with jitter for attempt n (1, 2, ...). */
static double backoff(int n)
{
	double d = 0.5;

	while (n-- > 1 && d < BACKOFF_MAX_SECONDS)
		d *= 2;
	if (d > BACKOFF_MAX_SECONDS)
		d = BACKOFF_MAX_SECONDS;
	return d * (0.8 + 0.4 * ((double)rand() / RAND_MAX));
}

/* "ns/name" of an object, into out. */
static void object_key(char *out, size_t len, json_t *obj)
{
	json_t *md = json_object_get(obj, "metadata");

	snprintf(out, len, "%s/%s", json_string_value(json_object_get(md, "namespace")) ?: "",
	         json_string_value(json_object_get(md, "name")) ?: "");
}

static void set_api_up(struct ctl *c, int up)
{
	pthread_mutex_lock(&c->mu);
	if (c->api_up != up)
		log_info(NULL, "kubernetes API %s", up ? "reachable" : "unreachable");
	c->api_up = up;
	pthread_mutex_unlock(&c->mu);
	metrics_set_kube_api_up(c->metrics, up);
}

static int api_up(struct ctl *c)
{
	int up;

	pthread_mutex_lock(&c->mu);
	up = c->api_up;
	pthread_mutex_unlock(&c->mu);
	return up;
}

/* ---- the cache ---- */

/* A 64-bit FNV-1a hash of an object's canonical text; 0 when it cannot be made. */
static json_int_t object_hash(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned long long h = 14695981039346656037ULL;
	const char *p;

	if (text == NULL)
		return 0;
	for (p = text; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	free(text);
	return (json_int_t)(h >> 1);
}

/*
 * Builds the cache entry of key when its object or pending lists changed
 * (caller holds mu); returns 1 with *out filled when there is something to
 * write. The write itself (two fsyncs) happens after the lock is released,
 * with save_entry.
 */
static int entry_locked(struct ctl *c, const char *key, int force, struct cache_entry *out)
{
	json_t *obj = json_object_get(c->objects, key);
	json_t *pend = json_object_get(c->pending, key);
	struct err err = {0};
	json_int_t hash;
	size_t i;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (obj == NULL)
		return 0;
	if (cache_entry_from_object(out, obj, &err) != 0) {
		log_warn(NULL, "could not cache %s: %s", key, err.msg);
		return 0;
	}
	hash = object_hash(out->object);
	if (!force && hash != 0 && json_integer_value(json_object_get(c->saved, key)) == hash) {
		cache_entry_clear(out);
		return 0;
	}
	json_array_foreach (json_object_get(pend, "status"), i, v) {
		cache_entry_push_status(out, v);
	}
	json_array_foreach (json_object_get(pend, "events"), i, v) {
		cache_entry_push_event(out, v);
	}
	json_object_set_new(c->saved, key, json_integer(hash));
	return 1;
}

/* Writes an entry built by entry_locked and clears it. */
static void save_entry(struct ctl *c, struct cache_entry *e)
{
	struct err err = {0};

	if (cache_save(c->cache, e, &err) != 0)
		log_error(NULL, "could not write the cache file of %s/%s: %s", e->ns, e->name,
		          err.msg);
	cache_entry_clear(e);
}

/* Loads the cache at start: every cached resource is known and queued. */
static void load_cache(struct ctl *c)
{
	struct cache_entry *entries = NULL;
	struct err err = {0};
	size_t n = 0, corrupt = 0, i;

	if (cache_load_all(&entries, &n, &corrupt, c->cache, &err) != 0) {
		log_error(NULL, "could not read the cache in %s: %s", c->cfg->cache_dir, err.msg);
		return;
	}
	if (corrupt > 0)
		log_warn(NULL, "%zu corrupt cache file(s) set aside in %s", corrupt,
		         c->cfg->cache_dir);
	for (i = 0; i < n; i++) {
		char key[600];
		json_t *pend;

		snprintf(key, sizeof(key), "%s/%s", entries[i].ns, entries[i].name);
		json_object_set(c->objects, key, entries[i].object);
		json_object_set_new(c->saved, key, json_integer(object_hash(entries[i].object)));
		if (json_array_size(entries[i].pending_status) > 0 ||
		    json_array_size(entries[i].pending_events) > 0) {
			pend = json_pack("{s:O, s:O}", "status", entries[i].pending_status,
			                 "events", entries[i].pending_events);
			json_object_set_new(c->pending, key, pend);
		}
		workqueue_add(c->q, key);
		cache_entry_clear(&entries[i]);
	}
	free(entries);
	if (n > 0)
		log_info(NULL, "loaded %zu resource(s) from the cache", n);
}

/* Appends item to pending[key][list] (status or events) and saves. */
static void keep_pending(struct ctl *c, const char *key, const char *list, json_t *item)
{
	struct cache_entry e;
	json_t *pend, *arr;
	int dirty;

	pthread_mutex_lock(&c->mu);
	pend = json_object_get(c->pending, key);
	if (pend == NULL) {
		pend = json_pack("{s:[], s:[]}", "status", "events");
		json_object_set_new(c->pending, key, pend);
	}
	arr = json_object_get(pend, list);
	json_array_append(arr, item);
	/* Bounded like the cache file; the newest are kept. */
	while (json_array_size(arr) >
	       (strcmp(list, "status") == 0 ? CACHE_PENDING_STATUS_MAX : CACHE_PENDING_EVENTS_MAX))
		json_array_remove(arr, 0);
	dirty = entry_locked(c, key, 1, &e);
	pthread_mutex_unlock(&c->mu);
	if (dirty)
		save_entry(c, &e);
}

/* ---- the watch ---- */

/* 1 when a and b are equal or both absent (json_equal says 0 for two NULLs). */
static int same(json_t *a, json_t *b)
{
	return (a == NULL && b == NULL) || json_equal(a, b);
}

/* 1 when the change from old to obj needs a reconcile (spec, annotations, deletion). */
static int needs_reconcile(json_t *old, json_t *obj)
{
	static const char *const fields[] = {"generation", "annotations", "uid",
	                                     "deletionTimestamp", NULL};
	json_t *om, *nm;
	size_t i;

	if (old == NULL)
		return 1;
	om = json_object_get(old, "metadata");
	nm = json_object_get(obj, "metadata");
	for (i = 0; fields[i] != NULL; i++)
		if (!same(json_object_get(om, fields[i]), json_object_get(nm, fields[i])))
			return 1;
	return !same(json_object_get(old, "spec"), json_object_get(obj, "spec"));
}

/*
 * Records obj (borrowed) as known; queues it when it changed. Only what the
 * cache keeps, plus the status, is held in memory: managedFields and the
 * last-applied annotation are left out.
 */
static void put_object(struct ctl *c, json_t *full)
{
	struct cache_entry e;
	char key[600];
	json_t *old, *obj, *status;
	int queue, dirty;

	obj = cache_sanitize(full);
	if (obj == NULL) {
		log_error(NULL, "out of memory keeping an AppDatabase");
		return;
	}
	/* Of the status, what the next run compares with: the generation, the
	 * conditions, and whether actions await approval. */
	status = json_object_get(full, "status");
	if (json_is_object(status)) {
		json_t *keep = json_object();

		json_object_set(keep, "observedGeneration",
		                json_object_get(status, "observedGeneration"));
		json_object_set(keep, "conditions", json_object_get(status, "conditions"));
		if (json_object_get(status, "pendingActions") != NULL)
			json_object_set_new(keep, "pendingActions", json_true());
		json_object_set_new(obj, "status", keep);
	}
	object_key(key, sizeof(key), obj);
	pthread_mutex_lock(&c->mu);
	old = json_object_get(c->objects, key);
	queue = needs_reconcile(old, obj);
	json_object_set(c->objects, key, obj);
	dirty = entry_locked(c, key, 0, &e);
	pthread_mutex_unlock(&c->mu);
	json_decref(obj);
	if (dirty)
		save_entry(c, &e);
	if (queue)
		workqueue_add(c->q, key);
}

/* Forgets key's object and queues the deletion record. */
static void delete_key(struct ctl *c, const char *key)
{
	struct err err = {0};
	json_t *obj;

	pthread_mutex_lock(&c->mu);
	obj = json_object_get(c->objects, key);
	if (obj != NULL) {
		json_object_set(c->deleted, key, obj);
		json_object_del(c->objects, key);
	}
	json_object_del(c->saved, key);
	json_object_del(c->pending, key);
	json_object_del(c->ready, key);
	pthread_mutex_unlock(&c->mu);
	if (cache_remove(c->cache, key, strchr(key, '/') + 1, &err) != 0)
		log_warn(NULL, "could not remove the cache file of %s: %s", key, err.msg);
	workqueue_add(c->q, key);
}

static int on_watch_event(void *ctx, enum kube_event_type type, json_t *obj)
{
	struct watcher *w = ctx;
	const char *rv =
	    json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	char key[600];

	httpd_health_beat(w->ctl->health, w->health_id);
	if (rv != NULL) {
		free(w->rv);
		w->rv = strdup(rv);
	}
	switch (type) {
	case KUBE_EVENT_ADDED:
	case KUBE_EVENT_MODIFIED:
		put_object(w->ctl, obj);
		break;
	case KUBE_EVENT_DELETED:
		object_key(key, sizeof(key), obj);
		delete_key(w->ctl, key);
		break;
	default:
		break;
	}
	return w->ctl->stopping ? 1 : 0;
}

/* Lists, records every object, and finds the ones deleted meanwhile. */
static int relist(struct watcher *w, struct err *err)
{
	struct ctl *c = w->ctl;
	struct kube_list list = {0};
	json_t *seen = json_object(), *obj, *v;
	const char *key;
	void *tmp;
	size_t i;
	int rc;

	rc = kube_list_appdbs(&list, w->kc, w->ns, 500, err);
	if (rc != 0) {
		json_decref(seen);
		return rc;
	}
	json_array_foreach (list.items, i, obj) {
		char k[600];

		object_key(k, sizeof(k), obj);
		json_object_set_new(seen, k, json_true());
		put_object(c, obj);
	}
	/* Resources of this watch's scope that are gone were deleted while we looked away. */
	pthread_mutex_lock(&c->mu);
	obj = json_array();
	json_object_foreach_safe (c->objects, tmp, key, v) {
		size_t nl = w->ns != NULL ? strlen(w->ns) : 0;

		if (w->ns != NULL && (strncmp(key, w->ns, nl) != 0 || key[nl] != '/'))
			continue;
		if (json_object_get(seen, key) == NULL)
			json_array_append_new(obj, json_string(key));
	}
	/* What waits to be sent goes out now that the API answers. */
	json_object_foreach (c->pending, key, v)
		workqueue_add(c->q, key);
	pthread_mutex_unlock(&c->mu);
	json_array_foreach (obj, i, v) {
		log_info(NULL, "%s was deleted while it was not watched", json_string_value(v));
		delete_key(c, json_string_value(v));
	}
	json_decref(obj);
	json_decref(seen);
	free(w->rv);
	w->rv = list.resource_version != NULL ? strdup(list.resource_version) : NULL;
	kube_list_clear(&list);
	/* A full list is the largest thing the operator parses: give its pages back. */
	malloc_trim(0);
	return 0;
}

static void *watch_loop(void *arg)
{
	struct watcher *w = arg;
	struct ctl *c = w->ctl;
	int failures = 0, listed = 0;

	while (!c->stopping) {
		struct kube_watch_opts opts = {0};
		struct err err = {0};
		int rc;

		httpd_health_beat(c->health, w->health_id);
		if (!listed) {
			rc = relist(w, &err);
			if (rc == APPDB_EGONE) {
				log_info(NULL, "list continue token expired; listing again");
				continue;
			}
			if (rc != 0) {
				set_api_up(c, 0);
				log_warn(NULL, "could not list AppDatabases%s%s: %s",
				         w->ns ? " in " : "", w->ns ? w->ns : "", err.msg);
				nap(c, rc == APPDB_ETHROTTLED && err.retry_after > 0
				           ? err.retry_after
				           : backoff(++failures));
				continue;
			}
			listed = 1;
			set_api_up(c, 1);
			httpd_health_set_ready(c->health, 1);
		}
		opts.ns = w->ns;
		opts.resource_version = w->rv;
		opts.timeout_seconds = WATCH_TIMEOUT_SECONDS;
		rc = kube_watch_appdbs(w->kc, &opts, on_watch_event, w, &err);
		if (c->stopping)
			break;
		if (rc == 0) {
			failures = 0; /* the server ended the watch: go on from the last version */
			continue;
		}
		listed = 0;
		if (rc == APPDB_EGONE) {
			log_info(NULL, "watch history expired; listing again");
			continue;
		}
		set_api_up(c, 0);
		log_warn(NULL, "watch ended: %s", err.msg[0] ? err.msg : err_name(rc));
		nap(c, rc == APPDB_ETHROTTLED && err.retry_after > 0 ? err.retry_after
		                                                     : backoff(++failures));
	}
	return NULL;
}

/* ---- secrets through the API, kept in memory for outages ---- */

static int fetch_kube_secret(void *ctx, struct secret *out, const struct secret_ref *ref,
                             struct err *err)
{
	struct worker *w = ctx;
	struct ctl *c = w->ctl;
	json_t *s = NULL, *old;
	struct err kerr = {0};
	char key[600];
	int rc;

	snprintf(key, sizeof(key), "%s/%s", ref->ns, ref->name);
	rc = kube_get_secret(&s, w->kc, ref->ns, ref->name, &kerr);
	pthread_mutex_lock(&c->mu);
	old = json_object_get(c->secrets, key);
	if (rc == 0 || rc == APPDB_ENOTFOUND || rc == APPDB_EFORBIDDEN) {
		if (old != NULL) {
			kube_json_wipe(old);
			json_object_del(c->secrets, key);
		}
		if (rc == 0)
			json_object_set(c->secrets, key, s);
		old = s;
	} else if (old != NULL) {
		log_debug(NULL, "using the copy of secret %s read earlier: %s", key, kerr.msg);
		rc = 0;
	}
	if (rc == 0)
		rc = secret_from_kube_object(out, old, ref->key, err);
	pthread_mutex_unlock(&c->mu);
	if (s != NULL) {
		if (rc != 0 || json_object_get(c->secrets, key) != s)
			kube_json_wipe(s);
		json_decref(s);
	}
	if (rc == APPDB_ENOTFOUND && kerr.msg[0] == '\0')
		return rc; /* the key is missing; err says so */
	if (rc == APPDB_ENOTFOUND || rc == APPDB_EFORBIDDEN)
		return err_set(err, rc, "%s", kerr.msg);
	if (rc != 0 && err != NULL && err->msg[0] == '\0')
		return err_set(err, APPDB_ETRANSIENT,
		               "secret %s has not been read yet and the Kubernetes API cannot be "
		               "reached (%s); waiting for it",
		               key, kerr.msg);
	return rc;
}

/* ---- status and Events ---- */

/* The status patch for a run (new reference). prev: the object's current status. */
static json_t *status_patch(const struct run_result *r, long long generation, json_t *prev)
{
	struct cond_outcome o = {0};
	json_t *conds = NULL, *users = json_array(), *actions = json_array(), *status, *last;
	size_t i;

	conditions_outcome_for(&o, r->ready, r->reason);
	o.message = r->message;
	o.observed_generation = generation;
	o.now = r->finished_at;
	if (conditions_compute(&conds, json_object_get(prev, "conditions"), &o) != 0)
		conds = json_array();
	for (i = 0; i < r->n_users; i++) {
		json_t *u = json_pack("{s:s, s:s}", "name", r->users[i].name, "access",
		                      access_name(r->users[i].access));

		/* Inside an array a null is a value, not a deletion: leave it out. */
		if (u != NULL && r->users[i].password_version != NULL)
			json_object_set_new(u, "passwordVersion",
			                    json_string(r->users[i].password_version));
		json_array_append_new(users, u);
	}
	for (i = 0; i < r->n_actions; i++)
		json_array_append_new(actions, json_string(r->actions[i]));
	last = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s?, s:O}", "runId", r->run_id, "buildId",
	                 r->build_id, "startedAt", r->started_at, "finishedAt", r->finished_at,
	                 "result", run_result_name(r->result), "reason", r->reason, "actions",
	                 actions);
	status = json_pack("{s:I, s:o, s:s?, s:o, s:o}", "observedGeneration",
	                   (json_int_t)generation, "conditions", conds, "database", r->database,
	                   "users", users, "lastRun", last);
	if (r->reason != NULL && strcmp(r->reason, REASON_AWAITING_APPROVAL) == 0)
		json_object_set(status, "pendingActions", actions);
	else
		json_object_set_new(status, "pendingActions", json_null());
	json_decref(actions);
	return json_pack("{s:o}", "status", status);
}

/* 1 when an unchanged run has nothing new to say over prev. */
static int status_current(const struct run_result *r, long long generation, json_t *prev)
{
	json_t *ready = conditions_find(json_object_get(prev, "conditions"), COND_READY);
	json_int_t og = json_integer_value(json_object_get(prev, "observedGeneration"));
	const char *st = json_string_value(json_object_get(ready, "status"));

	return r->result == RESULT_UNCHANGED && og == generation && st != NULL &&
	       strcmp(st, "True") == 0 && json_object_get(prev, "pendingActions") == NULL;
}

/* Writes the status of a run; keeps it for later when the API cannot take it. */
static void write_status(struct worker *w, const char *key, const struct appdb *db, json_t *obj,
                         const struct run_result *r)
{
	json_t *prev = json_object_get(obj, "status");
	json_t *patch = NULL, *fresh = NULL;
	struct err err = {0};
	int rc = APPDB_ECONFLICT, tries;

	if (status_current(r, db->generation, prev))
		return;
	for (tries = 0; rc == APPDB_ECONFLICT && tries < STATUS_CONFLICT_RETRIES; tries++) {
		json_decref(patch);
		patch = status_patch(r, db->generation, prev);
		err_clear(&err);
		rc = kube_patch_appdb_status(NULL, w->kc, db->ns, db->name, patch, &err);
		if (rc == APPDB_ECONFLICT) {
			/* Retry on a fresh read of the object. */
			json_decref(fresh);
			fresh = NULL;
			if (kube_get_appdb(&fresh, w->kc, db->ns, db->name, &err) == 0)
				prev = json_object_get(fresh, "status");
		}
	}
	if (rc == APPDB_ENOTFOUND) {
		log_info(NULL, "%s is gone; its status is not written", key);
	} else if (rc == APPDB_EINVAL) {
		log_error(NULL, "the API refused the status of %s: %s", key, err.msg);
	} else if (rc != 0) {
		log_warn(NULL, "could not write the status of %s (%s); kept to send later", key,
		         err.msg);
		if (rc == APPDB_ETRANSIENT || rc == APPDB_ETHROTTLED || rc == APPDB_EUNAUTHORIZED)
			set_api_up(w->ctl, rc == APPDB_ETHROTTLED);
		keep_pending(w->ctl, key, "status", patch);
	}
	json_decref(patch);
	json_decref(fresh);
}

/* Emits the Event of a run that changed or refused something. */
static void emit_event(struct worker *w, const char *key, const struct appdb *db,
                       const struct run_result *r)
{
	struct event_ref ref = {db->ns, db->name, db->uid[0] ? db->uid : NULL,
	                        db->resource_version};
	const char *type = r->result == RESULT_CHANGED ? EVENT_NORMAL : EVENT_WARNING;
	json_t *ev = NULL;
	struct err err = {0};
	char msg[1200];

	if (r->result == RESULT_UNCHANGED)
		return;
	if (r->result == RESULT_CHANGED)
		snprintf(msg, sizeof(msg), "database %s provisioned: %zu action(s)",
		         db->db_name ? db->db_name : "", r->n_actions);
	else
		snprintf(msg, sizeof(msg), "%s", r->message ? r->message : r->reason);
	if (events_build(&ev, w->ctl->events, &ref, type, r->reason, msg, r->run_id, now_wall()) !=
	    0)
		return;
	if (events_emit(w->ctl->events, w->kc, ev, &err) != 0) {
		log_warn(NULL, "could not send the Event for %s (%s); kept to send later", key,
		         err.msg);
		keep_pending(w->ctl, key, "events", ev);
	}
	json_decref(ev);
}

/* Sends what is pending for key, oldest first; stops at the first failure. */
static void flush_pending(struct worker *w, const char *key, const char *ns, const char *name)
{
	struct ctl *c = w->ctl;
	struct cache_entry e;
	json_t *pend, *status, *events;
	int rc = 0, dirty;

	pthread_mutex_lock(&c->mu);
	pend = json_object_get(c->pending, key);
	status = json_copy(json_object_get(pend, "status"));
	events = json_copy(json_object_get(pend, "events"));
	pthread_mutex_unlock(&c->mu);
	if (pend == NULL) {
		json_decref(status);
		json_decref(events);
		return;
	}
	while (rc == 0 && json_array_size(status) > 0) {
		struct err err = {0};

		rc =
		    kube_patch_appdb_status(NULL, w->kc, ns, name, json_array_get(status, 0), &err);
		if (rc == 0 || rc == APPDB_ENOTFOUND || rc == APPDB_EINVAL) {
			rc = 0;
			json_array_remove(status, 0);
		}
	}
	while (rc == 0 && json_array_size(events) > 0) {
		struct err err = {0};

		rc = events_emit(c->events, w->kc, json_array_get(events, 0), &err);
		if (rc == 0 || rc == APPDB_EINVAL) {
			rc = 0;
			json_array_remove(events, 0);
		}
	}
	pthread_mutex_lock(&c->mu);
	if (json_array_size(status) == 0 && json_array_size(events) == 0)
		json_object_del(c->pending, key);
	else
		json_object_set_new(c->pending, key,
		                    json_pack("{s:O, s:O}", "status", status, "events", events));
	dirty = entry_locked(c, key, 1, &e);
	pthread_mutex_unlock(&c->mu);
	if (dirty)
		save_entry(c, &e);
	if (rc == 0)
		log_info(NULL, "sent the status and Events of %s kept while the API was away", key);
	json_decref(status);
	json_decref(events);
}

/* Updates appdb_resources from the ready map. */
static void count_ready(struct ctl *c, const char *key, int ready)
{
	long yes = 0, no = 0;
	const char *k;
	json_t *v;

	pthread_mutex_lock(&c->mu);
	json_object_set_new(c->ready, key, json_boolean(ready));
	json_object_foreach (c->ready, k, v) {
		if (json_is_true(v))
			yes++;
		else
			no++;
	}
	pthread_mutex_unlock(&c->mu);
	metrics_set_resources(c->metrics, yes, no);
}

/* A deletion: an audit record and an Event; nothing is dropped. */
static void handle_deletion(struct worker *w, const char *key, json_t *obj)
{
	struct field_errs errs = {0};
	struct appdb *db = NULL;
	struct run_result r;

	if (appdb_from_json(&db, obj, &errs) != APPDB_ENOMEM && db != NULL && db->name != NULL) {
		struct event_ref ref = {db->ns, db->name, db->uid[0] ? db->uid : NULL, NULL};
		json_t *ev = NULL;
		struct err err = {0};
		char msg[512];

		engine_record_deletion(&r, w->eng, db);
		snprintf(msg, sizeof(msg),
		         "AppDatabase deleted; database %s and its roles are kept",
		         db->db_name ? db->db_name : "");
		if (events_build(&ev, w->ctl->events, &ref, EVENT_NORMAL, "Deleted", msg, r.run_id,
		                 now_wall()) == 0 &&
		    events_emit(w->ctl->events, w->kc, ev, &err) != 0)
			log_warn(NULL, "could not send the deletion Event of %s: %s", key, err.msg);
		json_decref(ev);
		run_result_clear(&r);
	}
	appdb_free(db);
	field_errs_clear(&errs);
}

/* One key, as a straight list of steps. */
static void reconcile_key(struct worker *w, const char *key)
{
	struct ctl *c = w->ctl;
	struct field_errs errs = {0};
	struct appdb *db = NULL;
	struct run_result r;
	json_t *obj, *gone;
	double start = now_mono();
	int rc;

	/* 1. Take the object (or its deletion). */
	pthread_mutex_lock(&c->mu);
	obj = json_incref(json_object_get(c->objects, key));
	gone = json_incref(json_object_get(c->deleted, key));
	json_object_del(c->deleted, key);
	pthread_mutex_unlock(&c->mu);
	if (gone != NULL) {
		handle_deletion(w, key, gone);
		json_decref(gone);
		workqueue_forget(c->q, key);
	}
	if (obj == NULL)
		return;

	/* 2. Leadership: while the API answers, only the leader reconciles. */
	if (c->leader != NULL && api_up(c) && !leader_is_leader(c->leader)) {
		workqueue_add_after(c->q, key, c->cfg->leader.retry_seconds);
		goto out;
	}

	/* 3. Decode. */
	rc = appdb_from_json(&db, obj, &errs);
	if (rc == APPDB_ENOMEM)
		goto out;
	/* 4. Send what waits from an outage, oldest first. */
	if (api_up(c))
		flush_pending(w, key, db->ns, db->name);

	/* 5. Run the engine. */
	if (rc != 0) {
		char *problems = field_errs_join(&errs);

		engine_report_invalid(&r, w->eng, db, problems ? problems : "invalid");
		free(problems);
	} else {
		engine_reconcile(&r, w->eng, db, ENGINE_APPLY);
	}
	metrics_set_instance_up(c->metrics, db->instance ? db->instance : "",
	                        r.reason == NULL || strcmp(r.reason, REASON_DB_UNREACHABLE) != 0);

	/* 6. Status, Event, metrics. */
	write_status(w, key, db, obj, &r);
	emit_event(w, key, db, &r);
	metrics_observe_reconcile(c->metrics, run_result_name(r.result), now_mono() - start);
	count_ready(c, key, r.ready);

	/* 7. Requeue: transient failures back off; everything is resynced. */
	if (r.retryable) {
		workqueue_add_rate_limited(c->q, key, NULL);
	} else {
		workqueue_forget(c->q, key);
		workqueue_add_after(c->q, key, c->cfg->resync_seconds);
	}
	run_result_clear(&r);
out:
	appdb_free(db);
	field_errs_clear(&errs);
	json_decref(obj);
}

static void *worker_loop(void *arg)
{
	struct worker *w = arg;
	char *key = NULL;

	for (;;) {
		if (workqueue_get(w->ctl->q, &key) != 0 || key == NULL)
			break;
		httpd_health_beat(w->ctl->health, w->health_id);
		reconcile_key(w, key);
		workqueue_done(w->ctl->q, key);
		free(key);
		key = NULL;
		httpd_health_beat(w->ctl->health, w->health_id);
	}
	return NULL;
}

/* Keeps the workers' heartbeats fresh while they wait for work. */
static long depth_source(void *ctx)
{
	return (long)workqueue_len(ctx);
}

/* ---- start and stop ---- */

static int wait_for_signal(struct ctl *c, struct worker *workers, size_t n)
{
	sigset_t set;
	struct timespec ts = {1, 0};
	size_t i;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		/* Idle workers are alive: beat for them while they wait. */
		for (i = 0; i < n; i++)
			httpd_health_beat(c->health, workers[i].health_id);
	}
	log_info(NULL, "received %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	return sig;
}

int controller_run(const struct config *cfg, const char *kubeconfig_path,
                   const struct sources *sources)
{
	struct ctl c;
	struct worker *workers = NULL;
	struct watcher *watchers = NULL;
	struct err err = {0};
	sigset_t set;
	size_t i, n_watch;
	int code = 2;
	const char *pod = getenv("POD_NAME");
	char host[256];

	/* A few threads share the heap: two malloc arenas instead of one per
	 * thread keep the resident size small (DESIGN section 10). */
	mallopt(M_ARENA_MAX, 2);
	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	pthread_mutex_init(&c.mu, NULL);
	c.objects = json_object();
	c.saved = json_object();
	c.deleted = json_object();
	c.pending = json_object();
	c.secrets = json_object();
	c.ready = json_object();
	if (pod == NULL || pod[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "appdb-operator");
		host[sizeof(host) - 1] = '\0';
		pod = host;
	}

	/* Signals are taken by the main thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (kube_config_auto(&c.kcfg, kubeconfig_path, &err) != 0 ||
	    cache_open(&c.cache, cfg->cache_dir, &err) != 0 ||
	    audit_open(&c.audit, cfg->cache_dir, 1, &err) != 0) {
		log_error(NULL, "cannot start: %s", err.msg);
		goto out;
	}
	if (workqueue_new(&c.q, NULL) != 0 || metrics_new(&c.metrics) != 0 ||
	    httpd_health_new(&c.health, NULL) != 0 || events_new(&c.events, pod, 0) != 0) {
		log_error(NULL, "cannot start: out of memory");
		goto out;
	}
	metrics_set_depth_source(c.metrics, depth_source, c.q);
	metrics_set_kube_api_up(c.metrics, 0);
	if (httpd_start(&c.httpd, cfg->http_port, c.health, c.metrics, &err) != 0) {
		log_error(NULL, "cannot serve on port %d: %s", cfg->http_port, err.msg);
		goto out;
	}
	log_info(NULL, "appdb-operator %s (build %s) serving /healthz /readyz /metrics on port %d",
	         APPDB_VERSION, cfg->build_id, httpd_port(c.httpd));

	/* Resources from the cache are reconciled even before the API answers. */
	load_cache(&c);
	if (json_object_size(c.objects) > 0)
		httpd_health_set_ready(c.health, 1);

	if (cfg->leader.enabled) {
		struct leader_opts lo = {0};
		const char *ns = cfg->leader.lease_namespace;

		if (ns == NULL || ns[0] == '\0')
			ns = getenv("POD_NAMESPACE");
		lo.ns = ns != NULL && ns[0] != '\0' ? ns : "default";
		lo.name = cfg->leader.lease_name;
		/* Without POD_NAME the elector's default, <hostname>_<pid>, keeps two
		 * processes on one host apart. */
		lo.identity =
		    getenv("POD_NAME") != NULL && getenv("POD_NAME")[0] != '\0' ? pod : NULL;
		lo.lease_seconds = cfg->leader.lease_seconds;
		lo.renew_deadline = cfg->leader.renew_seconds;
		lo.retry_period = cfg->leader.retry_seconds;
		if (leader_new(&c.leader, c.kcfg, &lo, &err) != 0 ||
		    leader_start(c.leader, &err) != 0) {
			log_error(NULL, "cannot start leader election: %s", err.msg);
			goto out;
		}
	}

	workers = calloc((size_t)cfg->workers, sizeof(*workers));
	n_watch = cfg->n_watch_namespaces > 0 ? cfg->n_watch_namespaces : 1;
	watchers = calloc(n_watch, sizeof(*watchers));
	if (workers == NULL || watchers == NULL)
		goto out;
	for (i = 0; i < (size_t)cfg->workers; i++) {
		struct worker *w = &workers[i];
		char name[32];

		w->ctl = &c;
		snprintf(name, sizeof(name), "worker-%zu", i);
		if (engine_new(&w->eng, cfg, &w->resolver, &err) != 0 ||
		    kube_client_new(&w->kc, c.kcfg, &err) != 0 ||
		    httpd_health_register(c.health, name, 120, &w->health_id) != 0) {
			log_error(NULL, "cannot start %s: %s", name, err.msg);
			goto stop;
		}
		kube_client_set_timeout(w->kc, CLIENT_TIMEOUT_SECONDS);
		engine_set_audit(w->eng, c.audit);
		sources_apply(sources, &w->resolver, w->eng);
		secret_resolver_set(&w->resolver, SECRET_KUBE, fetch_kube_secret, w);
		if (pthread_create(&w->thread, NULL, worker_loop, w) != 0) {
			w->thread = 0;
			goto stop;
		}
	}
	for (i = 0; i < n_watch; i++) {
		struct watcher *wt = &watchers[i];
		char name[300];

		wt->ctl = &c;
		wt->ns = cfg->n_watch_namespaces > 0 ? cfg->watch_namespaces[i] : NULL;
		snprintf(name, sizeof(name), "watch-%s", wt->ns ? wt->ns : "all");
		if (kube_client_new(&wt->kc, c.kcfg, &err) != 0 ||
		    httpd_health_register(c.health, name, WATCH_TIMEOUT_SECONDS + 60,
		                          &wt->health_id) != 0) {
			log_error(NULL, "cannot start %s: %s", name, err.msg);
			goto stop;
		}
		kube_client_set_timeout(wt->kc, CLIENT_TIMEOUT_SECONDS);
		if (pthread_create(&wt->thread, NULL, watch_loop, wt) != 0) {
			wt->thread = 0;
			goto stop;
		}
	}

	wait_for_signal(&c, workers, (size_t)cfg->workers);
	code = 0;
stop:
	/* Stop taking work; running reconciles finish; then the Lease goes. */
	c.stopping = 1;
	workqueue_shutdown(c.q);
	for (i = 0; watchers != NULL && i < n_watch; i++)
		if (watchers[i].kc != NULL)
			kube_client_cancel(watchers[i].kc);
	for (i = 0; watchers != NULL && i < n_watch; i++) {
		if (watchers[i].thread != 0)
			pthread_join(watchers[i].thread, NULL);
		kube_client_free(watchers[i].kc);
		free(watchers[i].rv);
	}
	for (i = 0; workers != NULL && i < (size_t)cfg->workers; i++) {
		if (workers[i].thread != 0)
			pthread_join(workers[i].thread, NULL);
		engine_free(workers[i].eng);
		kube_client_free(workers[i].kc);
	}
	if (c.leader != NULL)
		leader_stop(c.leader, 1);
	log_info(NULL, "stopped");
out:
	leader_free(c.leader);
	free(workers);
	free(watchers);
	httpd_stop(c.httpd);
	events_free(c.events);
	httpd_health_free(c.health);
	metrics_free(c.metrics);
	workqueue_free(c.q);
	audit_close(c.audit);
	cache_close(c.cache);
	kube_config_free(c.kcfg);
	{
		const char *k;
		json_t *v;

		json_object_foreach (c.secrets, k, v)
			kube_json_wipe(v);
	}
	json_decref(c.objects);
	json_decref(c.saved);
	json_decref(c.deleted);
	json_decref(c.pending);
	json_decref(c.secrets);
	json_decref(c.ready);
	pthread_mutex_destroy(&c.mu);
	return code;
}
