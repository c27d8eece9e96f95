/*
 * test_kube_client.c - the Kubernetes client against an in-process fake
 * API server (libmicrohttpd): error mapping, Status messages, Retry-After,
 * pagination, the watch stream, cancel, and the pure watch-line parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "failalloc.h"
#include "kube_client.h"
#include "kube_config.h"
#include "secret.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AP "/apis/db.platform.dev/v1alpha1"

static struct MHD_Daemon *daemon_;
static int port;
static int auth_hits;
static char last_patch[4096];
static char last_ctype[128];
static char last_query[256];

struct conn_state {
	char body[8192];
	size_t len;
};

struct stream {
	const char *data;
	size_t len;
	int forever;
};

/* Streams the canned lines, then either ends or idles (a long watch). */
static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;

	if (pos < s->len) {
		size_t n = s->len - pos < max ? s->len - pos : max;

		/* One byte at a time at first: lines must survive any split. */
		if (pos < 40)
			n = 1;
		memcpy(buf, s->data + pos, n);
		return (ssize_t)n;
	}
	if (!s->forever)
		return MHD_CONTENT_READER_END_OF_STREAM;
	usleep(100000);
	buf[0] = '\n';
	return 1;
}

static void stream_free(void *cls)
{
	free(cls);
}

/* Queues a JSON answer. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *body,
                             const char *retry_after)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json");
	if (retry_after != NULL)
		MHD_add_response_header(r, "Retry-After", retry_after);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *status_json(int code, const char *reason, const char *msg)
{
	static __thread char b[512];

	snprintf(b, sizeof(b),
	         "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
	         "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}",
	         msg, reason, code);
	return b;
}

static const char watch_lines[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"AppDatabase\",\"metadata\":{\"name\":\"a\","
    "\"namespace\":\"ns\",\"resourceVersion\":\"11\"}}}\n"
    "\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"AppDatabase\",\"metadata\":{\"name\":\"a\","
    "\"namespace\":\"ns\",\"resourceVersion\":\"12\"}}}\r\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"AppDatabase\",\"metadata\":{"
    "\"resourceVersion\":\"13\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"kind\":\"AppDatabase\",\"metadata\":{\"name\":\"a\","
    "\"namespace\":\"ns\",\"resourceVersion\":\"14\"}}}";

static const char gone_lines[] =
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
    "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (50)\","
    "\"reason\":\"Expired\",\"code\":410}}\n";

/* The fake API server. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
	struct conn_state *cs = *con_cls;
	const char *auth, *watch, *rv, *cont;

	if (cs == NULL) {
		cs = calloc(1, sizeof(*cs));
		*con_cls = cs;
		return cs != NULL ? MHD_YES : MHD_NO;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size < sizeof(cs->body) - cs->len - 1
		               ? *upload_size
		               : sizeof(cs->body) - cs->len - 1;

		memcpy(cs->body + cs->len, upload, n);
		cs->len += n;
		*upload_size = 0;
		return MHD_YES;
	}
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (strstr(url, "/auth") != NULL) {
		auth_hits++;
		return reply(c, 401, status_json(401, "Unauthorized", "Unauthorized"), NULL);
	}
	if (auth == NULL || strcmp(auth, "Bearer sekret-token") != 0)
		return reply(c, 401, status_json(401, "Unauthorized", "Unauthorized"), NULL);
	watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
	rv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
	cont = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "continue");
	if (watch != NULL) {
		struct stream *s = calloc(1, sizeof(*s));
		struct MHD_Response *r;
		enum MHD_Result ret;
		const char *bm =
		    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "allowWatchBookmarks");

		if (s == NULL) /* the failing allocator also hits this server */
			return reply(c, 500, "{}", NULL);
		snprintf(last_query, sizeof(last_query), "%s %s", bm != NULL ? bm : "-",
		         rv != NULL ? rv : "-");
		s->data = watch_lines;
		s->len = strlen(watch_lines);
		if (rv != NULL && strcmp(rv, "1") == 0) {
			s->data = gone_lines;
			s->len = strlen(gone_lines);
		} else if (rv != NULL && strcmp(rv, "forever") == 0) {
			s->len = 0;
			s->forever = 1;
		}
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, stream_cb, s,
		                                      stream_free);
		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, AP "/appdatabases") == 0) {
		if (cont == NULL)
			return reply(
			    c, 200,
			    "{\"kind\":\"AppDatabaseList\",\"metadata\":{\"resourceVersion\":"
			    "\"99\",\"continue\":\"next/page?1\"},\"items\":[{\"metadata\":"
			    "{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}",
			    NULL);
		if (strcmp(cont, "next/page?1") == 0)
			return reply(
			    c, 200,
			    "{\"kind\":\"AppDatabaseList\",\"metadata\":{\"resourceVersion\":"
			    "\"100\"},\"items\":[{\"metadata\":{\"name\":\"c\"}}]}",
			    NULL);
		return reply(c, 410, status_json(410, "Expired", "continue token expired"), NULL);
	}
	if (strcmp(url, AP "/namespaces/ns/appdatabases/missing") == 0)
		return reply(c, 404,
		             status_json(404, "NotFound",
		                         "appdatabases.db.platform.dev \\\"missing\\\" not found"),
		             NULL);
	if (strcmp(url, AP "/namespaces/ns/appdatabases/throttle") == 0)
		return reply(c, 429, status_json(429, "TooManyRequests", "slow down"), "7");
	if (strcmp(url, AP "/namespaces/ns/appdatabases/boom") == 0)
		return reply(c, 503, "<html>bad gateway</html>", NULL);
	if (strcmp(url, AP "/namespaces/ns/appdatabases/bad") == 0)
		return reply(c, 422, status_json(422, "Invalid", "spec.instance: Required value"),
		             NULL);
	if (strcmp(url, AP "/namespaces/ns/appdatabases/forbidden") == 0)
		return reply(c, 403, status_json(403, "Forbidden", "no"), NULL);
	if (strcmp(url, AP "/namespaces/ns/appdatabases/ok/status") == 0 &&
	    strcmp(method, "PATCH") == 0) {
		const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

		snprintf(last_ctype, sizeof(last_ctype), "%s", ct != NULL ? ct : "");
		snprintf(last_patch, sizeof(last_patch), "%.*s", (int)cs->len, cs->body);
		return reply(
		    c, 200,
		    "{\"apiVersion\":\"db.platform.dev/v1alpha1\",\"kind\":\"AppDatabase\","
		    "\"metadata\":{\"name\":\"ok\",\"resourceVersion\":\"5\"}}",
		    NULL);
	}
	/* 200 answers to a write that are not the object: a cut body, another kind. */
	if (strcmp(url, AP "/namespaces/ns/appdatabases/cut/status") == 0)
		return reply(c, 200, "{\"apiVersion\":\"db.platform.dev/v1alpha1\",\"ki", NULL);
	if (strcmp(url, AP "/namespaces/ns/appdatabases/other/status") == 0)
		return reply(c, 200, "{\"apiVersion\":7,\"kind\":[\"List\"],\"metadata\":\"none\"}",
		             NULL);
	if (strcmp(url, "/api/v1/namespaces/ns/events") == 0 && strcmp(method, "POST") == 0)
		return reply(c, 201, "{\"kind\":\"Status\",\"apiVersion\":\"v1\"}", NULL);
	if (strcmp(url, "/api/v1/namespaces/ns/secrets/wrong") == 0)
		return reply(c, 200,
		             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":\"none\","
		             "\"data\":3}",
		             NULL);
	if (strcmp(url, "/api/v1/namespaces/ns/secrets/nodata") == 0)
		return reply(c, 200,
		             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
		             "\"nodata\"},\"data\":[\"password\"]}",
		             NULL);
	if (strcmp(url, "/api/v1/namespaces/ns/secrets/cm") == 0)
		return reply(c, 200,
		             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
		             "\"cm\"},\"data\":{\"password\":\"aHVudGVyMg==\"}}",
		             NULL);
	if (strcmp(url, "/api/v1/namespaces/ns/secrets/empty") == 0) {
		return reply(c, 200,
		             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
		             "\"empty\"},\"type\":\"Opaque\"}",
		             NULL);
	}
	if (strcmp(url, AP "/namespaces/ns/appdatabases/conflict/status") == 0)
		return reply(c, 409, status_json(409, "Conflict", "the object has been modified"),
		             NULL);
	if (strcmp(url, "/api/v1/namespaces/ns/secrets/s1") == 0)
		return reply(c, 200,
		             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\","
		             "\"metadata\":{\"name\":\"s1\",\"resourceVersion\":\"3\"},\"data\":{"
		             "\"password\":\"aHVudGVyMg==\",\"bad\":\"***\",\"nul\":\"YQBi\"}}",
		             NULL);
	if (strcmp(url, "/api/v1/namespaces/we%20ird/secrets/a%2Fb") == 0 ||
	    strcmp(url, "/api/v1/namespaces/we ird/secrets/a/b") == 0)
		return reply(c, 418, status_json(418, "Teapot", url), NULL);
	return reply(c, 404, status_json(404, "NotFound", "no route"), NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

static char kcpath[64];
static struct kube_config *cfg;

static int setup(void **state)
{
	const union MHD_DaemonInfo *info;
	char dir[] = "/tmp/kctest.XXXXXX";
	FILE *f;
	struct err e = {0};

	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
	                           0, NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED,
	                           completed, NULL, MHD_OPTION_END);
	if (daemon_ == NULL)
		return -1;
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	port = info->port;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(kcpath, sizeof(kcpath), "%s/kubeconfig", dir);
	f = fopen(kcpath, "w");
	fprintf(f,
	        "current-context: c\nclusters: [{name: k, cluster: {server: "
	        "'http://127.0.0.1:%d'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
	        "users: [{name: u, user: {token: sekret-token}}]\n",
	        port);
	fclose(f);
	return kube_config_load(&cfg, kcpath, NULL, &e);
}

