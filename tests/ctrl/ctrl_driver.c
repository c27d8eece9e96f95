/*
 * ctrl_driver.c - a command-line driver over the controller modules, for
 * the ctrl suite (tests/ctrl/test_ctrl.py) against the API simulator.
 * Every command prints plain lines on stdout (flushed at once) and never a
 * token or secret value.
 *
 *   ctrl_driver [--kubeconfig F | --in-cluster] list [NS] [LIMIT]
 *   ctrl_driver ... get NS NAME
 *   ctrl_driver ... patch-status NS NAME JSON
 *   ctrl_driver ... secret NS NAME KEY         (compares with $EXPECT_VALUE)
 *   ctrl_driver ... watch RV SECONDS
 *   ctrl_driver ... informer SECONDS           list, watch, relist on 410
 *   ctrl_driver ... events NS NAME UID REASON MESSAGE N
 *   ctrl_driver ... elect NS NAME ID LEASE RENEW RETRY
 *   ctrl_driver ... poll SECONDS INTERVAL      list every INTERVAL (token rotation)
 */
#include "err.h"
#include "events.h"
#include "kube_client.h"
#include "kube_config.h"
#include "secret.h"
#include "leader.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Monotonic seconds. */
static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints an outcome line: "ok" or "error <name> retry_after=N: message". */
static void outcome(const char *what, int rc, const struct err *e)
{
	if (rc == 0)
		printf("%s ok\n", what);
	else
		printf("%s error %s retry_after=%d: %s\n", what, err_name(rc), e->retry_after,
		       e->msg);
	fflush(stdout);
}

static const char *meta_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));

	return s != NULL ? s : "";
}

static int cmd_list(struct kube_client *kc, int argc, char **argv)
{
	struct kube_list l = {0};
	struct err e = {0};
	const char *ns = argc > 0 && strcmp(argv[0], "-") != 0 ? argv[0] : NULL;
	long limit = argc > 1 ? atol(argv[1]) : 0;
	size_t i;
	json_t *it;
	int rc = kube_list_appdbs(&l, kc, ns, limit, &e);

	outcome("list", rc, &e);
	if (rc != 0)
		return 1;
	printf("count %zu rv %s\n", json_array_size(l.items), l.resource_version);
	json_array_foreach(l.items, i, it)
	    printf("item %s/%s\n", meta_str(it, "namespace"), meta_str(it, "name"));
	kube_list_clear(&l);
	return 0;
}

static int cmd_get(struct kube_client *kc, int argc, char **argv)
{
	json_t *o = NULL;
	struct err e = {0};
	int rc;

	if (argc < 2)
		return 2;
	rc = kube_get_appdb(&o, kc, argv[0], argv[1], &e);
	outcome("get", rc, &e);
	if (rc == 0)
		printf("rv %s generation %lld\n", meta_str(o, "resourceVersion"),
		       (long long)json_integer_value(
		           json_object_get(json_object_get(o, "metadata"), "generation")));
	json_decref(o);
	return rc == 0 ? 0 : 1;
}

static int cmd_patch_status(struct kube_client *kc, int argc, char **argv)
{
	json_t *patch, *o = NULL;
	struct err e = {0};
	int rc;

	if (argc < 3 || (patch = json_loads(argv[2], 0, NULL)) == NULL)
		return 2;
	rc = kube_patch_appdb_status(&o, kc, argv[0], argv[1], patch, &e);
	outcome("patch-status", rc, &e);
	if (rc == 0)
		printf("rv %s\n", meta_str(o, "resourceVersion"));
	json_decref(o);
	json_decref(patch);
	return rc == 0 ? 0 : 1;
}

static int cmd_secret(struct kube_client *kc, int argc, char **argv)
{
	json_t *s = NULL;
	struct err e = {0};
	struct secret v = {0};
	const char *want = getenv("EXPECT_VALUE");
	int rc;

	if (argc < 3)
		return 2;
	rc = kube_get_secret(&s, kc, argv[0], argv[1], &e);
	if (rc == 0)
		rc = secret_from_kube_object(&v, s, argv[2], &e);
	outcome("secret", rc, &e);
	if (rc == 0)
		printf("match %s\n", want != NULL && strcmp(v.value, want) == 0 ? "yes" : "no");
	secret_clear(&v);
	secret_wipe_json(s);
	json_decref(s);
	return rc == 0 ? 0 : 1;
}

