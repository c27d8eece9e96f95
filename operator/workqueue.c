/*
 * workqueue.c - the rate-limited, coalescing work queue.
 *
 * Every key the queue knows has one item: whether it waits in the FIFO
 * (queued), whether a worker holds it (processing), whether it was added
 * while held (dirty), its pending delayed add (due) and its failure count.
 * Items live in a small open hash table; the FIFO is a ring of item
 * pointers. An item that is none of these is dropped.
 */
#include "workqueue.h"
#include "backoff.h"
#include "clock.h"
#include "err.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wq_item {
	char *key;
	int queued;
	int processing;
	int dirty;
	int delayed;
	double due;
	int failures;
	struct wq_item *next; /* hash chain */
};

struct workqueue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct workqueue_opts opts;
	unsigned int seed;
	int shutting_down;
	struct wq_item **buckets;
	size_t n_buckets;
	size_t n_items;
	struct wq_item **fifo; /* ring */
	size_t fifo_cap, fifo_head, fifo_len;
	size_t n_delayed;
};

/* The default clock: CLOCK_MONOTONIC in seconds. */
static double mono_now(void *ctx)
{
	(void)ctx;
	return clock_mono();
}

/* FNV-1a over the key. */
static size_t hash_key(const char *key)
{
	size_t h = 1469598103934665603ULL;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return h;
}

int workqueue_new(struct workqueue **out, const struct workqueue_opts *opts)
{
	struct workqueue *q = NULL;
	pthread_condattr_t ca;
	int rc = APPDB_ENOMEM;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		goto out;
	if (opts != NULL)
		q->opts = *opts;
	if (q->opts.base_delay <= 0)
		q->opts.base_delay = 1.0;
	if (q->opts.max_delay <= 0)
		q->opts.max_delay = 300.0;
	if (q->opts.jitter < 0)
		q->opts.jitter = 0;
	else if (q->opts.jitter == 0)
		q->opts.jitter = 0.1;
	if (q->opts.clock == NULL)
		q->opts.clock = mono_now;
	q->seed = q->opts.seed != 0 ? q->opts.seed : (unsigned int)time(NULL);
	q->n_buckets = 256;
	q->buckets = calloc(q->n_buckets, sizeof(*q->buckets));
	q->fifo_cap = 64;
	q->fifo = calloc(q->fifo_cap, sizeof(*q->fifo));
	if (q->buckets == NULL || q->fifo == NULL)
		goto out;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = q;
	q = NULL;
	rc = 0;
out:
	if (q != NULL) {
		free(q->buckets);
		free(q->fifo);
		free(q);
	}
	return rc;
}

void workqueue_free(struct workqueue *q)
{
	size_t i;
	struct wq_item *it, *next;

	if (q == NULL)
		return;
	for (i = 0; i < q->n_buckets; i++) {
		for (it = q->buckets[i]; it != NULL; it = next) {
			next = it->next;
			free(it->key);
			free(it);
		}
	}
	free(q->buckets);
	free(q->fifo);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
}

/* Finds the item of key, or NULL. Lock held. */
static struct wq_item *find_item(struct workqueue *q, const char *key)
{
	struct wq_item *it;

	for (it = q->buckets[hash_key(key) % q->n_buckets]; it != NULL; it = it->next)
		if (strcmp(it->key, key) == 0)
			return it;
	return NULL;
}

/* Doubles the hash table. Lock held; failure leaves it as it was. */
static void grow_table(struct workqueue *q)
{
	size_t n = q->n_buckets * 2, i;
	struct wq_item **b = calloc(n, sizeof(*b));
	struct wq_item *it, *next;

	if (b == NULL)
		return;
	for (i = 0; i < q->n_buckets; i++) {
		for (it = q->buckets[i]; it != NULL; it = next) {
			size_t h = hash_key(it->key) % n;

			next = it->next;
			it->next = b[h];
			b[h] = it;
		}
	}
	free(q->buckets);
	q->buckets = b;
	q->n_buckets = n;
}