static int teardown(void **state)
{
	char cmd[128];

	kube_config_free(cfg);
	MHD_stop_daemon(daemon_);
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strrchr(kcpath, '/') - kcpath), kcpath);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_list_pagination(void **state)
{
	struct kube_client *kc = NULL;
	struct kube_list l = {0};
	struct err e = {0};

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(kube_list_appdbs(&l, kc, NULL, 2, &e), 0);
	assert_int_equal(json_array_size(l.items), 3);
	assert_string_equal(l.resource_version, "100");
	kube_list_clear(&l);
	kube_client_free(kc);
}

static void test_error_mapping(void **state)
{
	struct kube_client *kc = NULL;
	struct err e = {0};
	json_t *o = NULL;

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(kube_get_appdb(&o, kc, "ns", "missing", &e), APPDB_ENOTFOUND);
	assert_null(o);
	assert_non_null(strstr(e.msg, "appdatabases.db.platform.dev \"missing\" not found"));
	err_clear(&e);
	assert_int_equal(kube_get_appdb(&o, kc, "ns", "throttle", &e), APPDB_ETHROTTLED);
	assert_int_equal(e.retry_after, 7);
	assert_non_null(strstr(e.msg, "slow down"));
	err_clear(&e);
	assert_int_equal(kube_get_appdb(&o, kc, "ns", "boom", &e), APPDB_ETRANSIENT);
	assert_non_null(strstr(e.msg, "503"));
	err_clear(&e);
	assert_int_equal(kube_get_appdb(&o, kc, "ns", "bad", &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "spec.instance: Required value"));
	err_clear(&e);
	assert_int_equal(kube_get_appdb(&o, kc, "ns", "forbidden", &e), APPDB_EFORBIDDEN);
	err_clear(&e);
	auth_hits = 0;
	assert_int_equal(kube_get_appdb(&o, kc, "ns", "auth", &e), APPDB_EUNAUTHORIZED);
	assert_int_equal(auth_hits, 2); /* retried once with fresh credentials */
	assert_null(strstr(e.msg, "sekret"));
	err_clear(&e);
	o = json_object();
	assert_int_equal(kube_patch_appdb_status(NULL, kc, "ns", "conflict", o, &e),
	                 APPDB_ECONFLICT);
	json_decref(o);
	o = NULL;
	err_clear(&e);
	/* Path segments are escaped. */
	assert_int_equal(kube_get_secret(&o, kc, "we ird", "a/b", &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "a%2Fb"));
	kube_client_free(kc);
}

