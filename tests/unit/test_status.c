/*
 * test_status.c - the status patch of a run, the comparison that skips an
 * unchanged one, and the write: conflict retry on a fresh read, a status
 * kept for later when the API is away.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conditions.h"
#include "ctl.h"
#include "err.h"
#include "fake_api.h"
#include "metrics.h"
#include "status.h"
#include "store.h"

#include <stdatomic.h>

#define OBJ_URL "/apis/db.platform.dev/v1alpha1/namespaces/team/appdatabases/orders"

static atomic_int conflicts; /* how many PATCHes answer 409 */
static atomic_int api_down;

static void route(const struct fake_req *req, unsigned int *code, char *body, size_t len)
{
	if (atomic_load(&api_down)) {
		*code = 503;
		return;
	}
	if (strcmp(req->method, "PATCH") == 0 && atomic_load(&conflicts) > 0) {
		atomic_fetch_sub(&conflicts, 1);
		*code = 409;
		snprintf(body, len, "{\"kind\":\"Status\",\"reason\":\"Conflict\"}");
		return;
	}
	*code = 200;
	if (strcmp(req->method, "GET") == 0)
		snprintf(body, len,
		         "{\"metadata\":{\"namespace\":\"team\",\"name\":\"orders\"},\"status\":"
		         "{\"observedGeneration\":1,\"conditions\":[{\"type\":\"Ready\",\"status\":"
		         "\"False\",\"reason\":\"Old\",\"lastTransitionTime\":"
		         "\"2001-01-01T00:00:00Z\"}]}}");
	else
		snprintf(body, len, "{}");
}

FAKE_GROUP_SETUP(setup, route)

static void run_init(struct run_result *r, enum run_result_kind kind, int ready)
{
	memset(r, 0, sizeof(*r));
	r->result = kind;
	r->reason = REASON_PROVISIONED;
	r->ready = ready;
	snprintf(r->run_id, sizeof(r->run_id), "run-1");
	snprintf(r->started_at, sizeof(r->started_at), "2026-01-01T00:00:00Z");
	snprintf(r->finished_at, sizeof(r->finished_at), "2026-01-01T00:00:01Z");
}

static void test_patch_and_current(void **state)
{
	struct run_result r;
	struct store_status prev = {0};
	json_t *p, *s;

	(void)state;
	run_init(&r, RESULT_UNCHANGED, 1);
	p = status_patch(&r, 3, NULL);
	s = json_object_get(p, "status");
	assert_int_equal(json_integer_value(json_object_get(s, "observedGeneration")), 3);
	assert_true(json_is_null(json_object_get(s, "pendingActions")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(s, "lastRun"), "runId")), "run-1");
	/* Nothing new over a status that says the same. */
	store_status_from_json(&prev, s);
	prev.pending_actions = 0; /* the API drops the null */
	assert_true(status_current(&r, 3, &prev));
	assert_false(status_current(&r, 4, &prev));
	r.result = RESULT_CHANGED;
	assert_false(status_current(&r, 3, &prev));
	store_status_clear(&prev);
	json_decref(p);
	/* Awaiting approval lists the pending actions. */
	run_init(&r, RESULT_BLOCKED, 0);
	r.reason = REASON_AWAITING_APPROVAL;
	p = status_patch(&r, 1, NULL);
	assert_true(json_is_array(json_object_get(json_object_get(p, "status"), "pendingActions")));
	json_decref(p);
}

