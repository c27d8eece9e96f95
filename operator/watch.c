/*
 * watch.c - list and watch into the store, with backoff while the API is
 * away.
 */
#include "watch.h"

#include "backoff.h"
#include "httpd.h"
#include "jfield.h"
#include "store.h"
#include "workqueue.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 500
#define BACKOFF_BASE_SECONDS 0.5
#define BACKOFF_MAX_SECONDS 30.0

/* Capped exponential backoff with +-20 % jitter for attempt n (1, 2, ...). */
static double retry_delay(int n)
{
	return backoff_spread(backoff_delay(BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS, n), 0.2,
	                      (double)rand() / RAND_MAX);
}

/* Logged one by one per list or watch; past that only counted. */
#define REFUSED_LOGGED 5

/*
 * Whether obj may go into the store; anything else is refused with a log
 * line (what: where it came from; *refused counts them). 0 or APPDB_EINVAL.
 */
static int check(json_t *obj, const char *what, size_t *refused)
{
	struct err err = {0};

	if (store_check_object(obj, &err) == 0)
		return 0;
	if ((*refused)++ < REFUSED_LOGGED)
		log_warn(NULL, "refused %s: %s", what, err.msg);
	return APPDB_EINVAL;
}

/*
 * Records obj when it is an AppDatabase and queues it when it needs a
 * reconcile; anything else is refused (check). 0, or APPDB_EINVAL when
 * refused.
 */
static int put(struct ctl *c, json_t *obj, const char *what, size_t *refused)
{
	char key[STORE_KEY_MAX];
	int rc;

	if (check(obj, what, refused) != 0)
		return APPDB_EINVAL;
	rc = store_put(c->store, obj, key, sizeof(key));
	if (rc < 0)
		log_error(NULL, "out of memory keeping an AppDatabase");
	else if (rc > 0)
		workqueue_add(c->q, key);
	return 0;
}

/* Forgets key's object and queues the deletion. */
static void delete_key(struct ctl *c, const char *key)
{
	store_delete(c->store, key);
	workqueue_add(c->q, key);
}

static int on_watch_event(void *ctx, enum kube_event_type type, json_t *obj)
{
	struct watcher *w = ctx;
	const char *rv = jfield_str2(obj, "metadata", "resourceVersion");
	char key[STORE_KEY_MAX];

	httpd_health_beat(w->ctl->health, w->health_id);
	switch (type) {
	case KUBE_EVENT_ADDED:
	case KUBE_EVENT_MODIFIED:
		/* A refused object's resourceVersion is not taken either. */
		if (put(w->ctl, obj, "a watch event", &w->refused) != 0)
			return ctl_stopping(w->ctl) ? 1 : 0;
		break;
	case KUBE_EVENT_DELETED:
		if (check(obj, "a watch event", &w->refused) != 0)
			return ctl_stopping(w->ctl) ? 1 : 0;
		store_key_of(key, sizeof(key), obj);
		delete_key(w->ctl, key);
		break;
	default:
		break;
	}
	if (rv != NULL) {
		free(w->rv);
		w->rv = strdup(rv);
	}
	return ctl_stopping(w->ctl) ? 1 : 0;
}

/* A list of keys, for the relist's bookkeeping. */
struct keys {
	char **v;
	size_t n, cap;
	int nomem;
};

static void keys_add(void *ctx, const char *key)
{
	struct keys *k = ctx;

	if (k->n == k->cap) {
		size_t cap = k->cap != 0 ? k->cap * 2 : 64;
		char **grown = realloc(k->v, cap * sizeof(*grown));

		if (grown == NULL) {
			k->nomem = 1;
			return;
		}
		k->v = grown;
		k->cap = cap;
	}
	if ((k->v[k->n] = strdup(key)) == NULL)
		k->nomem = 1;
	else
		k->n++;
}

static void keys_clear(struct keys *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void enqueue(void *ctx, const char *key)
{
	workqueue_add(ctx, key);
}

/* Lists, records every object, and finds the ones deleted meanwhile. */
static int relist(struct watcher *w, struct err *err)
{
	struct ctl *c = w->ctl;
	struct kube_list list = {0};
	struct keys seen = {0}, known = {0};
	size_t i, refused = 0;
	json_t *obj;
	int rc;

	rc = kube_list_appdbs(&list, w->kc, w->ns, LIST_PAGE, err);
	if (rc != 0)
		return rc;
	json_array_foreach (list.items, i, obj) {
		char k[STORE_KEY_MAX];

		if (put(c, obj, "an item of the AppDatabase list", &refused) != 0)
			continue;
		store_key_of(k, sizeof(k), obj);
		keys_add(&seen, k);
	}
	/* Resources of this watch's scope that are gone were deleted while we looked away. */
	store_each_key(c->store, w->ns, 0, keys_add, &known);
	if (seen.nomem || known.nomem) {
		log_error(NULL, "out of memory comparing a list with the store");
	} else if (refused > 0) {
		/* A list with foreign items is not trusted to say what is gone. */
		log_warn(NULL, "the list held %zu refused item(s); no deletion is inferred from it",
		         refused);
	} else {
		if (seen.n > 0)
			qsort(seen.v, seen.n, sizeof(*seen.v), cmp_key);
		for (i = 0; i < known.n; i++) {
			if (seen.n > 0 &&
			    bsearch(&known.v[i], seen.v, seen.n, sizeof(*seen.v), cmp_key) != NULL)
				continue;
			log_info(NULL, "%s was deleted while it was not watched", known.v[i]);
			delete_key(c, known.v[i]);
		}
	}
	/* What waits to be sent goes out now that the API answers. */
	store_each_key(c->store, NULL, 1, enqueue, c->q);
	keys_clear(&seen);
	keys_clear(&known);
	free(w->rv);
	w->rv = list.resource_version != NULL ? strdup(list.resource_version) : NULL;
	kube_list_clear(&list);
	/* A full list is the largest thing the operator parses: give its pages back. */
	malloc_trim(0);
	return 0;
}

/* How long to wait after a failure: what the server asked for, or the backoff. */
static double wait_after(int rc, const struct err *err, int failures)
{
	return rc == APPDB_ETHROTTLED && err->retry_after > 0 ? err->retry_after
	                                                      : retry_delay(failures);
}

void *watch_loop(void *arg)
{
	struct watcher *w = arg;
	struct ctl *c = w->ctl;
	int failures = 0, listed = 0;

	while (!ctl_stopping(c)) {
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
				ctl_set_api_up(c, 0, NULL);
				log_warn(NULL, "could not list AppDatabases%s%s: %s",
				         w->ns ? " in " : "", w->ns ? w->ns : "", err.msg);
				ctl_nap(c, wait_after(rc, &err, ++failures));
				continue;
			}
			listed = 1;
			failures =
			    0; /* the API answers again: the next failure starts a fresh backoff */
			ctl_set_api_up(c, 1, NULL);
			httpd_health_set_ready(c->health, 1);
		}
		opts.ns = w->ns;
		opts.resource_version = w->rv;
		opts.timeout_seconds = WATCH_TIMEOUT_SECONDS;
		w->refused = 0;
		rc = kube_watch_appdbs(w->kc, &opts, on_watch_event, w, &err);
		if (w->refused > REFUSED_LOGGED)
			log_warn(NULL, "the watch brought %zu refused event(s)", w->refused);
		if (ctl_stopping(c))
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
		ctl_set_api_up(c, 0, NULL);
		log_warn(NULL, "watch ended: %s", err.msg[0] ? err.msg : err_name(rc));
		ctl_nap(c, wait_after(rc, &err, ++failures));
	}
	return NULL;
}