static void test_transient_when_down(void **state)
{
	struct kube_config *dead = NULL;
	struct kube_client *kc = NULL;
	struct err e = {0};
	json_t *o = NULL;
	char path[] = "/tmp/kcdead.XXXXXX";
	int fd = mkstemp(path);
	const char *text =
	    "current-context: c\nclusters: [{name: k, cluster: {server: "
	    "'http://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: k}}]\n";

	assert_true(write(fd, text, strlen(text)) > 0);
	close(fd);
	assert_int_equal(kube_config_load(&dead, path, NULL, &e), 0);
	unlink(path);
	assert_int_equal(kube_client_new(&kc, dead, &e), 0);
	assert_int_equal(kube_get_appdb(&o, kc, "ns", "x", &e), APPDB_ETRANSIENT);
	kube_client_free(kc);
	kube_config_free(dead);
}

static void test_patch_status(void **state)
{
	struct kube_client *kc = NULL;
	struct err e = {0};
	json_t *o = NULL, *patch = json_pack("{s:{s:I}}", "status", "observedGeneration", 3);

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(kube_patch_appdb_status(&o, kc, "ns", "ok", patch, &e), 0);
	assert_string_equal(last_ctype, "application/merge-patch+json");
	assert_string_equal(last_patch, "{\"status\":{\"observedGeneration\":3}}");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion")),
	    "5");
	json_decref(o);
	json_decref(patch);
	kube_client_free(kc);
}

