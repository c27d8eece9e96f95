/*
 * test_events.c - Event objects and aggregation of repeated Events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "events.h"
#include "failalloc.h"
#include "fake_api.h"

static struct kube_config *cfg;
static int api_down;

/* POST creates; PATCH answers 404 for names containing "gone". */
static void route(const struct fake_req *req, unsigned int *code, char *body, size_t len)
{
	if (api_down) {
		*code = 503;
		return;
	}
	if (strcmp(req->method, "POST") == 0 &&
	    strcmp(req->url, "/api/v1/namespaces/team/events") == 0) {
		*code = 201;
		snprintf(body, len, "%s", req->body);
		return;
	}
	if (strcmp(req->method, "PATCH") == 0 &&
	    strncmp(req->url, "/api/v1/namespaces/team/events/", 31) == 0) {
		*code = strstr(req->url, "gone") != NULL ? 404 : 200;
		/* The patched Event, as the API answers it. */
		snprintf(body, len,
		         "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{"
		         "\"name\":\"%.100s\",\"namespace\":\"team\"}}",
		         req->url + 31);
		return;
	}
	*code = 404;
}

static int setup(void **state)
{
	return fake_start(route, &cfg);
}

static int teardown(void **state)
{
	kube_config_free(cfg);
	fake_stop();
	return 0;
}

static const struct event_ref ref = {"team", "orders", "uid-1", "42"};

static const char *sget(json_t *o, const char *path)
{
	char buf[128], *save = NULL, *tok;
	json_t *cur = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	return json_string_value(cur);
}

static void test_build(void **state)
{
	struct events_recorder *rec = NULL;
	json_t *ev = NULL, *ev2 = NULL;

	assert_int_equal(events_new(&rec, "pod-1", 0), 0);
	assert_int_equal(events_build(&ev, rec, &ref, EVENT_NORMAL, "Provisioned",
	                              "database orders ready", "run-abc", 1000000000.25),
	                 0);
	assert_string_equal(sget(ev, "apiVersion"), "v1");
	assert_string_equal(sget(ev, "kind"), "Event");
	assert_string_equal(sget(ev, "involvedObject.kind"), "AppDatabase");
	assert_string_equal(sget(ev, "involvedObject.apiVersion"), "db.platform.dev/v1alpha1");
	assert_string_equal(sget(ev, "involvedObject.uid"), "uid-1");
	assert_string_equal(sget(ev, "involvedObject.resourceVersion"), "42");
	assert_string_equal(sget(ev, "involvedObject.namespace"), "team");
	assert_string_equal(sget(ev, "metadata.namespace"), "team");
	assert_string_equal(sget(ev, "reason"), "Provisioned");
	assert_string_equal(sget(ev, "type"), "Normal");
	assert_string_equal(sget(ev, "message"), "database orders ready (run run-abc)");
	assert_string_equal(sget(ev, "source.component"), "appdb-operator");
	assert_string_equal(sget(ev, "reportingComponent"), "appdb-operator");
	assert_string_equal(sget(ev, "reportingInstance"), "pod-1");
	assert_string_equal(sget(ev, "firstTimestamp"), "2001-09-09T01:46:40Z");
	assert_string_equal(sget(ev, "lastTimestamp"), "2001-09-09T01:46:40Z");
	assert_int_equal(json_integer_value(json_object_get(ev, "count")), 1);
	assert_non_null(json_object_get(
	    json_object_get(json_object_get(ev, "metadata"), "annotations"), ANNOTATION_RUN_ID));
	assert_int_equal(strncmp(sget(ev, "metadata.name"), "orders.", 7), 0);
	/* Same key whatever the run id; names unique. */
	assert_int_equal(events_build(&ev2, rec, &ref, EVENT_NORMAL, "Provisioned",
	                              "database orders ready", "run-def", 1000000000.25),
	                 0);
	assert_string_not_equal(sget(ev, "metadata.name"), sget(ev2, "metadata.name"));
	{
		char *k1 = events_key(ev), *k2 = events_key(ev2);

		assert_string_equal(k1, k2);
		free(k1);
		free(k2);
	}
	json_decref(ev);
	json_decref(ev2);
	events_free(rec);
}

