/*
 * resync.c - the two tiers of the periodic resync: the instance-wide check
 * of every converged resource in one query per instance, then the
 * in-database checks spread over the period. See resync.h.
 */
#include "resync.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "pg_instance.h"
#include "workqueue.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* A converged resource: what its instance-wide check needs. */
struct entry {
	char *key;
	size_t instance; /* index into the config's instances */
	char *db;
	char *resource;
	char **roles; /* the owner, then the users */
	size_t n_roles;
	char digest[PG_DIGEST_LEN];
};

/* Per instance: appdb_instance_check_seconds and appdb_database_checks_total. */
struct inst_metrics {
	unsigned long long bucket_counts[N_BUCKETS];
	unsigned long long count;
	double sum;
	unsigned long long db_checks;
};

struct resync {
	const struct config *cfg;
	struct workqueue *q;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
	struct entry *items;
	size_t n, cap;
	struct inst_metrics *metrics; /* one per instance of the config */
};

int resync_new(struct resync **out, const struct config *cfg, struct workqueue *q)
{
	struct resync *rs = calloc(1, sizeof(*rs));
	pthread_condattr_t ca;

	*out = NULL;
	if (rs == NULL ||
	    (rs->metrics = calloc(cfg->n_instances + 1, sizeof(*rs->metrics))) == NULL) {
		free(rs);
		return APPDB_ENOMEM;
	}
	rs->cfg = cfg;
	rs->q = q;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rs->wake, &ca);
	pthread_condattr_destroy(&ca);
	*out = rs;
	return 0;
}

static void entry_clear(struct entry *e)
{
	size_t i;

	free(e->key);
	free(e->db);
	free(e->resource);
	for (i = 0; i < e->n_roles; i++)
		free(e->roles[i]);
	free(e->roles);
	memset(e, 0, sizeof(*e));
}

void resync_free(struct resync *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++)
		entry_clear(&rs->items[i]);
	free(rs->items);
	free(rs->metrics);
	pthread_cond_destroy(&rs->wake);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

/* The index of instance in the config, or -1. */
static long instance_index(const struct config *cfg, const char *instance)
{
	size_t i;

	for (i = 0; instance != NULL && i < cfg->n_instances; i++)
		if (strcmp(cfg->instances[i].name, instance) == 0)
			return (long)i;
	return -1;
}

/* key's entry, or NULL. Lock held. */
static struct entry *find(struct resync *rs, const char *key)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->items[i].key, key) == 0)
			return &rs->items[i];
	return NULL;
}

/* Removes key's entry. Lock held. */
static void remove_key(struct resync *rs, const char *key)
{
	struct entry *e = find(rs, key);

	if (e == NULL)
		return;
	entry_clear(e);
	*e = rs->items[--rs->n];
	memset(&rs->items[rs->n], 0, sizeof(rs->items[rs->n]));
}

/* Fills e from db (a new entry's strings). Returns 0 or APPDB_ENOMEM. */
static int entry_fill(struct entry *e, const char *key, const struct appdb *db, long inst)
{
	size_t i;

	e->instance = (size_t)inst;
	e->key = strdup(key);
	e->db = strdup(db->db_name);
	e->roles = calloc(db->n_users + 1, sizeof(char *));
	if (asprintf(&e->resource, "%s/%s", db->ns, db->name) < 0)
		e->resource = NULL;
	if (e->key == NULL || e->db == NULL || e->roles == NULL || e->resource == NULL)
		return APPDB_ENOMEM;
	if ((e->roles[e->n_roles++] = strdup(db->owner)) == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < db->n_users; i++)
		if ((e->roles[e->n_roles++] = strdup(db->users[i].name)) == NULL)
			return APPDB_ENOMEM;
	return 0;
}

int resync_record(struct resync *rs, const char *key, const struct appdb *db,
                  const struct run_result *r)
{
	long inst = instance_index(rs->cfg, db != NULL ? db->instance : NULL);
	struct entry e = {0};
	int owned = 0;

	pthread_mutex_lock(&rs->lock);
	remove_key(rs, key);
	if (inst >= 0 && r->instance_digest[0] != '\0' && db->db_name != NULL &&
	    db->owner != NULL) {
		if (rs->n == rs->cap) {
			size_t cap = rs->cap > 0 ? rs->cap * 2 : 64;
			struct entry *n = realloc(rs->items, cap * sizeof(*n));

			if (n != NULL) {
				rs->items = n;
				rs->cap = cap;
			}
		}
		if (rs->n < rs->cap && entry_fill(&e, key, db, inst) == 0) {
			memcpy(e.digest, r->instance_digest, PG_DIGEST_LEN);
			rs->items[rs->n++] = e;
			owned = 1;
		} else {
			entry_clear(&e);
		}
	}
	pthread_mutex_unlock(&rs->lock);
	return owned;
}