static void test_secret_value(void **state)
{
	struct kube_client *kc = NULL;
	struct err e = {0};
	json_t *s = NULL;
	struct secret v = {0};

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(kube_get_secret(&s, kc, "ns", "s1", &e), 0);
	assert_int_equal(secret_from_kube_object(&v, s, "password", &e), 0);
	assert_string_equal(v.value, "hunter2");
	secret_clear(&v);
	assert_int_equal(secret_from_kube_object(&v, s, "nope", &e), APPDB_ENOTFOUND);
	assert_non_null(strstr(e.msg, "nope"));
	err_clear(&e);
	assert_int_equal(secret_from_kube_object(&v, s, "bad", &e), APPDB_EINVAL);
	err_clear(&e);
	assert_int_equal(secret_from_kube_object(&v, s, "nul", &e), APPDB_EINVAL);
	assert_null(v.value);
	secret_wipe_json(s);
	assert_string_not_equal(
	    json_string_value(json_object_get(json_object_get(s, "data"), "password")),
	    "aHVudGVyMg==");
	json_decref(s);
	kube_client_free(kc);
}

/* A 200 to a write or a read that is not the object asked for is a bad answer, retried. */
static void test_answer_not_the_object(void **state)
{
	static const char *const secrets[] = {"wrong", "nodata", "cm"};
	struct kube_client *kc = NULL;
	struct err e = {0};
	json_t *o = NULL, *patch = json_pack("{s:{s:I}}", "status", "observedGeneration", 3);
	json_t *ev = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Event",
	                       "metadata", "name", "e1");
	size_t i;

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(kube_patch_appdb_status(NULL, kc, "ns", "cut", patch, &e),
	                 APPDB_ETRANSIENT);
	assert_non_null(strstr(e.msg, "not JSON"));
	err_clear(&e);
	assert_int_equal(kube_patch_appdb_status(&o, kc, "ns", "other", patch, &e),
	                 APPDB_ETRANSIENT);
	assert_null(o);
	assert_non_null(strstr(e.msg, "not a db.platform.dev/v1alpha1 AppDatabase"));
	err_clear(&e);
	assert_int_equal(kube_create_event(NULL, kc, "ns", ev, &e), APPDB_ETRANSIENT);
	assert_non_null(strstr(e.msg, "a v1 Status, not a v1 Event"));
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		err_clear(&e);
		assert_int_equal(kube_get_secret(&o, kc, "ns", secrets[i], &e), APPDB_ETRANSIENT);
		assert_null(o);
		assert_non_null(strstr(e.msg, "not a v1 Secret"));
	}
	/* A Secret without data is a Secret (every key missing). */
	err_clear(&e);
	assert_int_equal(kube_get_secret(&o, kc, "ns", "empty", &e), 0);
	json_decref(o);
	json_decref(ev);
	json_decref(patch);
	kube_client_free(kc);
}

