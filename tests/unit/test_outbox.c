/*
 * test_outbox.c - the Events of runs, and the status patches and Events
 * kept while the API is away and sent later, oldest first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl.h"
#include "err.h"
#include "events.h"
#include "fake_api.h"
#include "metrics.h"
#include "outbox.h"
#include "store.h"

#include <stdatomic.h>

#define STATUS_URL "/apis/db.platform.dev/v1alpha1/namespaces/team/appdatabases/orders/status"

static atomic_int api_down;
static atomic_int cut_answers; /* 2xx answers whose JSON stops halfway */

static void route(const struct fake_req *req, unsigned int *code, char *body, size_t len)
{
	if (atomic_load(&api_down)) {
		*code = 503;
		return;
	}
	*code = strcmp(req->method, "POST") == 0 ? 201 : 200;
	if (atomic_load(&cut_answers))
		snprintf(body, len, "{\"apiVersion\":\"v1\",\"kind\":\"Ev");
	else if (strcmp(req->url, STATUS_URL) == 0) /* the patched object, as the API answers it */
		snprintf(body, len,
		         "{\"apiVersion\":\"db.platform.dev/v1alpha1\",\"kind\":\"AppDatabase\","
		         "\"metadata\":{\"namespace\":\"team\",\"name\":\"orders\"}}");
	else if (strcmp(req->method, "PATCH") == 0) /* the Event patched */
		snprintf(body, len,
		         "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{"
		         "\"name\":\"e\",\"namespace\":\"team\"}}");
	else /* the Event created */
		snprintf(body, len, "%s", req->body[0] ? req->body : "{}");
}

FAKE_GROUP_SETUP(setup, route)

/* A controller context with a store holding team/orders. */
static void ctl_init(struct ctl *c)
{
	json_t *o = json_loads("{\"metadata\":{\"namespace\":\"team\",\"name\":\"orders\","
	                       "\"uid\":\"u1\",\"generation\":1},\"spec\":{}}",
	                       0, NULL);
	char key[STORE_KEY_MAX];

	memset(c, 0, sizeof(*c));
	assert_int_equal(store_new(&c->store, NULL), 0);
	assert_int_equal(events_new(&c->events, "pod-1", 0), 0);
	assert_int_equal(metrics_new(&c->metrics), 0);
	assert_int_equal(store_put(c->store, o, key, sizeof(key)), 1);
	json_decref(o);
}

static void ctl_clear(struct ctl *c)
{
	store_free(c->store);
	events_free(c->events);
	metrics_free(c->metrics);
}

static void test_kept_and_flushed_oldest_first(void **state)
{
	struct ctl c;
	struct kube_client *kc = NULL;
	struct err e = {0};
	struct appdb db = {0};
	struct run_result r = {0};
	struct log_ctx log = {"team", "orders", "run-1"};
	json_t *st, *ev, *patch1 = json_pack("{s:{s:i}}", "status", "observedGeneration", 1);
	json_t *patch2 = json_pack("{s:{s:i}}", "status", "observedGeneration", 2);

	(void)state;
	ctl_init(&c);
	assert_int_equal(kube_client_new(&kc, fake_cfg, &e), 0);
	db.ns = "team";
	db.name = "orders";
	db.db_name = "orders";
	db.uid = "u1";
	r.result = RESULT_CHANGED;
	r.reason = REASON_PROVISIONED;
	snprintf(r.run_id, sizeof(r.run_id), "run-1");
	/* The API is away: the Event is kept, after two status patches. */
	atomic_store(&api_down, 1);
	store_keep(c.store, NULL, "team/orders", STORE_STATUS, patch1);
	store_keep(c.store, NULL, "team/orders", STORE_STATUS, patch2);
	outbox_run_event(&c, kc, &log, "team/orders", &db, &r);
	assert_int_equal(store_pending(&st, &ev, c.store, "team/orders"), 1);
	assert_int_equal(json_array_size(st), 2);
	assert_int_equal(json_array_size(ev), 1);
	json_decref(st);
	json_decref(ev);
	/* A 201 whose body is not the Event: not sent, kept, and said so for a retry. */
	atomic_store(&api_down, 0);
	atomic_store(&cut_answers, 1);
	assert_int_equal(outbox_run_event(&c, kc, &log, "team/orders", &db, &r), APPDB_ETRANSIENT);
	assert_int_equal(store_pending(&st, &ev, c.store, "team/orders"), 1);
	assert_int_equal(json_array_size(ev), 2);
	json_decref(st);
	json_decref(ev);
	/* Nor is a kept status patch answered so sent: nothing leaves the outbox. */
	outbox_flush(&c, kc, &log, "team/orders", "team", "orders");
	assert_int_equal(store_pending(&st, &ev, c.store, "team/orders"), 1);
	assert_int_equal(json_array_size(st), 2);
	assert_int_equal(json_array_size(ev), 2);
	json_decref(st);
	json_decref(ev);
	atomic_store(&cut_answers, 0);
	atomic_store(&api_down, 1);
	/* Still away: nothing is lost. */
	outbox_flush(&c, kc, &log, "team/orders", "team", "orders");
	assert_int_equal(store_pending(&st, &ev, c.store, "team/orders"), 1);
	json_decref(st);
	json_decref(ev);
	/* Back: patches first, oldest first, then the Event; the outbox is empty. */
	atomic_store(&api_down, 0);
	fake_reset();
	outbox_flush(&c, kc, &log, "team/orders", "team", "orders");
	assert_int_equal(store_pending(&st, &ev, c.store, "team/orders"), 0);
	assert_int_equal(fake.n, 4);
	assert_string_equal(fake.reqs[0].method, "PATCH");
	assert_string_equal(fake.reqs[0].url, STATUS_URL);
	assert_non_null(strstr(fake.reqs[0].body, "\"observedGeneration\":1"));
	assert_non_null(strstr(fake.reqs[1].body, "\"observedGeneration\":2"));
	assert_string_equal(fake.reqs[2].method, "POST");
	assert_non_null(strstr(fake.reqs[2].body, "run-1"));
	assert_string_equal(fake.reqs[3].method, "PATCH"); /* the same Event: aggregated */
	/* An unchanged run has no Event. */
	fake_reset();
	r.result = RESULT_UNCHANGED;
	outbox_run_event(&c, kc, &log, "team/orders", &db, &r);
	assert_int_equal(fake.n, 0);
	kube_client_free(kc);
	ctl_clear(&c);
	json_decref(patch1);
	json_decref(patch2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kept_and_flushed_oldest_first),
	};

	return cmocka_run_group_tests_name("outbox", tests, setup, fake_teardown);
}