void resync_forget(struct resync *rs, const char *key)
{
	pthread_mutex_lock(&rs->lock);
	remove_key(rs, key);
	pthread_mutex_unlock(&rs->lock);
}

void resync_count_check(struct resync *rs, const char *instance)
{
	long inst = instance_index(rs->cfg, instance);

	if (inst < 0)
		return;
	pthread_mutex_lock(&rs->lock);
	rs->metrics[inst].db_checks++;
	pthread_mutex_unlock(&rs->lock);
}

static void observe_check(struct resync *rs, size_t inst, double seconds)
{
	struct inst_metrics *m = &rs->metrics[inst];
	size_t i;

	pthread_mutex_lock(&rs->lock);
	for (i = 0; i < N_BUCKETS; i++)
		if (seconds <= buckets[i])
			m->bucket_counts[i]++;
	m->count++;
	m->sum += seconds;
	pthread_mutex_unlock(&rs->lock);
}

/* One pass's copy of an instance's entries (so the query runs without the lock). */
struct snapshot {
	struct entry *items;
	struct pg_instance_item *q;
	char (*now)[PG_DIGEST_LEN];
	size_t n;
};

static void snapshot_clear(struct snapshot *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		entry_clear(&s->items[i]);
	free(s->items);
	free(s->q);
	free(s->now);
	memset(s, 0, sizeof(*s));
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

/* Copies instance inst's entries, ordered by key. Returns 0 or APPDB_ENOMEM. */
static int snapshot_take(struct snapshot *s, struct resync *rs, size_t inst)
{
	size_t i, j, n = 0;
	int rc = 0;

	pthread_mutex_lock(&rs->lock);
	for (i = 0; i < rs->n; i++)
		n += rs->items[i].instance == inst;
	s->items = calloc(n + 1, sizeof(*s->items));
	s->q = calloc(n + 1, sizeof(*s->q));
	s->now = calloc(n + 1, sizeof(*s->now));
	if (s->items == NULL || s->q == NULL || s->now == NULL)
		rc = APPDB_ENOMEM;
	for (i = 0; rc == 0 && i < rs->n; i++) {
		const struct entry *e = &rs->items[i];
		struct entry *c = &s->items[s->n];

		if (e->instance != inst)
			continue;
		s->n++;
		c->key = strdup(e->key);
		c->db = strdup(e->db);
		c->resource = strdup(e->resource);
		c->roles = calloc(e->n_roles + 1, sizeof(char *));
		memcpy(c->digest, e->digest, PG_DIGEST_LEN);
		if (c->key == NULL || c->db == NULL || c->resource == NULL || c->roles == NULL)
			rc = APPDB_ENOMEM;
		for (j = 0; rc == 0 && j < e->n_roles; j++)
			if ((c->roles[c->n_roles++] = strdup(e->roles[j])) == NULL)
				rc = APPDB_ENOMEM;
	}
	pthread_mutex_unlock(&rs->lock);
	if (rc != 0)
		return rc;
	qsort(s->items, s->n, sizeof(*s->items), by_key);
	for (i = 0; i < s->n; i++) {
		s->q[i].db = s->items[i].db;
		s->q[i].resource = s->items[i].resource;
		s->q[i].roles = (const char *const *)s->items[i].roles;
		s->q[i].n_roles = s->items[i].n_roles;
	}
	return 0;
}

/*
 * One instance's pass: the instance-wide check, then every resource either
 * reconciled at once (its digest changed) or given its in-database check
 * at its place in the period.
 */
static void pass(struct resync *rs, struct engine *eng, size_t inst)
{
	const struct instance_config *in = &rs->cfg->instances[inst];
	struct log_ctx log = {NULL, NULL, NULL};
	struct snapshot s = {0};
	struct err err = {0};
	double start, period = rs->cfg->resync_seconds;
	size_t i, changed = 0;
	int rc;

	if (snapshot_take(&s, rs, inst) != 0 || s.n == 0)
		goto out;
	start = clock_mono();
	rc = engine_instance_digests(eng, in, s.now, s.q, s.n, &err);
	observe_check(rs, inst, clock_mono() - start);
	if (rc != 0)
		log_warn(&log,
		         "instance %s: the instance-wide check failed: %s; every database "
		         "is checked in full",
		         in->name, err.msg);
	for (i = 0; i < s.n; i++) {
		if (rc != 0 || strcmp(s.now[i], s.items[i].digest) != 0) {
			changed++;
			workqueue_add(rs->q, s.items[i].key);
		} else {
			workqueue_add_after(rs->q, s.items[i].key,
			                    period * (double)i / (double)s.n);
		}
	}
	log_info(&log,
	         "instance %s: %zu resource(s) checked in %.3f s; %zu changed outside their "
	         "database, %zu in-database checks spread over %d s",
	         in->name, s.n, clock_mono() - start, changed, s.n - changed,
	         rs->cfg->resync_seconds);
out:
	snapshot_clear(&s);
}

/* Waits up to seconds or until resync_stop; returns 1 when stopping. */
static int nap(struct resync *rs, double seconds)
{
	struct timespec ts;
	int stopping;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)seconds;
	ts.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rs->lock);
	while (!rs->stopping && pthread_cond_timedwait(&rs->wake, &rs->lock, &ts) == 0)
		;
	stopping = rs->stopping;
	pthread_mutex_unlock(&rs->lock);
	return stopping;
}