struct seen {
	int n;
	enum kube_event_type types[16];
	char rvs[16][16];
	int stop_after;
};

static int on_event(void *ctx, enum kube_event_type type, json_t *obj)
{
	struct seen *s = ctx;
	const char *rv =
	    json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	if (s->n < 16) {
		s->types[s->n] = type;
		snprintf(s->rvs[s->n], sizeof(s->rvs[0]), "%s", rv);
	}
	s->n++;
	return s->stop_after > 0 && s->n >= s->stop_after ? APPDB_ELIMIT : 0;
}

static void test_watch_stream(void **state)
{
	struct kube_client *kc = NULL;
	struct kube_watch_opts o = {.resource_version = "10", .timeout_seconds = 5};
	struct seen s = {0};
	struct err e = {0};

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(kube_watch_appdbs(kc, &o, on_event, &s, &e), 0);
	assert_string_equal(last_query, "true 10");
	assert_int_equal(s.n, 4);
	assert_int_equal(s.types[0], KUBE_EVENT_ADDED);
	assert_int_equal(s.types[1], KUBE_EVENT_MODIFIED);
	assert_int_equal(s.types[2], KUBE_EVENT_BOOKMARK);
	assert_int_equal(s.types[3], KUBE_EVENT_DELETED);
	assert_string_equal(s.rvs[2], "13");
	assert_string_equal(s.rvs[3], "14");
	/* The callback stops the watch. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(kube_watch_appdbs(kc, &o, on_event, &s, &e), APPDB_ELIMIT);
	assert_int_equal(s.n, 2);
	kube_client_free(kc);
}

static void test_watch_gone(void **state)
{
	struct kube_client *kc = NULL;
	struct kube_watch_opts o = {.resource_version = "1", .timeout_seconds = 5};
	struct seen s = {0};
	struct err e = {0};

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(kube_watch_appdbs(kc, &o, on_event, &s, &e), APPDB_EGONE);
	assert_non_null(strstr(e.msg, "too old resource version"));
	assert_int_equal(s.n, 0);
	kube_client_free(kc);
}

static void *canceller(void *p)
{
	usleep(300000);
	kube_client_cancel(p);
	return NULL;
}

static void test_watch_cancel(void **state)
{
	struct kube_client *kc = NULL;
	struct kube_watch_opts o = {.resource_version = "forever", .timeout_seconds = 60};
	struct seen s = {0};
	struct err e = {0};
	pthread_t th;
	time_t t0 = time(NULL);

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	pthread_create(&th, NULL, canceller, kc);
	assert_int_equal(kube_watch_appdbs(kc, &o, on_event, &s, &e), 0);
	assert_true(kube_client_cancelled(kc));
	assert_true(time(NULL) - t0 < 5);
	pthread_join(th, NULL);
	kube_client_free(kc);
}

static void test_parse_line(void **state)
{
	struct kube_watch_event ev;
	struct err e = {0};
	const char *good = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":"
	                   "\"1\"}}}\n";

	assert_int_equal(kube_watch_parse_line(&ev, good, strlen(good), &e), 0);
	assert_int_equal(ev.type, KUBE_EVENT_ADDED);
	json_decref(ev.object);
	assert_int_equal(kube_watch_parse_line(&ev, gone_lines, strlen(gone_lines), &e), 0);
	assert_int_equal(ev.type, KUBE_EVENT_ERROR);
	assert_int_equal(ev.code, 410);
	json_decref(ev.object);
	assert_int_equal(kube_watch_parse_line(&ev, "\r\n", 2, &e), APPDB_ENOTFOUND);
	assert_int_equal(kube_watch_parse_line(&ev, "{", 1, &e), APPDB_EINVAL);
	assert_int_equal(kube_watch_parse_line(&ev, "[]", 2, &e), APPDB_EINVAL);
	assert_int_equal(kube_watch_parse_line(&ev, "{\"type\":\"NOPE\",\"object\":{}}", 27, &e),
	                 APPDB_EINVAL);
	assert_int_equal(kube_watch_parse_line(&ev, "{\"type\":\"ADDED\",\"object\":{}}", 28, &e),
	                 APPDB_EINVAL);
	assert_int_equal(kube_watch_parse_line(
	                     &ev, "{\"type\":\"ADDED\",\"type\":\"ADDED\",\"object\":{}}", 42, &e),
	                 APPDB_EINVAL);
	assert_null(ev.object);
	assert_int_equal(kube_code_for_http(200), 0);
	assert_int_equal(kube_code_for_http(201), 0);
	assert_int_equal(kube_code_for_http(400), APPDB_EINVAL);
	assert_int_equal(kube_code_for_http(410), APPDB_EGONE);
	assert_int_equal(kube_code_for_http(502), APPDB_ETRANSIENT);
}

static void test_parse_failing_allocator(void **state)
{
	static const char line[] =
	    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\","
	    "\"resourceVersion\":\"7\"},\"spec\":{\"users\":[1,2,3]}}}";
	long n;

	for (n = 1; n < 10000; n++) {
		struct kube_watch_event ev;
		struct err e = {0};
		int rc;

		failalloc_arm(n);
		rc = kube_watch_parse_line(&ev, line, strlen(line), &e);
		failalloc_arm(0);
		if (rc == 0)
			json_decref(ev.object);
		else
			assert_null(ev.object);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		/* jansson reports some allocation failures as syntax errors */
		assert_true(rc == APPDB_EINVAL || rc == APPDB_ENOMEM);
	}
	assert_true(n > 5);
}