/* Finds or makes the item of key. Lock held. NULL on ENOMEM. */
static struct wq_item *get_item(struct workqueue *q, const char *key)
{
	struct wq_item *it = find_item(q, key);
	size_t h;

	if (it != NULL)
		return it;
	it = calloc(1, sizeof(*it));
	if (it == NULL)
		return NULL;
	it->key = strdup(key);
	if (it->key == NULL) {
		free(it);
		return NULL;
	}
	if (q->n_items >= q->n_buckets)
		grow_table(q);
	h = hash_key(key) % q->n_buckets;
	it->next = q->buckets[h];
	q->buckets[h] = it;
	q->n_items++;
	return it;
}

/* Drops an item that has no reason to exist any more. Lock held. */
static void maybe_drop(struct workqueue *q, struct wq_item *it)
{
	struct wq_item **pp;

	if (it->queued || it->processing || it->dirty || it->delayed || it->failures > 0)
		return;
	for (pp = &q->buckets[hash_key(it->key) % q->n_buckets]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == it) {
			*pp = it->next;
			break;
		}
	}
	q->n_items--;
	free(it->key);
	free(it);
}

/* Appends it to the FIFO. Lock held. */
static int fifo_push(struct workqueue *q, struct wq_item *it)
{
	if (q->fifo_len == q->fifo_cap) {
		size_t n = q->fifo_cap * 2, i;
		struct wq_item **f = calloc(n, sizeof(*f));

		if (f == NULL)
			return APPDB_ENOMEM;
		for (i = 0; i < q->fifo_len; i++)
			f[i] = q->fifo[(q->fifo_head + i) % q->fifo_cap];
		free(q->fifo);
		q->fifo = f;
		q->fifo_cap = n;
		q->fifo_head = 0;
	}
	q->fifo[(q->fifo_head + q->fifo_len) % q->fifo_cap] = it;
	q->fifo_len++;
	it->queued = 1;
	return 0;
}

/* The add of controller-runtime: dirty, and queued unless held. Lock held. */
static int add_locked(struct workqueue *q, struct wq_item *it)
{
	int rc = 0;

	if (it->dirty)
		return 0;
	it->dirty = 1;
	if (!it->processing) {
		rc = fifo_push(q, it);
		if (rc == 0)
			pthread_cond_signal(&q->cond);
		else
			it->dirty = 0;
	}
	return rc;
}

/* Moves due delayed items into the queue; returns the next due time or -1. Lock held. */
static double promote_due(struct workqueue *q)
{
	double now, next = -1;
	size_t i;
	struct wq_item *it, *nx;

	if (q->n_delayed == 0)
		return -1;
	now = q->opts.clock(q->opts.clock_ctx);
	for (i = 0; i < q->n_buckets; i++) {
		for (it = q->buckets[i]; it != NULL; it = nx) {
			nx = it->next;
			if (!it->delayed)
				continue;
			if (it->due <= now) {
				it->delayed = 0;
				q->n_delayed--;
				add_locked(q, it);
			} else if (next < 0 || it->due < next) {
				next = it->due;
			}
		}
	}
	return next;
}