/* Paused: only Reconciling changes (False, Paused); Ready and the rest stay as they were. */
static void test_paused_keeps_the_last_conditions(void **state)
{
	struct run_result r;
	struct store_status prev = {0};
	json_t *p, *s, *conds, *c, *was;

	(void)state;
	run_init(&r, RESULT_CHANGED, 1);
	p = status_patch(&r, 3, NULL);
	was = json_incref(json_object_get(json_object_get(p, "status"), "conditions"));
	json_decref(p);
	run_init(&r, RESULT_UNCHANGED, 0);
	r.paused = 1;
	r.reason = REASON_PAUSED;
	r.message = "paused";
	p = status_patch(&r, 4, was);
	s = json_object_get(p, "status");
	assert_int_equal(json_object_size(s), 1); /* lastRun, users, generation: untouched */
	conds = json_object_get(s, "conditions");
	assert_int_equal(json_array_size(conds), 3);
	c = conditions_find(conds, COND_READY);
	assert_true(json_equal(c, conditions_find(was, COND_READY)));
	c = conditions_find(conds, COND_RECONCILING);
	assert_string_equal(json_string_value(json_object_get(c, "status")), "False");
	assert_string_equal(json_string_value(json_object_get(c, "reason")), "Paused");
	assert_int_equal(json_integer_value(json_object_get(c, "observedGeneration")), 4);
	assert_true(
	    json_equal(conditions_find(conds, COND_STALLED), conditions_find(was, COND_STALLED)));
	/* Written once: the next paused run has nothing new to say. */
	prev.conditions = json_incref(conds);
	assert_true(status_current(&r, 4, &prev));
	assert_false(status_current(&r, 5, &prev));
	r.paused = 0;
	assert_false(status_current(&r, 4, &prev));
	store_status_clear(&prev);
	json_decref(p);
	/* Never reconciled: Reconciling alone. */
	r.paused = 1;
	p = status_patch(&r, 1, NULL);
	conds = json_object_get(json_object_get(p, "status"), "conditions");
	assert_int_equal(json_array_size(conds), 1);
	assert_non_null(conditions_find(conds, COND_RECONCILING));
	json_decref(p);
	json_decref(was);
}

static void test_write_retries_a_conflict_and_keeps_when_away(void **state)
{
	struct ctl c;
	struct kube_client *kc = NULL;
	struct store_status prev = {0};
	struct err e = {0};
	struct appdb db = {0};
	struct run_result r;
	struct log_ctx log = {"team", "orders", "run-1"};
	json_t *o = json_loads("{\"metadata\":{\"namespace\":\"team\",\"name\":\"orders\"}}", 0,
	                       NULL),
	       *st, *ev;
	char key[STORE_KEY_MAX];

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_new(&c.store, NULL), 0);
	assert_int_equal(metrics_new(&c.metrics), 0);
	assert_int_equal(store_put(c.store, o, key, sizeof(key)), 1);
	assert_int_equal(kube_client_new(&kc, fake_cfg, &e), 0);
	db.ns = "team";
	db.name = "orders";
	db.generation = 2;
	run_init(&r, RESULT_CHANGED, 1);
	/* Conflict: re-read, then the patch is made again over the fresh status. */
	atomic_store(&conflicts, 1);
	fake_reset();
	status_write(&c, kc, &log, "team/orders", &db, &prev, &r);
	assert_int_equal(fake.n, 3);
	assert_string_equal(fake.reqs[0].method, "PATCH");
	assert_string_equal(fake.reqs[1].method, "GET");
	assert_string_equal(fake.reqs[1].url, OBJ_URL);
	assert_string_equal(fake.reqs[2].method, "PATCH");
	assert_string_equal(fake.reqs[2].url, OBJ_URL "/status");
	/* The Ready condition flipped from the fresh False: its transition time moves. */
	assert_non_null(
	    strstr(fake.reqs[2].body, "\"lastTransitionTime\":\"2026-01-01T00:00:01Z\""));
	assert_int_equal(store_pending(&st, &ev, c.store, "team/orders"), 0);
	/* Away: kept for later, and the API counts as down. */
	atomic_store(&c.api_up, 1);
	atomic_store(&api_down, 1);
	status_write(&c, kc, &log, "team/orders", &db, &prev, &r);
	atomic_store(&api_down, 0);
	assert_false(ctl_api_up(&c));
	assert_int_equal(store_pending(&st, &ev, c.store, "team/orders"), 1);
	assert_int_equal(json_array_size(st), 1);
	json_decref(st);
	json_decref(ev);
	kube_client_free(kc);
	store_free(c.store);
	metrics_free(c.metrics);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patch_and_current),
	    cmocka_unit_test(test_paused_keeps_the_last_conditions),
	    cmocka_unit_test(test_write_retries_a_conflict_and_keeps_when_away),
	};

	return cmocka_run_group_tests_name("status", tests, setup, fake_teardown);
}
