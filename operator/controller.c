/*
 * controller.c - `appdb-operator run`: starts the store, the watches, the
 * workers around the engine, the probe and metrics endpoint and leader
 * election; stops them cleanly on SIGTERM.
 *
 * Each reconcile is a straight list of steps (reconcile_key): take the
 * object, check leadership, decode, send what is pending, run the engine,
 * write the status, emit the Event, count, requeue. Every log line of a
 * reconcile carries its namespace, name and run id.
 */
#include "controller.h"

#include "audit.h"
#include "cache.h"
#include "clock.h"
#include "connection.h"
#include "ctl.h"
#include "engine.h"
#include "events.h"
#include "finalizer.h"
#include "httpd.h"
#include "ksecret.h"
#include "kube_client.h"
#include "kube_config.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "outbox.h"
#include "status.h"
#include "store.h"
#include "watch.h"
#include "workqueue.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_TIMEOUT_SECONDS 10

struct worker {
	struct ctl *ctl;
	struct engine *eng;
	struct kube_client *kc;
	struct secret_resolver resolver;
	struct ksecret_source secrets; /* .log points at the running reconcile's context */
	int health_id;
	pthread_t thread;
};

/* A deletion: an audit record and an Event; nothing is dropped. */
static void handle_deletion(struct worker *w, const struct log_ctx *log, const char *key,
                            json_t *obj)
{
	struct field_errs errs = {0};
	struct appdb *db = NULL;
	struct run_result r;

	if (appdb_from_json(&db, obj, &errs) != APPDB_ENOMEM && db != NULL && db->name != NULL) {
		engine_set_run_id(w->eng, log->run_id);
		engine_record_deletion(&r, w->eng, db);
		outbox_deletion_event(w->ctl, w->kc, log, key, db, &r);
		run_result_clear(&r);
	}
	appdb_free(db);
	field_errs_clear(&errs);
}

/* Sets appdb_instance_up from a run that reached the instance, or could not. */
static void count_instance(struct ctl *c, const struct appdb *db, const struct run_result *r)
{
	const char *inst = db->instance != NULL ? db->instance : "";

	metrics_count_instance_reconcile(c->metrics, inst, run_result_name(r->result));
	if (r->reason != NULL && strcmp(r->reason, REASON_DB_UNREACHABLE) == 0)
		metrics_set_instance_up(c->metrics, inst, 0);
	else if (r->connected)
		metrics_set_instance_up(c->metrics, inst, 1);
}

/*
 * Updates appdb_resources and appdb_resources_by_reason with key's run, and
 * appdb_time_to_ready_seconds when the run is its generation's first Ready.
 */
static void count_ready(struct ctl *c, const char *key, const struct appdb *db,
                        const struct run_result *r)
{
	struct store_reason_count rc[16];
	const char *names[16];
	long yes = 0, no = 0, counts[16];
	double seconds;
	size_t i, n;

	store_set_ready(c->store, key, r->ready, &yes, &no);
	metrics_set_resources(c->metrics, yes, no);
	n = store_set_reason(c->store, key, r->reason, rc, 16);
	for (i = 0; i < n; i++) {
		names[i] = rc[i].reason;
		counts[i] = rc[i].count;
	}
	metrics_set_reason_count(c->metrics, names, counts, n);
	if (r->ready && !r->paused && !db->deleting &&
	    store_first_ready(c->store, key, db->generation, &seconds))
		metrics_observe_time_to_ready(c->metrics, seconds);
}

