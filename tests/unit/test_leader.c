/*
 * test_leader.c - Lease election against a fake API server that stores one
 * Lease with resourceVersion checks: create, renew, held by another,
 * expiry on the local clock, take-over, release, and two elector threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "fake_api.h"
#include "leader.h"

#include <stdatomic.h>
#include <time.h>

#define LEASE_URL "/apis/coordination.k8s.io/v1/namespaces/sys/leases/appdb"

static struct kube_config *cfg;
static json_t *stored; /* the Lease, or NULL */
static long rv_counter = 100;
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;

/* A Lease store with optimistic concurrency. */
static void route(const struct fake_req *req, unsigned int *code, char *body, size_t len)
{
	json_t *in = NULL;
	char *text = NULL;

	pthread_mutex_lock(&store_lock);
	if (strcmp(req->method, "GET") == 0 && strcmp(req->url, LEASE_URL) == 0) {
		*code = stored != NULL ? 200 : 404;
	} else if (strcmp(req->method, "POST") == 0 &&
	           strcmp(req->url, "/apis/coordination.k8s.io/v1/namespaces/sys/leases") == 0) {
		if (stored != NULL) {
			*code = 409;
		} else {
			char rv[32];

			stored = json_loads(req->body, 0, NULL);
			snprintf(rv, sizeof(rv), "%ld", ++rv_counter);
			json_object_set_new(json_object_get(stored, "metadata"), "resourceVersion",
			                    json_string(rv));
			*code = 201;
		}
	} else if (strcmp(req->method, "PUT") == 0 && strcmp(req->url, LEASE_URL) == 0) {
		const char *want, *have;

		in = json_loads(req->body, 0, NULL);
		want = json_string_value(
		    json_object_get(json_object_get(in, "metadata"), "resourceVersion"));
		have = json_string_value(
		    json_object_get(json_object_get(stored, "metadata"), "resourceVersion"));
		if (stored == NULL) {
			*code = 404;
		} else if (want == NULL || have == NULL || strcmp(want, have) != 0) {
			*code = 409;
		} else {
			char rv[32];

			snprintf(rv, sizeof(rv), "%ld", ++rv_counter);
			json_object_set_new(json_object_get(in, "metadata"), "resourceVersion",
			                    json_string(rv));
			json_decref(stored);
			stored = json_incref(in);
			*code = 200;
		}
	} else {
		*code = 404;
	}
	if (*code == 200 || *code == 201) {
		text = json_dumps(stored, JSON_COMPACT);
		snprintf(body, len, "%s", text);
	} else {
		snprintf(body, len, "{\"kind\":\"Status\",\"code\":%u,\"message\":\"fake %u\"}",
		         *code, *code);
	}
	pthread_mutex_unlock(&store_lock);
	free(text);
	json_decref(in);
}

static int setup(void **state)
{
	return fake_start(route, &cfg);
}

static int teardown(void **state)
{
	kube_config_free(cfg);
	fake_stop();
	json_decref(stored);
	return 0;
}

static double fake_now = 1000;

static double fake_clock(void)
{
	return fake_now;
}

static const char *holder(void)
{
	static char buf[128];
	const char *h;

	pthread_mutex_lock(&store_lock);
	h = json_string_value(json_object_get(json_object_get(stored, "spec"), "holderIdentity"));
	snprintf(buf, sizeof(buf), "%s", h != NULL ? h : "(none)");
	pthread_mutex_unlock(&store_lock);
	return buf;
}

static long long spec_int(const char *key)
{
	long long v;

	pthread_mutex_lock(&store_lock);
	v = json_integer_value(json_object_get(json_object_get(stored, "spec"), key));
	pthread_mutex_unlock(&store_lock);
	return v;
}

static struct leader *make(const char *id, double (*clock)(void), double lease, double renew,
                           double retry)
{
	struct leader_opts o = {.ns = "sys",
	                        .name = "appdb",
	                        .identity = id,
	                        .lease_seconds = lease,
	                        .renew_deadline = renew,
	                        .retry_period = retry,
	                        .clock = clock};
	struct leader *l = NULL;
	struct err e = {0};

	assert_int_equal(leader_new(&l, cfg, &o, &e), 0);
	return l;
}

