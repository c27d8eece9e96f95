/*
 * metrics.c - counters, gauges and one histogram behind a mutex, and their
 * text rendering.
 */
#include "metrics.h"
#include "err.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESULTS 16
#define MAX_INSTANCES 256

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1,     2.5,  5,     10,   30,  60,   120};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct labelled {
	char *label;
	double value;
};

struct metrics {
	pthread_mutex_t lock;
	struct labelled results[MAX_RESULTS];
	size_t n_results;
	unsigned long long bucket_counts[N_BUCKETS];
	unsigned long long duration_count;
	double duration_sum;
	long resources_ready, resources_not_ready;
	int kube_api_up;
	struct labelled instances[MAX_INSTANCES];
	size_t n_instances;
	long depth;
	long (*depth_fn)(void *ctx);
	void *depth_ctx;
};

int metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return APPDB_ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_results; i++)
		free(m->results[i].label);
	for (i = 0; i < m->n_instances; i++)
		free(m->instances[i].label);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The slot of label in arr, added when new and there is room; NULL otherwise. Lock held. */
static struct labelled *slot(struct labelled *arr, size_t *n, size_t max, const char *label)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(arr[i].label, label) == 0)
			return &arr[i];
	if (*n == max)
		return NULL;
	arr[*n].label = strdup(label);
	if (arr[*n].label == NULL)
		return NULL;
	arr[*n].value = 0;
	return &arr[(*n)++];
}

void metrics_observe_reconcile(struct metrics *m, const char *result, double seconds)
{
	struct labelled *s;
	size_t i;

	pthread_mutex_lock(&m->lock);
	s = slot(m->results, &m->n_results, MAX_RESULTS, result != NULL ? result : "unknown");
	if (s != NULL)
		s->value += 1;
	if (seconds < 0)
		seconds = 0;
	for (i = 0; i < N_BUCKETS; i++)
		if (seconds <= buckets[i])
			m->bucket_counts[i]++;
	m->duration_count++;
	m->duration_sum += seconds;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_resources(struct metrics *m, long ready, long not_ready)
{
	pthread_mutex_lock(&m->lock);
	m->resources_ready = ready;
	m->resources_not_ready = not_ready;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_kube_api_up(struct metrics *m, int up)
{
	pthread_mutex_lock(&m->lock);
	m->kube_api_up = up ? 1 : 0;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_instance_up(struct metrics *m, const char *instance, int up)
{
	struct labelled *s;

	pthread_mutex_lock(&m->lock);
	s = slot(m->instances, &m->n_instances, MAX_INSTANCES, instance);
	if (s != NULL)
		s->value = up ? 1 : 0;
	pthread_mutex_unlock(&m->lock);
}

#ifdef APPDB_TEST_API /* the unit tests' view */
void metrics_set_workqueue_depth(struct metrics *m, long depth)
{
	pthread_mutex_lock(&m->lock);
	m->depth = depth;
	pthread_mutex_unlock(&m->lock);
}
#endif

void metrics_set_depth_source(struct metrics *m, long (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&m->lock);
	m->depth_fn = fn;
	m->depth_ctx = ctx;
	pthread_mutex_unlock(&m->lock);
}

/* A growing text buffer; failed stays set after the first allocation failure. */
struct text {
	char *s;
	size_t len, cap;
	int failed;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends formatted text. */
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = (t->cap + (size_t)n + 1) * 2;
			char *ns = realloc(t->s, cap);

			if (ns == NULL) {
				t->failed = 1;
				return;
			}
			t->s = ns;
			t->cap = cap;
		}
	}
}

/* Appends a label value escaped as the format requires (\\, \", \n). */
static void add_label(struct text *t, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			add(t, "\\\\");
		else if (*v == '"')
			add(t, "\\\"");
		else if (*v == '\n')
			add(t, "\\n");
		else
			add(t, "%c", *v);
	}
}

/* A float in its shortest form that reads back the same ("0.005", not "0.0050000000000000001"). */
static void add_float(struct text *t, double v)
{
	char buf[40];
	int p;

	if (v == (double)(long long)v && v > -1e15 && v < 1e15) {
		add(t, "%lld", (long long)v); /* "10", not "1e+01" */
		return;
	}
	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	add(t, "%s", buf);
}

int metrics_render(char **out, size_t *out_len, struct metrics *m)
{
	struct text t = {0};
	size_t i;
	long depth;

	*out = NULL;
	t.cap = 4096;
	t.s = malloc(t.cap);
	if (t.s == NULL)
		return APPDB_ENOMEM;
	t.s[0] = '\0';
	pthread_mutex_lock(&m->lock);
	depth = m->depth_fn != NULL ? m->depth_fn(m->depth_ctx) : m->depth;
	add(&t, "# HELP appdb_reconcile_total Reconciles finished, by result.\n"
	        "# TYPE appdb_reconcile_total counter\n");
	for (i = 0; i < m->n_results; i++) {
		add(&t, "appdb_reconcile_total{result=\"");
		add_label(&t, m->results[i].label);
		add(&t, "\"} ");
		add_float(&t, m->results[i].value);
		add(&t, "\n");
	}
	add(&t, "# HELP appdb_reconcile_duration_seconds Time one reconcile took.\n"
	        "# TYPE appdb_reconcile_duration_seconds histogram\n");
	for (i = 0; i < N_BUCKETS; i++) {
		add(&t, "appdb_reconcile_duration_seconds_bucket{le=\"");
		add_float(&t, buckets[i]);
		add(&t, "\"} %llu\n", m->bucket_counts[i]);
	}
	add(&t, "appdb_reconcile_duration_seconds_bucket{le=\"+Inf\"} %llu\n", m->duration_count);
	add(&t, "appdb_reconcile_duration_seconds_sum ");
	add_float(&t, m->duration_sum);
	add(&t, "\nappdb_reconcile_duration_seconds_count %llu\n", m->duration_count);
	add(&t,
	    "# HELP appdb_resources AppDatabases known, by readiness.\n"
	    "# TYPE appdb_resources gauge\n"
	    "appdb_resources{ready=\"true\"} %ld\n"
	    "appdb_resources{ready=\"false\"} %ld\n",
	    m->resources_ready, m->resources_not_ready);
	add(&t,
	    "# HELP appdb_kube_api_up Whether the last Kubernetes API call succeeded.\n"
	    "# TYPE appdb_kube_api_up gauge\n"
	    "appdb_kube_api_up %d\n",
	    m->kube_api_up);
	add(&t, "# HELP appdb_instance_up Whether the last connection to the instance succeeded.\n"
	        "# TYPE appdb_instance_up gauge\n");
	for (i = 0; i < m->n_instances; i++) {
		add(&t, "appdb_instance_up{instance=\"");
		add_label(&t, m->instances[i].label);
		add(&t, "\"} %d\n", (int)m->instances[i].value);
	}
	add(&t,
	    "# HELP appdb_workqueue_depth Keys waiting in the work queue.\n"
	    "# TYPE appdb_workqueue_depth gauge\n"
	    "appdb_workqueue_depth %ld\n",
	    depth);
	pthread_mutex_unlock(&m->lock);
	if (t.failed) {
		free(t.s);
		return APPDB_ENOMEM;
	}
	*out = t.s;
	*out_len = t.len;
	return 0;
}
