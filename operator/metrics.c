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
#define MAX_PER_INSTANCE (MAX_INSTANCES * 4)
#define MAX_HIST_BUCKETS 16

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1,     2.5,  5,     10,   30,  60,   120};
/* From a fast apply (under a second) to a prod approval that waits a day;
 * 300 is the PRD's 5 minutes. */
static const double ttr_buckets[] = {0.5, 1,   2.5, 5,    10,   30,    60,
                                     120, 300, 600, 1800, 3600, 14400, 86400};

struct labelled {
	char *label;
	double value;
};

/* A histogram over fixed upper bounds (le); cumulative counts. */
struct hist {
	const double *le;
	size_t n;
	unsigned long long counts[MAX_HIST_BUCKETS];
	unsigned long long count;
	double sum;
};

struct metrics {
	pthread_mutex_t lock;
	struct labelled results[MAX_RESULTS];
	size_t n_results;
	struct hist duration, ttr;
	struct labelled per_instance[MAX_PER_INSTANCE]; /* label "instance\nresult" */
	size_t n_per_instance;
	struct labelled reasons[MAX_RESULTS];
	size_t n_reasons;
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
	m->duration.le = buckets;
	m->duration.n = sizeof(buckets) / sizeof(buckets[0]);
	m->ttr.le = ttr_buckets;
	m->ttr.n = sizeof(ttr_buckets) / sizeof(ttr_buckets[0]);
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
	for (i = 0; i < m->n_per_instance; i++)
		free(m->per_instance[i].label);
	for (i = 0; i < m->n_reasons; i++)
		free(m->reasons[i].label);
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

/* Adds one observation to h. Lock held. */
static void hist_observe(struct hist *h, double v)
{
	size_t i;

	if (v < 0)
		v = 0;
	for (i = 0; i < h->n; i++)
		if (v <= h->le[i])
			h->counts[i]++;
	h->count++;
	h->sum += v;
}

void metrics_observe_reconcile(struct metrics *m, const char *result, double seconds)
{
	struct labelled *s;

	pthread_mutex_lock(&m->lock);
	s = slot(m->results, &m->n_results, MAX_RESULTS, result != NULL ? result : "unknown");
	if (s != NULL)
		s->value += 1;
	hist_observe(&m->duration, seconds);
	pthread_mutex_unlock(&m->lock);
}

void metrics_observe_time_to_ready(struct metrics *m, double seconds)
{
	pthread_mutex_lock(&m->lock);
	hist_observe(&m->ttr, seconds);
	pthread_mutex_unlock(&m->lock);
}

void metrics_count_instance_reconcile(struct metrics *m, const char *instance, const char *result)
{
	struct labelled *s;
	char label[320];

	snprintf(label, sizeof(label), "%s\n%s", instance != NULL ? instance : "",
	         result != NULL ? result : "unknown");
	pthread_mutex_lock(&m->lock);
	s = slot(m->per_instance, &m->n_per_instance, MAX_PER_INSTANCE, label);
	if (s != NULL)
		s->value += 1;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_reason_count(struct metrics *m, const char *const *reasons, const long *counts,
                              size_t n)
{
	struct labelled *s;
	size_t i;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->n_reasons; i++)
		m->reasons[i].value = 0; /* a reason no resource has any more reads 0 */
	for (i = 0; i < n; i++) {
		s = slot(m->reasons, &m->n_reasons, MAX_RESULTS, reasons[i]);
		if (s != NULL)
			s->value = (double)counts[i];
	}
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

/* Appends the first n bytes of a label value escaped as the format requires (\\, \", \n). */
static void add_label_n(struct text *t, const char *v, size_t n)
{
	const char *end = v + n;

	for (; v < end && *v != '\0'; v++) {
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

/* Appends a label value, escaped. */
static void add_label(struct text *t, const char *v)
{
	add_label_n(t, v, strlen(v));
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

/* Renders histogram h as name_bucket, name_sum, name_count. */
static void add_hist(struct text *t, const char *name, const struct hist *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		add(t, "%s_bucket{le=\"", name);
		add_float(t, h->le[i]);
		add(t, "\"} %llu\n", h->counts[i]);
	}
	add(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum ", name, h->count, name);
	add_float(t, h->sum);
	add(t, "\n%s_count %llu\n", name, h->count);
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
	add_hist(&t, "appdb_reconcile_duration_seconds", &m->duration);
	add(&t, "# HELP appdb_instance_reconcile_total Reconciles finished, by instance and "
	        "result.\n"
	        "# TYPE appdb_instance_reconcile_total counter\n");
	for (i = 0; i < m->n_per_instance; i++) {
		/* The result, last, never holds a newline; the instance may. */
		const char *nl = strrchr(m->per_instance[i].label, '\n');

		add(&t, "appdb_instance_reconcile_total{instance=\"");
		add_label_n(&t, m->per_instance[i].label, (size_t)(nl - m->per_instance[i].label));
		add(&t, "\",result=\"");
		add_label(&t, nl + 1);
		add(&t, "\"} ");
		add_float(&t, m->per_instance[i].value);
		add(&t, "\n");
	}
	add(&t, "# HELP appdb_time_to_ready_seconds From a generation first being seen to its "
	        "Ready=True.\n"
	        "# TYPE appdb_time_to_ready_seconds histogram\n");
	add_hist(&t, "appdb_time_to_ready_seconds", &m->ttr);
	add(&t,
	    "# HELP appdb_resources AppDatabases known, by readiness.\n"
	    "# TYPE appdb_resources gauge\n"
	    "appdb_resources{ready=\"true\"} %ld\n"
	    "appdb_resources{ready=\"false\"} %ld\n",
	    m->resources_ready, m->resources_not_ready);
	add(&t, "# HELP appdb_resources_by_reason AppDatabases known, by the reason of their "
	        "last run.\n"
	        "# TYPE appdb_resources_by_reason gauge\n");
	for (i = 0; i < m->n_reasons; i++) {
		add(&t, "appdb_resources_by_reason{reason=\"");
		add_label(&t, m->reasons[i].label);
		add(&t, "\"} %ld\n", (long)m->reasons[i].value);
	}
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