int workqueue_add(struct workqueue *q, const char *key)
{
	struct wq_item *it;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	if (q->shutting_down)
		goto out;
	it = get_item(q, key);
	if (it == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	rc = add_locked(q, it);
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int workqueue_add_after(struct workqueue *q, const char *key, double delay)
{
	struct wq_item *it;
	double due;
	int rc = 0;

	if (delay <= 0)
		return workqueue_add(q, key);
	pthread_mutex_lock(&q->lock);
	if (q->shutting_down)
		goto out;
	it = get_item(q, key);
	if (it == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	due = q->opts.clock(q->opts.clock_ctx) + delay;
	if (!it->delayed) {
		it->delayed = 1;
		it->due = due;
		q->n_delayed++;
	} else if (due < it->due) {
		it->due = due;
	}
	/* A sleeping getter must recompute its wake-up time. */
	pthread_cond_broadcast(&q->cond);
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

double workqueue_backoff(const struct workqueue_opts *opts, int n)
{
	double base = opts != NULL && opts->base_delay > 0 ? opts->base_delay : 1.0;
	double cap = opts != NULL && opts->max_delay > 0 ? opts->max_delay : 300.0;

	return backoff_delay(base, cap, n);
}

int workqueue_add_rate_limited(struct workqueue *q, const char *key, double *out_delay)
{
	struct wq_item *it;
	double d;
	int n;

	pthread_mutex_lock(&q->lock);
	if (q->shutting_down) {
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	it = get_item(q, key);
	if (it == NULL) {
		pthread_mutex_unlock(&q->lock);
		return APPDB_ENOMEM;
	}
	n = ++it->failures;
	d = workqueue_backoff(&q->opts, n);
	d += d * q->opts.jitter * ((double)rand_r(&q->seed) / (double)RAND_MAX);
	if (d > q->opts.max_delay)
		d = q->opts.max_delay;
	pthread_mutex_unlock(&q->lock);
	if (out_delay != NULL)
		*out_delay = d;
	return workqueue_add_after(q, key, d);
}

void workqueue_forget(struct workqueue *q, const char *key)
{
	struct wq_item *it;

	pthread_mutex_lock(&q->lock);
	it = find_item(q, key);
	if (it != NULL) {
		it->failures = 0;
		maybe_drop(q, it);
	}
	pthread_mutex_unlock(&q->lock);
}

#ifdef APPDB_TEST_API /* the unit tests' view */
int workqueue_num_requeues(struct workqueue *q, const char *key)
{
	struct wq_item *it;
	int n = 0;

	pthread_mutex_lock(&q->lock);
	it = find_item(q, key);
	if (it != NULL)
		n = it->failures;
	pthread_mutex_unlock(&q->lock);
	return n;
}
#endif

/* Pops the FIFO head into *out (owned copy). Lock held, fifo non-empty. */
static int pop_locked(struct workqueue *q, char **out)
{
	struct wq_item *it = q->fifo[q->fifo_head];
	char *key = strdup(it->key);

	if (key == NULL)
		return APPDB_ENOMEM;
	q->fifo_head = (q->fifo_head + 1) % q->fifo_cap;
	q->fifo_len--;
	it->queued = 0;
	it->dirty = 0;
	it->processing = 1;
	*out = key;
	return 0;
}

/* Shared body of get and try_get. */
static int get_common(struct workqueue *q, char **out, int block)
{
	int rc = 0;
	double next, now, wait;
	struct timespec ts;

	*out = NULL;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		if (q->shutting_down)
			break;
		next = promote_due(q);
		if (q->fifo_len > 0) {
			rc = pop_locked(q, out);
			break;
		}
		if (!block)
			break;
		wait = 1.0;
		if (next >= 0) {
			now = q->opts.clock(q->opts.clock_ctx);
			if (next - now < wait)
				wait = next - now > 0.001 ? next - now : 0.001;
		}
		clock_deadline(&ts, CLOCK_MONOTONIC, wait);
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int workqueue_get(struct workqueue *q, char **out)
{
	return get_common(q, out, 1);
}

#ifdef APPDB_TEST_API /* the unit tests' view */
int workqueue_try_get(struct workqueue *q, char **out)
{
	return get_common(q, out, 0);
}
#endif

void workqueue_done(struct workqueue *q, const char *key)
{
	struct wq_item *it;

	pthread_mutex_lock(&q->lock);
	it = find_item(q, key);
	if (it != NULL && it->processing) {
		it->processing = 0;
		if (it->dirty && !q->shutting_down) {
			if (fifo_push(q, it) == 0)
				pthread_cond_signal(&q->cond);
			else
				it->dirty = 0;
		}
		maybe_drop(q, it);
	}
	pthread_mutex_unlock(&q->lock);
}

void workqueue_shutdown(struct workqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->shutting_down = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

size_t workqueue_len(struct workqueue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	promote_due(q);
	n = q->fifo_len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

#ifdef APPDB_TEST_API /* the unit tests' view */
size_t workqueue_delayed_len(struct workqueue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	promote_due(q);
	n = q->n_delayed;
	pthread_mutex_unlock(&q->lock);
	return n;
}
#endif
