/*
 * store.c - the controller's typed store of AppDatabases: a hash table of
 * struct store_res under one mutex, written through to the cache files.
 */
#include "store.h"

#include "clock.h"
#include "jfield.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_BUCKETS_FIRST 64

/* One resource. */
struct store_res {
	char *key;      /* "ns/name" */
	json_t *object; /* as the cache keeps it; NULL once deleted */
	struct store_status status;
	long long saved_hash;   /* of the object last written to the cache; 0: none */
	json_t *pending_status; /* array of merge patches, oldest first, or NULL */
	json_t *pending_events; /* array of Events, oldest first, or NULL */
	int ready;              /* 1, 0, or -1: not counted */
	char reason[32];        /* of the last run; "" when none */
	long long seen_gen;     /* the generation (of seen_uid) whose first Ready is timed */
	long long seen_uid;     /* a hash of its uid */
	double seen_at;         /* when it was first seen, on the store's clock */
	int seen_timing;        /* 1 while its first Ready is still to be measured */
	json_t *deleted;        /* the object as deleted, until a worker takes it */
	struct store_res *next; /* in its bucket */
};

struct store {
	pthread_mutex_t mu; /* guards everything below */
	struct store_res **buckets;
	size_t n_buckets, n, n_objects;
	struct cache *cache;
	clock_fn clock; /* for the time to Ready; clock_mono unless a test sets it */
};

/* FNV-1a over a string. */
static unsigned long long fnv(const char *p)
{
	unsigned long long h = 14695981039346656037ULL;

	for (; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Replaces *v (owned) by a deep copy sharing no value; 0, or APPDB_ENOMEM (*v NULL). */
static int unshared_copy(json_t **v)
{
	json_t *copy = *v != NULL ? json_deep_copy(*v) : NULL;

	json_decref(*v);
	*v = copy;
	return copy != NULL ? 0 : APPDB_ENOMEM;
}

/* A hash of an object's canonical text; 0 when it cannot be made. */
static long long object_hash(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned long long h;

	if (text == NULL)
		return 0;
	h = fnv(text);
	free(text);
	return (long long)(h >> 1);
}

int store_new(struct store **out, struct cache *cache)
{
	struct store *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return APPDB_ENOMEM;
	s->buckets = calloc(STORE_BUCKETS_FIRST, sizeof(*s->buckets));
	if (s->buckets == NULL) {
		free(s);
		return APPDB_ENOMEM;
	}
	s->n_buckets = STORE_BUCKETS_FIRST;
	s->cache = cache;
	s->clock = clock_mono;
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return 0;
}

void store_status_clear(struct store_status *st)
{
	json_decref(st->conditions);
	memset(st, 0, sizeof(*st));
}

static void res_free(struct store_res *r)
{
	free(r->key);
	json_decref(r->object);
	store_status_clear(&r->status);
	json_decref(r->pending_status);
	json_decref(r->pending_events);
	json_decref(r->deleted);
	free(r);
}

void store_free(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_buckets; i++) {
		while (s->buckets[i] != NULL) {
			struct store_res *r = s->buckets[i];

			s->buckets[i] = r->next;
			res_free(r);
		}
	}
	free(s->buckets);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void store_key_of(char *out, size_t len, json_t *obj)
{
	const char *ns = jfield_str2(obj, "metadata", "namespace");
	const char *name = jfield_str2(obj, "metadata", "name");

	snprintf(out, len, "%s/%s", ns != NULL ? ns : "", name != NULL ? name : "");
}

/* key's entry, or NULL. Lock held. */
static struct store_res *find(struct store *s, const char *key)
{
	struct store_res *r = s->buckets[fnv(key) % s->n_buckets];

	while (r != NULL && strcmp(r->key, key) != 0)
		r = r->next;
	return r;
}

/* Doubles the table when it is full; on no memory it stays as it is. Lock held. */
static void grow(struct store *s)
{
	size_t n = s->n_buckets * 2, i;
	struct store_res **b;

	if (s->n < s->n_buckets)
		return;
	b = calloc(n, sizeof(*b));
	if (b == NULL)
		return;
	for (i = 0; i < s->n_buckets; i++) {
		while (s->buckets[i] != NULL) {
			struct store_res *r = s->buckets[i];
			size_t h = fnv(r->key) % n;

			s->buckets[i] = r->next;
			r->next = b[h];
			b[h] = r;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = n;
}

/* key's entry, made when missing; NULL on no memory. Lock held. */
static struct store_res *get(struct store *s, const char *key)
{
	struct store_res *r = find(s, key);
	size_t h;

	if (r != NULL)
		return r;
	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->key = strdup(key)) == NULL) {
		free(r);
		return NULL;
	}
	r->ready = -1;
	grow(s);
	h = fnv(key) % s->n_buckets;
	r->next = s->buckets[h];
	s->buckets[h] = r;
	s->n++;
	return r;
}

/* Unlinks and frees r when it holds nothing any more. Lock held. */
static void drop_if_empty(struct store *s, struct store_res *r)
{
	struct store_res **pp = &s->buckets[fnv(r->key) % s->n_buckets];

	if (r->object != NULL || r->deleted != NULL)
		return;
	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	s->n--;
	res_free(r);
}

/*
 * Builds r's cache entry when its object or outbox changed (force: always);
 * returns 1 with *out filled when there is something to write. Lock held;
 * the write itself (two fsyncs) happens after, with save_entry.
 */
static int entry_locked(struct store *s, const struct log_ctx *log, struct store_res *r, int force,
                        struct cache_entry *out)
{
	struct err err = {0};
	long long hash;
	size_t i;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (r->object == NULL || s->cache == NULL)
		return 0;
	if (cache_entry_from_object(out, r->object, &err) != 0) {
		log_warn(log, "could not cache %s: %s", r->key, err.msg);
		return 0;
	}
	/* Written and freed after the lock: it must share nothing with r. */
	if (unshared_copy(&out->object) != 0) {
		log_warn(log, "could not cache %s: out of memory", r->key);
		cache_entry_clear(out);
		return 0;
	}
	hash = object_hash(out->object);
	if (!force && hash != 0 && r->saved_hash == hash) {
		cache_entry_clear(out);
		return 0;
	}
	json_array_foreach (r->pending_status, i, v) {
		cache_entry_push_status(out, v);
	}
	json_array_foreach (r->pending_events, i, v) {
		cache_entry_push_event(out, v);
	}
	r->saved_hash = hash;
	return 1;
}

/* Writes an entry built by entry_locked and clears it. */
static void save_entry(struct store *s, const struct log_ctx *log, struct cache_entry *e)
{
	struct err err = {0};

	if (cache_save(s->cache, e, &err) != 0)
		log_error(log, "could not write the cache file of %s/%s: %s", e->ns, e->name,
		          err.msg);
	cache_entry_clear(e);
}

void store_status_from_json(struct store_status *out, json_t *status)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(status))
		return;
	out->present = 1;
	out->observed_generation =
	    (long long)json_integer_value(json_object_get(status, "observedGeneration"));
	out->conditions = json_deep_copy(json_object_get(status, "conditions"));
	out->pending_actions = json_object_get(status, "pendingActions") != NULL;
}