void resync_run(struct resync *rs, struct engine *eng)
{
	size_t i;

	while (!nap(rs, rs->cfg->resync_seconds))
		for (i = 0; i < rs->cfg->n_instances; i++)
			pass(rs, eng, i);
}

void resync_stop(struct resync *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->stopping = 1;
	pthread_cond_broadcast(&rs->wake);
	pthread_mutex_unlock(&rs->lock);
}

/* Appends to *t; keeps NULL after a failure. */
static void put(char **t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(char **t, const char *fmt, ...)
{
	va_list ap;
	char *more = NULL, *next = NULL;

	if (*t == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&more, fmt, ap) < 0)
		more = NULL;
	va_end(ap);
	if (more == NULL || asprintf(&next, "%s%s", *t, more) < 0)
		next = NULL;
	free(more);
	free(*t);
	*t = next;
}

/* An instance name as a label value: \\, \" and \n escaped (owned; NULL when out of memory). */
static char *label(const char *v)
{
	char *out = malloc(2 * strlen(v) + 1), *p = out;

	for (; out != NULL && *v != '\0'; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n')
			*p++ = '\\';
		*p++ = *v == '\n' ? 'n' : *v;
	}
	if (out != NULL)
		*p = '\0';
	return out;
}

char *resync_render_metrics(void *ctx)
{
	struct resync *rs = ctx;
	char *t = strdup("");
	size_t i, b;

	pthread_mutex_lock(&rs->lock);
	put(&t, "# HELP appdb_instance_check_seconds One instance-wide catalog pass of the "
	        "resync.\n# TYPE appdb_instance_check_seconds histogram\n");
	for (i = 0; i < rs->cfg->n_instances; i++) {
		const struct inst_metrics *m = &rs->metrics[i];
		char *name = label(rs->cfg->instances[i].name);

		if (name == NULL) {
			free(t);
			t = NULL;
			break;
		}

		for (b = 0; b < N_BUCKETS; b++)
			put(&t,
			    "appdb_instance_check_seconds_bucket{instance=\"%s\",le=\"%g\"} %llu\n",
			    name, buckets[b], m->bucket_counts[b]);
		put(&t,
		    "appdb_instance_check_seconds_bucket{instance=\"%s\",le=\"+Inf\"} %llu\n"
		    "appdb_instance_check_seconds_sum{instance=\"%s\"} %.6f\n"
		    "appdb_instance_check_seconds_count{instance=\"%s\"} %llu\n",
		    name, m->count, name, m->sum, name, m->count);
		free(name);
	}
	put(&t, "# HELP appdb_database_checks_total In-database checks made.\n"
	        "# TYPE appdb_database_checks_total counter\n");
	for (i = 0; t != NULL && i < rs->cfg->n_instances; i++) {
		char *name = label(rs->cfg->instances[i].name);

		put(&t, "appdb_database_checks_total{instance=\"%s\"} %llu\n", name ? name : "",
		    rs->metrics[i].db_checks);
		free(name);
	}
	pthread_mutex_unlock(&rs->lock);
	return t;
}