static void test_aggregation(void **state)
{
	struct events_recorder *rec = NULL;
	json_t *ev = NULL;
	struct err e = {0};
	struct kube_client *kc = NULL;
	json_t *body;

	fake_reset();
	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(events_new(&rec, "pod-1", 0), 0);
	events_build(&ev, rec, &ref, EVENT_WARNING, "DatabaseUnreachable", "connection refused",
	             "r1", 1000.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	events_build(&ev, rec, &ref, EVENT_WARNING, "DatabaseUnreachable", "connection refused",
	             "r2", 1060.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	events_build(&ev, rec, &ref, EVENT_WARNING, "DatabaseUnreachable", "connection refused",
	             "r3", 1120.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	assert_int_equal(fake.n, 3);
	assert_string_equal(fake.reqs[0].method, "POST");
	assert_string_equal(fake.reqs[1].method, "PATCH");
	assert_string_equal(fake.reqs[2].method, "PATCH");
	body = json_loads(fake.reqs[2].body, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(body, "count")), 3);
	assert_string_equal(sget(body, "lastTimestamp"), "1970-01-01T00:18:40Z");
	assert_string_equal(sget(body, "message"), "connection refused (run r3)");
	json_decref(body);
	/* A different message is a new Event. */
	events_build(&ev, rec, &ref, EVENT_WARNING, "DatabaseUnreachable", "timeout", "r4", 1130.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	assert_string_equal(fake.reqs[3].method, "POST");
	assert_int_equal(events_lru_len(rec), 2);
	/* A buffered, older copy does not move lastTimestamp backwards. */
	events_build(&ev, rec, &ref, EVENT_WARNING, "DatabaseUnreachable", "connection refused",
	             "r0", 900.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	body = json_loads(fake.reqs[4].body, 0, NULL);
	assert_string_equal(fake.reqs[4].method, "PATCH");
	assert_int_equal(json_integer_value(json_object_get(body, "count")), 4);
	assert_string_equal(sget(body, "lastTimestamp"), "1970-01-01T00:18:40Z");
	json_decref(body);
	events_free(rec);
	kube_client_free(kc);
}

static void test_expired_event_recreated_and_api_down(void **state)
{
	struct events_recorder *rec = NULL;
	struct event_ref gone = {"team", "gone", "uid-2", NULL};
	json_t *ev = NULL;
	struct err e = {0};
	struct kube_client *kc = NULL;

	fake_reset();
	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	assert_int_equal(events_new(&rec, NULL, 2), 0);
	events_build(&ev, rec, &gone, EVENT_NORMAL, "Provisioned", "ok", "r1", 1000.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	events_build(&ev, rec, &gone, EVENT_NORMAL, "Provisioned", "ok", "r2", 1001.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	assert_int_equal(fake.n, 3);
	assert_string_equal(fake.reqs[1].method, "PATCH");
	assert_string_equal(fake.reqs[2].method, "POST");
	/* API down: the error comes back, the caller keeps the event. */
	api_down = 1;
	events_build(&ev, rec, &ref, EVENT_NORMAL, "Provisioned", "other", "r3", 1002.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), APPDB_ETRANSIENT);
	api_down = 0;
	err_clear(&e);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	/* Capacity 2: a third key evicts the least recently used. */
	events_build(&ev, rec, &ref, EVENT_NORMAL, "Provisioned", "third", "r4", 1003.0);
	assert_int_equal(events_emit(rec, kc, ev, &e), 0);
	json_decref(ev);
	assert_int_equal(events_lru_len(rec), 2);
	/* Invalid events are refused without a request. */
	ev = json_object();
	assert_int_equal(events_emit(rec, kc, ev, &e), APPDB_EINVAL);
	json_decref(ev);
	events_free(rec);
	kube_client_free(kc);
}

static void test_failing_allocator(void **state)
{
	long n;

	for (n = 1; n < 10000; n++) {
		struct events_recorder *rec = NULL;
		json_t *ev = NULL;
		char *key = NULL;
		int rc;

		failalloc_arm(n);
		rc = events_new(&rec, "pod", 4);
		if (rc == 0)
			rc = events_build(&ev, rec, &ref, EVENT_WARNING, "SecretMissing",
			                  "no secret", "r1", 1000.0);
		if (rc == 0 && (key = events_key(ev)) == NULL)
			rc = APPDB_ENOMEM;
		failalloc_arm(0);
		free(key);
		json_decref(ev);
		events_free(rec);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
	}
	assert_true(n > 5);
}

static void test_emit_failing_allocator(void **state)
{
	struct kube_client *kc = NULL;
	struct err e = {0};
	long n;

	assert_int_equal(kube_client_new(&kc, cfg, &e), 0);
	for (n = 1; n < 100000; n++) {
		struct events_recorder *rec = NULL;
		json_t *ev1 = NULL, *ev2 = NULL;
		int rc;

		assert_int_equal(events_new(&rec, "pod", 4), 0);
		assert_int_equal(
		    events_build(&ev1, rec, &ref, EVENT_NORMAL, "Provisioned", "ok", "r1", 1000.0),
		    0);
		assert_int_equal(
		    events_build(&ev2, rec, &ref, EVENT_NORMAL, "Provisioned", "ok", "r2", 1001.0),
		    0);
		err_clear(&e);
		failalloc_arm(n);
		rc = events_emit(rec, kc, ev1, &e);
		if (rc == 0)
			rc = events_emit(rec, kc, ev2, &e);
		failalloc_arm(0);
		json_decref(ev1);
		json_decref(ev2);
		events_free(rec);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
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
	    cmocka_unit_test(test_build),
	    cmocka_unit_test(test_aggregation),
	    cmocka_unit_test(test_expired_event_recreated_and_api_down),
	    cmocka_unit_test(test_failing_allocator),
	    cmocka_unit_test(test_emit_failing_allocator),
	};
	failalloc_init();
	return cmocka_run_group_tests_name("events", tests, setup, teardown);
}