/* 1 when status says Ready=True for generation gen. */
static int status_ready_at(const struct store_status *st, long long gen)
{
	json_t *c;
	size_t i;

	if (st == NULL || st->observed_generation != gen)
		return 0;
	json_array_foreach (st->conditions, i, c) {
		const char *type = jfield_str(c, "type"), *status = jfield_str(c, "status");

		if (type != NULL && strcmp(type, "Ready") == 0)
			return status != NULL && strcmp(status, "True") == 0;
	}
	return 0;
}

/*
 * Notes when obj shows a generation (or uid) not seen before: its time to
 * Ready is measured from now, unless its status already says Ready for it,
 * or (timing 0) where it was first seen is not known (a cache file read at
 * start). Lock held.
 */
static void note_generation(struct store *s, struct store_res *r, json_t *obj,
                            const struct store_status *st, int timing)
{
	json_t *meta = json_object_get(obj, "metadata");
	long long gen = (long long)json_integer_value(json_object_get(meta, "generation"));
	const char *uid = jfield_str(meta, "uid");
	long long uh = uid != NULL ? (long long)(fnv(uid) >> 1) : 0;

	if (r->seen_gen == gen && r->seen_uid == uh)
		return;
	r->seen_gen = gen;
	r->seen_uid = uh;
	r->seen_at = s->clock();
	r->seen_timing = timing && !status_ready_at(st, gen);
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
		if (!jfield_same(om, nm, fields[i]))
			return 1;
	return !jfield_same(old, obj, "spec");
}