static void test_acquire_renew_expire_takeover_release(void **state)
{
	struct leader *a = make("pod-a", fake_clock, 15, 10, 2);
	struct leader *b = make("pod-b", fake_clock, 15, 10, 2);
	struct err e = {0};

	json_decref(stored);
	stored = NULL;
	assert_int_equal(leader_try_acquire_or_renew(a, &e), 0);
	assert_string_equal(holder(), "pod-a");
	assert_int_equal(spec_int("leaseDurationSeconds"), 15);
	assert_int_equal(spec_int("leaseTransitions"), 0);
	assert_int_equal(leader_try_acquire_or_renew(b, &e), APPDB_ECONFLICT);
	assert_non_null(strstr(e.msg, "pod-a"));
	err_clear(&e);
	/* a renews; b sees the record change and restarts its expiry clock. */
	fake_now += 10;
	assert_int_equal(leader_try_acquire_or_renew(a, &e), 0);
	fake_now += 1;
	assert_int_equal(leader_try_acquire_or_renew(b, &e), APPDB_ECONFLICT);
	err_clear(&e);
	/* a stops renewing: 14 s later still held, 15 s later expired. */
	fake_now += 14;
	assert_int_equal(leader_try_acquire_or_renew(b, &e), APPDB_ECONFLICT);
	err_clear(&e);
	fake_now += 1.5;
	assert_int_equal(leader_try_acquire_or_renew(b, &e), 0);
	assert_string_equal(holder(), "pod-b");
	assert_int_equal(spec_int("leaseTransitions"), 1);
	/* a comes back: held by b. */
	assert_int_equal(leader_try_acquire_or_renew(a, &e), APPDB_ECONFLICT);
	err_clear(&e);
	/* b releases: a takes it at once. */
	assert_int_equal(leader_release(b, &e), 0);
	assert_string_equal(holder(), "");
	assert_int_equal(leader_try_acquire_or_renew(a, &e), 0);
	assert_string_equal(holder(), "pod-a");
	assert_int_equal(spec_int("leaseTransitions"), 2);
	/* Releasing a lease one does not hold changes nothing. */
	assert_int_equal(leader_release(b, &e), 0);
	assert_string_equal(holder(), "pod-a");
	leader_free(a);
	leader_free(b);
}

static void test_options(void **state)
{
	struct leader_opts o = {.ns = "sys", .name = "x", .lease_seconds = 5, .renew_deadline = 5};
	struct leader *l = NULL;
	struct err e = {0};
	char id[300];

	assert_int_equal(leader_new(&l, cfg, &o, &e), APPDB_EINVAL);
	err_clear(&e);
	o.ns = "";
	o.renew_deadline = 2;
	assert_int_equal(leader_new(&l, cfg, &o, &e), APPDB_EINVAL);
	setenv("POD_NAME", "appdb-operator-7d9f-abc", 1);
	leader_default_identity(id, sizeof(id));
	assert_string_equal(id, "appdb-operator-7d9f-abc");
	unsetenv("POD_NAME");
	leader_default_identity(id, sizeof(id));
	assert_non_null(strchr(id, '_'));
}

static atomic_int changes;

static void on_change(void *ctx, int leading)
{
	atomic_fetch_add(&changes, 1);
}

/* Waits up to secs for l to lead (want 1) or not (want 0); returns 1 when it did. */
static int wait_for(struct leader *l, int want, double secs)
{
	struct timespec ts = {0, 20000000};
	int i;

	for (i = 0; i < (int)(secs * 50); i++) {
		if (leader_is_leader(l) == want)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void test_two_electors_threads(void **state)
{
	struct leader_opts oa = {.ns = "sys",
	                         .name = "appdb",
	                         .identity = "thread-a",
	                         .lease_seconds = 1.5,
	                         .renew_deadline = 1,
	                         .retry_period = 0.1,
	                         .on_change = on_change};
	struct leader_opts ob = oa;
	struct leader *a = NULL, *b = NULL;
	struct err e = {0};
	struct timespec ts = {0, 10000000};
	int i, both = 0;

	json_decref(stored);
	stored = NULL;
	ob.identity = "thread-b";
	assert_int_equal(leader_new(&a, cfg, &oa, &e), 0);
	assert_int_equal(leader_new(&b, cfg, &ob, &e), 0);
	assert_int_equal(leader_start(a, &e), 0);
	assert_true(wait_for(a, 1, 3));
	assert_int_equal(leader_start(b, &e), 0);
	for (i = 0; i < 50; i++) {
		both |= leader_is_leader(a) && leader_is_leader(b);
		nanosleep(&ts, NULL);
	}
	assert_false(both);
	assert_false(leader_is_leader(b));
	/* a dies without releasing: b takes over within a lease duration (plus a retry). */
	leader_stop(a, 0);
	assert_false(leader_is_leader(a));
	assert_true(wait_for(b, 1, 2.5));
	assert_string_equal(holder(), "thread-b");
	/* b stops cleanly: the lease is released. */
	leader_stop(b, 1);
	assert_string_equal(holder(), "");
	assert_true(atomic_load(&changes) >= 4);
	leader_free(a);
	leader_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_acquire_renew_expire_takeover_release),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_two_electors_threads),
	};
	return cmocka_run_group_tests_name("leader", tests, setup, teardown);
}