static void test_list_failing_allocator(void **state)
{
	struct kube_client *kc = NULL;
	struct err e = {0};
	long n;

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	for (n = 1; n < 100000; n++) {
		struct kube_list l = {0};
		int rc;

		err_clear(&e);
		failalloc_arm(n);
		rc = kube_list_appdbs(&l, kc, NULL, 2, &e);
		failalloc_arm(0);
		if (rc == 0) {
			assert_int_equal(json_array_size(l.items), 3);
			kube_list_clear(&l);
		}
		assert_null(l.items);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		/* an allocation failure inside jansson's parser may read as a bad answer */
		assert_true(rc == 0 || rc == APPDB_ENOMEM || rc == APPDB_ETRANSIENT);
	}
	assert_true(n > 10);
	kube_client_free(kc);
}

static void test_watch_failing_allocator(void **state)
{
	struct kube_client *kc = NULL;
	struct kube_watch_opts o = {.resource_version = "10", .timeout_seconds = 5};
	struct err e = {0};
	long n;

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	for (n = 1; n < 100000; n++) {
		struct seen s = {0};
		int rc;

		err_clear(&e);
		failalloc_arm(n);
		rc = kube_watch_appdbs(kc, &o, on_event, &s, &e);
		failalloc_arm(0);
		assert_true(s.n <= 4);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			assert_int_equal(s.n, 4);
			break;
		}
		assert_true(rc == 0 || rc == APPDB_ENOMEM || rc == APPDB_ETRANSIENT);
	}
	assert_true(n > 10);
	kube_client_free(kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_pagination),
	    cmocka_unit_test(test_error_mapping),
	    cmocka_unit_test(test_transient_when_down),
	    cmocka_unit_test(test_patch_status),
	    cmocka_unit_test(test_secret_value),
	    cmocka_unit_test(test_answer_not_the_object),
	    cmocka_unit_test(test_watch_stream),
	    cmocka_unit_test(test_watch_gone),
	    cmocka_unit_test(test_watch_cancel),
	    cmocka_unit_test(test_parse_line),
	    cmocka_unit_test(test_parse_failing_allocator),
	    cmocka_unit_test(test_list_failing_allocator),
	    cmocka_unit_test(test_watch_failing_allocator),
	};
	failalloc_init();
	return cmocka_run_group_tests_name("kube_client", tests, setup, teardown);
}