int store_put(struct store *s, json_t *full, char *key, size_t key_len)
{
	struct store_status st;
	struct cache_entry e;
	struct store_res *r;
	json_t *obj;
	int queue, dirty = 0;

	store_key_of(key, key_len, full);
	obj = cache_sanitize(full);
	/* The caller keeps full: keep nothing of it. */
	if (unshared_copy(&obj) != 0)
		return APPDB_ENOMEM;
	store_status_from_json(&st, json_object_get(full, "status"));
	pthread_mutex_lock(&s->mu);
	r = get(s, key);
	if (r == NULL) {
		pthread_mutex_unlock(&s->mu);
		json_decref(obj);
		store_status_clear(&st);
		return APPDB_ENOMEM;
	}
	queue = needs_reconcile(r->object, obj);
	note_generation(s, r, obj, &st, 1);
	if (r->object == NULL)
		s->n_objects++;
	json_decref(r->object);
	r->object = obj;
	store_status_clear(&r->status);
	r->status = st;
	dirty = entry_locked(s, NULL, r, 0, &e);
	pthread_mutex_unlock(&s->mu);
	if (dirty)
		save_entry(s, NULL, &e);
	return queue;
}

void store_delete(struct store *s, const char *key)
{
	struct store_res *r;
	struct err err = {0};
	char ns[STORE_KEY_MAX];
	const char *slash;

	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL) {
		if (r->object != NULL) {
			json_decref(r->deleted);
			r->deleted = r->object;
			r->object = NULL;
			s->n_objects--;
		}
		store_status_clear(&r->status);
		json_decref(r->pending_status);
		json_decref(r->pending_events);
		r->pending_status = r->pending_events = NULL;
		r->saved_hash = 0;
		r->ready = -1;
		r->reason[0] = '\0';
		r->seen_gen = r->seen_uid = 0;
		r->seen_at = 0;
		r->seen_timing = 0;
		drop_if_empty(s, r);
	}
	pthread_mutex_unlock(&s->mu);
	slash = strchr(key, '/');
	if (s->cache == NULL || slash == NULL)
		return;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	if (cache_remove(s->cache, ns, slash + 1, &err) != 0)
		log_warn(NULL, "could not remove the cache file of %s: %s", key, err.msg);
}

void store_take(struct store_item *out, struct store *s, const char *key)
{
	struct store_res *r;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL) {
		out->object = json_deep_copy(r->object);
		out->status = r->status;
		out->status.conditions = json_deep_copy(r->status.conditions);
		out->deleted = r->deleted;
		r->deleted = NULL;
		drop_if_empty(s, r);
	}
	pthread_mutex_unlock(&s->mu);
}

void store_item_clear(struct store_item *it)
{
	json_decref(it->object);
	store_status_clear(&it->status);
	json_decref(it->deleted);
	memset(it, 0, sizeof(*it));
}