/* One key, as a straight list of steps. */
static void reconcile_key(struct worker *w, const char *key)
{
	struct ctl *c = w->ctl;
	struct field_errs errs = {0};
	struct store_item it;
	struct appdb *db = NULL;
	struct run_result r;
	char ns[STORE_KEY_MAX], run_id[40];
	const char *slash = strchr(key, '/');
	struct log_ctx log = {ns, slash != NULL ? slash + 1 : key, run_id};
	double start = clock_mono();
	int rc, disabling;

	/* 0. The run id and the log context every line of this reconcile carries. */
	snprintf(ns, sizeof(ns), "%.*s", slash != NULL ? (int)(slash - key) : 0, key);
	engine_new_run_id(run_id, sizeof(run_id));
	w->secrets.log = &log;

	/* 1. Take the object (or its deletion). */
	store_take(&it, c->store, key);
	if (it.deleted != NULL) {
		handle_deletion(w, &log, key, it.deleted);
		workqueue_forget(c->q, key);
		engine_new_run_id(run_id, sizeof(run_id)); /* the object, if any, is another run */
	}
	if (it.object == NULL)
		goto out;

	/* 2. Leadership: while the API answers, only the leader reconciles. */
	if (c->leader != NULL && ctl_api_up(c) && !leader_is_leader(c->leader)) {
		workqueue_add_after(c->q, key, c->cfg->leader.retry_seconds);
		goto out;
	}

	/* 3. Decode. */
	rc = appdb_from_json(&db, it.object, &errs);
	if (rc == APPDB_ENOMEM)
		goto out;
	/* 4. Send what waits from an outage, oldest first. */
	if (ctl_api_up(c))
		outbox_flush(c, w->kc, &log, key, db->ns, db->name);

	/*
	 * 5. Run the engine. deletionPolicy Disable: the finalizer is on the
	 * resource while it lives; once it is deleted, every login role is
	 * disabled before the finalizer lets it go.
	 */
	engine_set_run_id(w->eng, run_id);
	disabling = rc == 0 && db->deleting && finalizer_present(it.object);
	if (rc != 0) {
		char *problems = field_errs_join(&errs);

		engine_report_invalid(&r, w->eng, db, problems ? problems : "invalid");
		free(problems);
	} else if (disabling) {
		engine_reconcile(&r, w->eng, db, ENGINE_DISABLE);
	} else {
		if (!db->deleting && ctl_api_up(c) &&
		    (db->deletion_policy == DELETION_DISABLE) != finalizer_present(it.object))
			finalizer_set(w->kc, &log, db, it.object,
			              db->deletion_policy == DELETION_DISABLE);
		engine_reconcile(&r, w->eng, db, ENGINE_APPLY);
	}
	count_instance(c, db, &r);

	/* 6. Status, Event, metrics. */
	status_write(c, w->kc, &log, key, db, &it.status, &r);
	outbox_run_event(c, w->kc, &log, key, db, &r);
	metrics_observe_reconcile(c->metrics, run_result_name(r.result), clock_mono() - start);
	/* Paused: nothing was checked, so the last readiness stands (and the finalizer). */
	if (r.paused)
		r.ready = status_ready(&it.status);
	count_ready(c, key, db, &r);
	/* 6a. The objects applications connect with (spec.connection), after a Ready run. */
	if (rc == 0 && r.ready && !r.paused && !db->deleting && ctl_api_up(c) &&
	    connection_sync(c, w->kc, &w->resolver, &log, db, run_id) != 0)
		r.retryable = 1;
	if (disabling && !r.paused &&
	    (r.result == RESULT_CHANGED || r.result == RESULT_UNCHANGED) &&
	    finalizer_set(w->kc, &log, db, it.object, 0) != 0)
		r.retryable = 1; /* the logins are disabled; letting the resource go is retried */

	/* 7. Requeue: transient failures back off; everything is resynced. */
	if (r.retryable) {
		workqueue_add_rate_limited(c->q, key, NULL);
	} else {
		workqueue_forget(c->q, key);
		workqueue_add_after(c->q, key, c->cfg->resync_seconds);
	}
	run_result_clear(&r);
out:
	w->secrets.log = NULL;
	appdb_free(db);
	field_errs_clear(&errs);
	store_item_clear(&it);
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

/* ---- start and stop ---- */

/* The queue depth, for appdb_workqueue_depth. */
static long depth_source(void *ctx)
{
	return (long)workqueue_len(ctx);
}

static void enqueue(void *ctx, const char *key)
{
	workqueue_add(ctx, key);
}

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

/* The pod's name (POD_NAME), else the host name, into host. */
static const char *pod_name(char *host, size_t len)
{
	const char *pod = getenv("POD_NAME");

	if (pod != NULL && pod[0] != '\0')
		return pod;
	if (gethostname(host, len) != 0)
		snprintf(host, len, "appdb-operator");
	host[len - 1] = '\0';
	return host;
}

/* Starts leader election when the config asks for it. */
static int start_leader(struct ctl *c, const char *pod, struct err *err)
{
	const struct config *cfg = c->cfg;
	struct leader_opts lo = {0};
	const char *ns = cfg->leader.lease_namespace;

	if (!cfg->leader.enabled)
		return 0;
	if (ns == NULL || ns[0] == '\0')
		ns = getenv("POD_NAMESPACE");
	lo.ns = ns != NULL && ns[0] != '\0' ? ns : "default";
	lo.name = cfg->leader.lease_name;
	/* Without POD_NAME the elector's default, <hostname>_<pid>, keeps two
	 * processes on one host apart. */
	lo.identity = getenv("POD_NAME") != NULL && getenv("POD_NAME")[0] != '\0' ? pod : NULL;
	lo.lease_seconds = cfg->leader.lease_seconds;
	lo.renew_deadline = cfg->leader.renew_seconds;
	lo.retry_period = cfg->leader.retry_seconds;
	if (leader_new(&c->leader, c->kcfg, &lo, err) != 0 || leader_start(c->leader, err) != 0) {
		log_error(NULL, "cannot start leader election: %s", err->msg);
		return -1;
	}
	return 0;
}

/* Starts worker i: its engine, client, password sources and thread. */
static int start_worker(struct ctl *c, struct worker *w, size_t i, const struct sources *sources,
                        struct err *err)
{
	char name[32];

	w->ctl = c;
	snprintf(name, sizeof(name), "worker-%zu", i);
	if (engine_new(&w->eng, c->cfg, &w->resolver, err) != 0 ||
	    kube_client_new(&w->kc, c->kcfg, err) != 0 ||
	    httpd_health_register(c->health, name, 120, &w->health_id) != 0) {
		log_error(NULL, "cannot start %s: %s", name, err->msg);
		return -1;
	}
	kube_client_set_timeout(w->kc, CLIENT_TIMEOUT_SECONDS);
	engine_set_audit(w->eng, c->audit);
	sources_apply(sources, &w->resolver, w->eng);
	w->secrets.cache = c->secrets;
	w->secrets.kc = w->kc;
	secret_resolver_set(&w->resolver, SECRET_KUBE, ksecret_fetch, &w->secrets);
	if (pthread_create(&w->thread, NULL, worker_loop, w) != 0) {
		w->thread = 0;
		return -1;
	}
	return 0;
}

/* Starts the watch of namespace ns (NULL: all). */
static int start_watcher(struct ctl *c, struct watcher *wt, const char *ns, struct err *err)
{
	char name[300];

	wt->ctl = c;
	wt->ns = ns;
	snprintf(name, sizeof(name), "watch-%s", ns ? ns : "all");
	if (kube_client_new(&wt->kc, c->kcfg, err) != 0 ||
	    httpd_health_register(c->health, name, WATCH_TIMEOUT_SECONDS + 60, &wt->health_id) !=
	        0) {
		log_error(NULL, "cannot start %s: %s", name, err->msg);
		return -1;
	}
	kube_client_set_timeout(wt->kc, CLIENT_TIMEOUT_SECONDS);
	if (pthread_create(&wt->thread_id, NULL, watch_loop, wt) != 0) {
		wt->thread_id = 0;
		return -1;
	}
	return 0;
}

/* Opens what the controller needs before any thread starts; logs why not. */
static int open_all(struct ctl *c, const char *kubeconfig_path, const char *pod)
{
	const struct config *cfg = c->cfg;
	struct err err = {0};

	if (kube_config_auto(&c->kcfg, kubeconfig_path, &err) != 0 ||
	    cache_open(&c->cache, cfg->cache_dir, &err) != 0 ||
	    audit_open(&c->audit, cfg->cache_dir, 1, &err) != 0) {
		log_error(NULL, "cannot start: %s", err.msg);
		return -1;
	}
	if (workqueue_new(&c->q, NULL) != 0 || metrics_new(&c->metrics) != 0 ||
	    httpd_health_new(&c->health, NULL) != 0 || events_new(&c->events, pod, 0) != 0 ||
	    store_new(&c->store, c->cache) != 0 || ksecret_cache_new(&c->secrets) != 0) {
		log_error(NULL, "cannot start: out of memory");
		return -1;
	}
	metrics_set_depth_source(c->metrics, depth_source, c->q);
	metrics_set_kube_api_up(c->metrics, 0);
	if (httpd_start(&c->httpd, cfg->http_port, c->health, c->metrics, &err) != 0) {
		log_error(NULL, "cannot serve on port %d: %s", cfg->http_port, err.msg);
		return -1;
	}
	log_info(NULL, "appdb-operator %s (build %s) serving /healthz /readyz /metrics on port %d",
	         APPDB_VERSION, cfg->build_id, httpd_port(c->httpd));
	return 0;
}

/* Frees what open_all opened (NULLs are fine). */
static void close_all(struct ctl *c)
{
	leader_free(c->leader);
	httpd_stop(c->httpd);
	events_free(c->events);
	httpd_health_free(c->health);
	metrics_free(c->metrics);
	workqueue_free(c->q);
	audit_close(c->audit);
	store_free(c->store);
	ksecret_cache_free(c->secrets);
	cache_close(c->cache);
	kube_config_free(c->kcfg);
}

int controller_run(const struct config *cfg, const char *kubeconfig_path,
                   const struct sources *sources)
{
	struct ctl c;
	struct worker *workers = NULL;
	struct watcher *watchers = NULL;
	struct err err = {0};
	size_t i, n_workers = (size_t)cfg->workers, n_watch;
	sigset_t set;
	int code = 2;
	char host[256];
	const char *pod = pod_name(host, sizeof(host));

	/* A few threads share the heap: two malloc arenas instead of one per
	 * thread keep the resident size small (DESIGN section 10). */
	mallopt(M_ARENA_MAX, 2);
	memset(&c, 0, sizeof(c));
	c.cfg = cfg;

	/* Signals are taken by the main thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (open_all(&c, kubeconfig_path, pod) != 0)
		goto out;
	/* Resources from the cache are reconciled even before the API answers. */
	store_load_cache(c.store, enqueue, c.q);
	if (store_size(c.store) > 0)
		httpd_health_set_ready(c.health, 1);
	if (start_leader(&c, pod, &err) != 0)
		goto out;

	workers = calloc(n_workers, sizeof(*workers));
	n_watch = cfg->n_watch_namespaces > 0 ? cfg->n_watch_namespaces : 1;
	watchers = calloc(n_watch, sizeof(*watchers));
	if (workers == NULL || watchers == NULL)
		goto out;
	for (i = 0; i < n_workers; i++)
		if (start_worker(&c, &workers[i], i, sources, &err) != 0)
			goto stop;
	for (i = 0; i < n_watch; i++)
		if (start_watcher(&c, &watchers[i],
		                  cfg->n_watch_namespaces > 0 ? cfg->watch_namespaces[i] : NULL,
		                  &err) != 0)
			goto stop;

	wait_for_signal(&c, workers, n_workers);
	code = 0;
stop:
	/* Stop taking work; running reconciles finish; then the Lease goes. */
	atomic_store(&c.stopping, 1);
	workqueue_shutdown(c.q);
	for (i = 0; i < n_watch; i++)
		if (watchers[i].kc != NULL)
			kube_client_cancel(watchers[i].kc);
	for (i = 0; i < n_watch; i++) {
		if (watchers[i].thread_id != 0)
			pthread_join(watchers[i].thread_id, NULL);
		kube_client_free(watchers[i].kc);
		free(watchers[i].rv);
	}
	for (i = 0; i < n_workers; i++) {
		if (workers[i].thread != 0)
			pthread_join(workers[i].thread, NULL);
		engine_free(workers[i].eng);
		kube_client_free(workers[i].kc);
	}
	if (c.leader != NULL)
		leader_stop(c.leader, 1);
	log_info(NULL, "stopped");
out:
	free(workers);
	free(watchers);
	close_all(&c);
	return code;
}