static const char *type_name(enum kube_event_type t)
{
	static const char *const n[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

	return n[t];
}

struct watch_ctx {
	double deadline;
	char rv[64];
	int events;
};

/* Prints each event; stops at the deadline or on a signal. */
static int print_event(void *p, enum kube_event_type type, json_t *obj)
{
	struct watch_ctx *w = p;

	printf("event %s %s/%s rv=%s\n", type_name(type), meta_str(obj, "namespace"),
	       meta_str(obj, "name"), meta_str(obj, "resourceVersion"));
	fflush(stdout);
	snprintf(w->rv, sizeof(w->rv), "%s", meta_str(obj, "resourceVersion"));
	w->events++;
	return stop_flag || now_mono() > w->deadline ? APPDB_ELIMIT : 0;
}

static int cmd_watch(struct kube_client *kc, int argc, char **argv)
{
	struct watch_ctx w = {0};
	struct kube_watch_opts o = {0};
	struct err e = {0};
	int rc;

	if (argc < 2)
		return 2;
	w.deadline = now_mono() + atof(argv[1]);
	o.resource_version = argv[0];
	o.timeout_seconds = (int)atof(argv[1]) + 1;
	rc = kube_watch_appdbs(kc, &o, print_event, &w, &e);
	outcome("watch", rc == APPDB_ELIMIT ? 0 : rc, &e);
	return 0;
}

/* ---- informer: list, watch, relist on 410 ---- */

#define STORE_MAX 4096

struct informer {
	char *keys[STORE_MAX];
	char *rvs[STORE_MAX];
	size_t n;
	char rv[64];
	double deadline;
	int relists;
};

static void store_set(struct informer *inf, const char *key, const char *rv)
{
	size_t i;

	for (i = 0; i < inf->n; i++) {
		if (strcmp(inf->keys[i], key) == 0) {
			free(inf->rvs[i]);
			inf->rvs[i] = strdup(rv);
			return;
		}
	}
	if (inf->n < STORE_MAX) {
		inf->keys[inf->n] = strdup(key);
		inf->rvs[inf->n++] = strdup(rv);
	}
}

static void store_del(struct informer *inf, const char *key)
{
	size_t i;

	for (i = 0; i < inf->n; i++) {
		if (strcmp(inf->keys[i], key) == 0) {
			free(inf->keys[i]);
			free(inf->rvs[i]);
			inf->keys[i] = inf->keys[--inf->n];
			inf->rvs[i] = inf->rvs[inf->n];
			return;
		}
	}
}

static void store_clear(struct informer *inf)
{
	size_t i;

	for (i = 0; i < inf->n; i++) {
		free(inf->keys[i]);
		free(inf->rvs[i]);
	}
	inf->n = 0;
}

static int informer_event(void *p, enum kube_event_type type, json_t *obj)
{
	struct informer *inf = p;
	char key[600];

	snprintf(key, sizeof(key), "%s/%s", meta_str(obj, "namespace"), meta_str(obj, "name"));
	snprintf(inf->rv, sizeof(inf->rv), "%s", meta_str(obj, "resourceVersion"));
	if (type == KUBE_EVENT_ADDED || type == KUBE_EVENT_MODIFIED)
		store_set(inf, key, inf->rv);
	else if (type == KUBE_EVENT_DELETED)
		store_del(inf, key);
	printf("event %s %s rv=%s\n", type_name(type), type == KUBE_EVENT_BOOKMARK ? "-" : key,
	       inf->rv);
	fflush(stdout);
	return stop_flag || now_mono() > inf->deadline ? APPDB_ELIMIT : 0;
}

static int relist(struct kube_client *kc, struct informer *inf)
{
	struct kube_list l = {0};
	struct err e = {0};
	size_t i;
	json_t *it;
	int rc = kube_list_appdbs(&l, kc, NULL, 2, &e);

	if (rc != 0) {
		outcome("list", rc, &e);
		return rc;
	}
	store_clear(inf);
	json_array_foreach(l.items, i, it)
	{
		char key[600];

		snprintf(key, sizeof(key), "%s/%s", meta_str(it, "namespace"),
		         meta_str(it, "name"));
		store_set(inf, key, meta_str(it, "resourceVersion"));
	}
	snprintf(inf->rv, sizeof(inf->rv), "%s", l.resource_version);
	printf("synced %zu rv=%s\n", inf->n, inf->rv);
	fflush(stdout);
	kube_list_clear(&l);
	return 0;
}

static int cmd_informer(struct kube_client *kc, int argc, char **argv)
{
	static struct informer inf;
	size_t i;
	int rc;

	if (argc < 1)
		return 2;
	inf.deadline = now_mono() + atof(argv[0]);
	rc = relist(kc, &inf);
	while (rc == 0 && !stop_flag && now_mono() < inf.deadline) {
		struct kube_watch_opts o = {.resource_version = inf.rv, .timeout_seconds = 5};
		struct err e = {0};

		rc = kube_watch_appdbs(kc, &o, informer_event, &inf, &e);
		if (rc == APPDB_ELIMIT) {
			rc = 0;
			break;
		}
		if (rc == APPDB_EGONE) {
			printf("gone: %s\n", e.msg);
			inf.relists++;
			rc = relist(kc, &inf);
		} else if (rc != 0) {
			printf("watch broke: %s %s\n", err_name(rc), e.msg);
			usleep(200000);
			rc = 0;
		}
		fflush(stdout);
	}
	for (i = 0; i < inf.n; i++)
		printf("final %s rv=%s\n", inf.keys[i], inf.rvs[i]);
	printf("relists %d\n", inf.relists);
	store_clear(&inf);
	return rc == 0 ? 0 : 1;
}

static int cmd_events(struct kube_client *kc, int argc, char **argv)
{
	struct events_recorder *rec = NULL;
	struct event_ref ref;
	int i, n, rc = 0;

	if (argc < 6)
		return 2;
	ref = (struct event_ref){argv[0], argv[1], argv[2], NULL};
	n = atoi(argv[5]);
	if (events_new(&rec, "ctrl-driver", 0) != 0)
		return 1;
	for (i = 0; i < n; i++) {
		json_t *ev = NULL;
		struct err e = {0};
		char run[32];

		snprintf(run, sizeof(run), "run-%d", i);
		events_build(&ev, rec, &ref, EVENT_NORMAL, argv[3], argv[4], run,
		             (double)time(NULL) + i);
		rc = events_emit(rec, kc, ev, &e);
		outcome("emit", rc, &e);
		json_decref(ev);
	}
	events_free(rec);
	return rc == 0 ? 0 : 1;
}

static void on_leading(void *ctx, int leading)
{
	printf("%s %.3f\n", leading ? "leading" : "stopped", now_mono());
	fflush(stdout);
}

static int cmd_elect(struct kube_config *cfg, int argc, char **argv)
{
	struct leader_opts o = {0};
	struct leader *l = NULL;
	struct err e = {0};

	if (argc < 6)
		return 2;
	o.ns = argv[0];
	o.name = argv[1];
	o.identity = argv[2];
	o.lease_seconds = atof(argv[3]);
	o.renew_deadline = atof(argv[4]);
	o.retry_period = atof(argv[5]);
	o.on_change = on_leading;
	if (leader_new(&l, cfg, &o, &e) != 0 || leader_start(l, &e) != 0) {
		outcome("elect", APPDB_EINVAL, &e);
		leader_free(l);
		return 1;
	}
	printf("candidate %s\n", leader_identity(l));
	fflush(stdout);
	while (!stop_flag)
		usleep(50000);
	leader_stop(l, 1);
	printf("released\n");
	fflush(stdout);
	leader_free(l);
	return 0;
}

static int cmd_poll(struct kube_client *kc, int argc, char **argv)
{
	double end, interval;

	if (argc < 2)
		return 2;
	end = now_mono() + atof(argv[0]);
	interval = atof(argv[1]);
	while (!stop_flag && now_mono() < end) {
		json_t *o = NULL;
		struct err e = {0};
		int rc = kube_request(&o, kc, "GET", "/apis/db.platform.dev/v1alpha1/appdatabases",
		                      NULL, NULL, &e);

		outcome("poll", rc, &e);
		json_decref(o);
		usleep((useconds_t)(interval * 1e6));
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	struct err e = {0};
	const char *kubeconfig = NULL;
	int in_cluster = 0, i = 1, rc;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	log_configure(LOG_INFO, LOG_TEXT);
	if (i + 1 < argc && strcmp(argv[i], "--kubeconfig") == 0) {
		kubeconfig = argv[i + 1];
		i += 2;
	} else if (i < argc && strcmp(argv[i], "--in-cluster") == 0) {
		in_cluster = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: see the header of tests/ctrl/ctrl_driver.c\n");
		return 2;
	}
	rc = in_cluster ? kube_config_in_cluster(&cfg, &e)
	                : kube_config_load(&cfg, kubeconfig, NULL, &e);
	if (rc != 0) {
		outcome("config", rc, &e);
		return 1;
	}
	if (kube_client_new(&kc, cfg, &e) != 0)
		return 1;
	if (strcmp(argv[i], "list") == 0)
		rc = cmd_list(kc, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "get") == 0)
		rc = cmd_get(kc, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "patch-status") == 0)
		rc = cmd_patch_status(kc, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "secret") == 0)
		rc = cmd_secret(kc, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "watch") == 0)
		rc = cmd_watch(kc, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "informer") == 0)
		rc = cmd_informer(kc, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "events") == 0)
		rc = cmd_events(kc, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "elect") == 0)
		rc = cmd_elect(cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "poll") == 0)
		rc = cmd_poll(kc, argc - i - 1, argv + i + 1);
	else
		rc = 2;
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc;
}