size_t store_size(struct store *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n_objects;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t store_load_cache(struct store *s, void (*fn)(void *ctx, const char *key), void *ctx)
{
	struct cache_entry *entries = NULL;
	struct err err = {0};
	size_t n = 0, corrupt = 0, i;

	if (cache_load_all(&entries, &n, &corrupt, s->cache, &err) != 0) {
		log_error(NULL, "could not read the cache in %s: %s", cache_dir(s->cache), err.msg);
		return 0;
	}
	if (corrupt > 0)
		log_warn(NULL, "%zu corrupt cache file(s) set aside in %s", corrupt,
		         cache_dir(s->cache));
	for (i = 0; i < n; i++) {
		char key[STORE_KEY_MAX];
		struct store_res *r;

		snprintf(key, sizeof(key), "%s/%s", entries[i].ns, entries[i].name);
		pthread_mutex_lock(&s->mu);
		r = get(s, key);
		if (r != NULL) {
			if (r->object == NULL)
				s->n_objects++;
			json_decref(r->object);
			r->object = json_incref(entries[i].object);
			r->saved_hash = object_hash(entries[i].object);
			note_generation(s, r, r->object, NULL, 0);
			if (json_array_size(entries[i].pending_status) > 0 ||
			    json_array_size(entries[i].pending_events) > 0) {
				r->pending_status = json_incref(entries[i].pending_status);
				r->pending_events = json_incref(entries[i].pending_events);
			}
		}
		pthread_mutex_unlock(&s->mu);
		fn(ctx, key);
		cache_entry_clear(&entries[i]);
	}
	free(entries);
	if (n > 0)
		log_info(NULL, "loaded %zu resource(s) from the cache", n);
	return n;
}

/* 1 when key is in namespace ns (NULL: every namespace). */
static int in_namespace(const char *key, const char *ns)
{
	size_t nl = ns != NULL ? strlen(ns) : 0;

	return ns == NULL || (strncmp(key, ns, nl) == 0 && key[nl] == '/');
}

void store_each_key(struct store *s, const char *ns, int pending_only,
                    void (*fn)(void *ctx, const char *key), void *ctx)
{
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n_buckets; i++) {
		struct store_res *r;

		for (r = s->buckets[i]; r != NULL; r = r->next) {
			if (r->object == NULL || !in_namespace(r->key, ns))
				continue;
			if (pending_only && r->pending_status == NULL && r->pending_events == NULL)
				continue;
			fn(ctx, r->key);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

void store_keep(struct store *s, const struct log_ctx *log, const char *key, enum store_list list,
                json_t *item)
{
	struct cache_entry e;
	struct store_res *r;
	json_t **arr;
	int dirty = 0;

	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL && r->object != NULL) {
		if (r->pending_status == NULL)
			r->pending_status = json_array();
		if (r->pending_events == NULL)
			r->pending_events = json_array();
		arr = list == STORE_STATUS ? &r->pending_status : &r->pending_events;
		json_array_append_new(*arr, json_deep_copy(item));
		/* Bounded like the cache file; the newest are kept. */
		while (json_array_size(*arr) >
		       (list == STORE_STATUS ? CACHE_PENDING_STATUS_MAX : CACHE_PENDING_EVENTS_MAX))
			json_array_remove(*arr, 0);
		dirty = entry_locked(s, log, r, 1, &e);
	}
	pthread_mutex_unlock(&s->mu);
	if (dirty)
		save_entry(s, log, &e);
}

int store_pending(json_t **status, json_t **events, struct store *s, const char *key)
{
	struct store_res *r;
	int has = 0;

	*status = *events = NULL;
	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL && (r->pending_status != NULL || r->pending_events != NULL)) {
		*status =
		    r->pending_status != NULL ? json_deep_copy(r->pending_status) : json_array();
		*events =
		    r->pending_events != NULL ? json_deep_copy(r->pending_events) : json_array();
		has = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return has;
}

void store_set_pending(struct store *s, const struct log_ctx *log, const char *key, json_t *status,
                       json_t *events)
{
	struct cache_entry e;
	struct store_res *r;
	int dirty = 0;

	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL) {
		json_decref(r->pending_status);
		json_decref(r->pending_events);
		r->pending_status = r->pending_events = NULL;
		if (json_array_size(status) > 0 || json_array_size(events) > 0) {
			r->pending_status = json_deep_copy(status);
			r->pending_events = json_deep_copy(events);
		}
		dirty = entry_locked(s, log, r, 1, &e);
	}
	pthread_mutex_unlock(&s->mu);
	if (dirty)
		save_entry(s, log, &e);
}

void store_set_ready(struct store *s, const char *key, int ready, long *yes, long *no)
{
	struct store_res *r;
	size_t i;

	*yes = *no = 0;
	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL && r->object != NULL)
		r->ready = ready ? 1 : 0;
	for (i = 0; i < s->n_buckets; i++)
		for (r = s->buckets[i]; r != NULL; r = r->next) {
			if (r->ready == 1)
				(*yes)++;
			else if (r->ready == 0)
				(*no)++;
		}
	pthread_mutex_unlock(&s->mu);
}

void store_set_clock(struct store *s, clock_fn clock)
{
	pthread_mutex_lock(&s->mu);
	s->clock = clock != NULL ? clock : clock_mono;
	pthread_mutex_unlock(&s->mu);
}

int store_first_ready(struct store *s, const char *key, long long generation, double *seconds)
{
	struct store_res *r;
	int first = 0;

	*seconds = 0;
	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL && r->object != NULL && r->seen_timing && r->seen_gen == generation) {
		*seconds = s->clock() - r->seen_at;
		if (*seconds < 0)
			*seconds = 0;
		r->seen_timing = 0;
		first = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return first;
}

size_t store_set_reason(struct store *s, const char *key, const char *reason,
                        struct store_reason_count *out, size_t max)
{
	struct store_res *r;
	size_t i, j, n = 0;

	pthread_mutex_lock(&s->mu);
	r = find(s, key);
	if (r != NULL && r->object != NULL)
		snprintf(r->reason, sizeof(r->reason), "%s", reason != NULL ? reason : "");
	for (i = 0; i < s->n_buckets; i++)
		for (r = s->buckets[i]; r != NULL; r = r->next) {
			if (r->object == NULL || r->reason[0] == '\0')
				continue;
			for (j = 0; j < n && strcmp(out[j].reason, r->reason) != 0; j++)
				;
			if (j == n) {
				if (n == max)
					continue;
				snprintf(out[n].reason, sizeof(out[n].reason), "%s", r->reason);
				out[n++].count = 0;
			}
			out[j].count++;
		}
	pthread_mutex_unlock(&s->mu);
	return n;
}
