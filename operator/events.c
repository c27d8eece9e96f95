/*
 * events.c - builds Events and aggregates repeated ones.
 */
#include "events.h"
#include "clock.h"
#include "model.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MESSAGE_MAX 1024

static atomic_uint name_counter;

struct lru_entry {
	char *key;
	char *name; /* the Event's metadata.name in the API */
	char *ns;
	long long count;
	char last[32]; /* lastTimestamp sent */
	unsigned long long used;
};

struct events_recorder {
	pthread_mutex_t lock;
	char *instance;
	struct lru_entry *lru;
	size_t cap, len;
	unsigned long long tick;
};

int events_new(struct events_recorder **out, const char *instance, size_t capacity)
{
	struct events_recorder *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return APPDB_ENOMEM;
	r->cap = capacity != 0 ? capacity : 256;
	r->lru = calloc(r->cap, sizeof(*r->lru));
	r->instance = strdup(instance != NULL && instance[0] != '\0' ? instance : EVENTS_COMPONENT);
	if (r->lru == NULL || r->instance == NULL) {
		free(r->lru);
		free(r->instance);
		free(r);
		return APPDB_ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

/* Frees one entry's strings. */
static void entry_clear(struct lru_entry *e)
{
	free(e->key);
	free(e->name);
	free(e->ns);
	memset(e, 0, sizeof(*e));
}

void events_free(struct events_recorder *rec)
{
	size_t i;

	if (rec == NULL)
		return;
	for (i = 0; i < rec->len; i++)
		entry_clear(&rec->lru[i]);
	free(rec->lru);
	free(rec->instance);
	pthread_mutex_destroy(&rec->lock);
	free(rec);
}

int events_build(json_t **out, const struct events_recorder *rec, const struct event_ref *ref,
                 const char *type, const char *reason, const char *message, const char *run_id,
                 double now)
{
	char ts[32], name[300], msg[MESSAGE_MAX + 64];
	json_t *ev = NULL, *inv = NULL, *meta = NULL;
	int rc = APPDB_ENOMEM;

	*out = NULL;
	clock_format(ts, sizeof(ts), (time_t)now);
	snprintf(name, sizeof(name), "%.200s.%llx%04x", ref->name, (unsigned long long)(now * 1e9),
	         atomic_fetch_add(&name_counter, 1) & 0xFFFF);
	if (run_id != NULL && run_id[0] != '\0')
		snprintf(msg, sizeof(msg), "%.*s (run %s)", MESSAGE_MAX,
		         message != NULL ? message : "", run_id);
	else
		snprintf(msg, sizeof(msg), "%.*s", MESSAGE_MAX, message != NULL ? message : "");
	inv = json_pack("{s:s, s:s, s:s, s:s}", "kind", APPDB_KIND, "apiVersion", APPDB_API_VERSION,
	                "namespace", ref->ns, "name", ref->name);
	meta = json_pack("{s:s, s:s}", "name", name, "namespace", ref->ns);
	if (inv == NULL || meta == NULL)
		goto out;
	if (ref->uid != NULL && ref->uid[0] != '\0' &&
	    json_object_set_new(inv, "uid", json_string(ref->uid)) != 0)
		goto out;
	if (ref->resource_version != NULL && ref->resource_version[0] != '\0' &&
	    json_object_set_new(inv, "resourceVersion", json_string(ref->resource_version)) != 0)
		goto out;
	if (run_id != NULL && run_id[0] != '\0' &&
	    json_object_set_new(meta, "annotations",
	                        json_pack("{s:s}", ANNOTATION_RUN_ID, run_id)) != 0)
		goto out;
	ev =
	    json_pack("{s:s, s:s, s:O, s:O, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:s, s:s, s:i}",
	              "apiVersion", "v1", "kind", "Event", "metadata", meta, "involvedObject", inv,
	              "reason", reason, "message", msg, "type", type, "source", "component",
	              EVENTS_COMPONENT, "reportingComponent", EVENTS_COMPONENT, "reportingInstance",
	              rec->instance, "firstTimestamp", ts, "lastTimestamp", ts, "count", 1);
	if (ev == NULL)
		goto out;
	*out = ev;
	rc = 0;
out:
	json_decref(inv);
	json_decref(meta);
	return rc;
}

char *events_key(json_t *event)
{
	json_t *inv = json_object_get(event, "involvedObject");
	const char *uid = json_string_value(json_object_get(inv, "uid"));
	const char *ns = json_string_value(json_object_get(inv, "namespace"));
	const char *name = json_string_value(json_object_get(inv, "name"));
	const char *type = json_string_value(json_object_get(event, "type"));
	const char *reason = json_string_value(json_object_get(event, "reason"));
	const char *msg = json_string_value(json_object_get(event, "message"));
	const char *run = json_string_value(json_object_get(
	    json_object_get(json_object_get(event, "metadata"), "annotations"), ANNOTATION_RUN_ID));
	size_t mlen;
	char *key = NULL, suffix[128];

	if (ns == NULL || name == NULL || reason == NULL || msg == NULL)
		return NULL;
	mlen = strlen(msg);
	if (run != NULL) {
		size_t sl;

		snprintf(suffix, sizeof(suffix), " (run %.100s)", run);
		sl = strlen(suffix);
		if (mlen >= sl && strcmp(msg + mlen - sl, suffix) == 0)
			mlen -= sl;
	}
	if (asprintf(&key, "%s/%s/%s\x1f%s\x1f%s\x1f%.*s", ns, name, uid != NULL ? uid : "",
	             type != NULL ? type : "", reason, (int)mlen, msg) < 0)
		return NULL;
	return key;
}

/* The entry of key, or NULL. Lock held. */
static struct lru_entry *lru_find(struct events_recorder *rec, const char *key)
{
	size_t i;

	for (i = 0; i < rec->len; i++)
		if (strcmp(rec->lru[i].key, key) == 0)
			return &rec->lru[i];
	return NULL;
}

/* Remembers a created Event, evicting the least recently used. Lock held. */
static void lru_put(struct events_recorder *rec, const char *key, const char *ns, const char *name,
                    long long count, const char *last)
{
	struct lru_entry *e = lru_find(rec, key);
	size_t i;

	if (e == NULL) {
		if (rec->len < rec->cap) {
			e = &rec->lru[rec->len++];
		} else {
			e = &rec->lru[0];
			for (i = 1; i < rec->len; i++)
				if (rec->lru[i].used < e->used)
					e = &rec->lru[i];
			entry_clear(e);
		}
		e->key = strdup(key);
		e->ns = strdup(ns);
		e->name = strdup(name);
		if (e->key == NULL || e->ns == NULL || e->name == NULL) {
			entry_clear(e);
			/* keep the array dense: move the last entry here */
			*e = rec->lru[--rec->len];
			memset(&rec->lru[rec->len], 0, sizeof(rec->lru[0]));
			return;
		}
	} else if (strcmp(e->name, name) != 0) {
		char *n = strdup(name);

		if (n != NULL) {
			free(e->name);
			e->name = n;
		}
	}
	e->count = count;
	snprintf(e->last, sizeof(e->last), "%s", last);
	e->used = ++rec->tick;
}

/* Forgets key (its Event is gone). Lock held. */
static void lru_drop(struct events_recorder *rec, const char *key)
{
	struct lru_entry *e = lru_find(rec, key);

	if (e == NULL)
		return;
	entry_clear(e);
	*e = rec->lru[--rec->len];
	memset(&rec->lru[rec->len], 0, sizeof(rec->lru[0]));
}

int events_emit(struct events_recorder *rec, struct kube_client *kc, json_t *event, struct err *err)
{
	char *key = events_key(event), name[300] = "", last[32] = "";
	const char *ns =
	    json_string_value(json_object_get(json_object_get(event, "metadata"), "namespace"));
	const char *ev_last = json_string_value(json_object_get(event, "lastTimestamp"));
	json_int_t ev_count = json_integer_value(json_object_get(event, "count"));
	long long count = 0;
	json_t *patch = NULL;
	struct lru_entry *e;
	int rc;

	if (key == NULL || ns == NULL || ev_last == NULL) {
		rc = err_set(err, APPDB_EINVAL, "event: needs involvedObject, reason and message");
		goto out;
	}
	if (ev_count < 1)
		ev_count = 1;
	pthread_mutex_lock(&rec->lock);
	e = lru_find(rec, key);
	if (e != NULL) {
		snprintf(name, sizeof(name), "%s", e->name);
		count = e->count;
		/* Never move lastTimestamp backwards (a buffered, older event). */
		snprintf(last, sizeof(last), "%s",
		         strcmp(e->last, ev_last) > 0 ? e->last : ev_last);
	}
	pthread_mutex_unlock(&rec->lock);
	if (name[0] != '\0') {
		patch =
		    json_pack("{s:I, s:s, s:O}", "count", (json_int_t)(count + ev_count),
		              "lastTimestamp", last, "message", json_object_get(event, "message"));
		if (patch == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
		/* The run-id annotation names the latest run, like the message. */
		if (json_object_set_new(
		        patch, "metadata",
		        json_pack("{s:O*}", "annotations",
		                  json_object_get(json_object_get(event, "metadata"),
		                                  "annotations"))) != 0) {
			rc = APPDB_ENOMEM;
			goto out;
		}
		rc = kube_patch_event(NULL, kc, ns, name, patch, err);
		if (rc == 0) {
			pthread_mutex_lock(&rec->lock);
			lru_put(rec, key, ns, name, count + ev_count, last);
			pthread_mutex_unlock(&rec->lock);
			goto out;
		}
		if (rc != APPDB_ENOTFOUND)
			goto out;
		/* The Event expired (events have a TTL): create a fresh one. */
		err_clear(err);
		pthread_mutex_lock(&rec->lock);
		lru_drop(rec, key);
		pthread_mutex_unlock(&rec->lock);
	}
	rc = kube_create_event(NULL, kc, ns, event, err);
	if (rc == APPDB_ECONFLICT) {
		/* Created before (a retry after a lost answer): it is there. */
		err_clear(err);
		rc = 0;
	}
	if (rc == 0) {
		const char *n =
		    json_string_value(json_object_get(json_object_get(event, "metadata"), "name"));

		pthread_mutex_lock(&rec->lock);
		if (n != NULL)
			lru_put(rec, key, ns, n, ev_count, ev_last);
		pthread_mutex_unlock(&rec->lock);
	}
out:
	json_decref(patch);
	free(key);
	return rc;
}

#ifdef APPDB_TEST_API /* the unit tests' view */
size_t events_lru_len(struct events_recorder *rec)
{
	size_t n;

	pthread_mutex_lock(&rec->lock);
	n = rec->len;
	pthread_mutex_unlock(&rec->lock);
	return n;
}
#endif
