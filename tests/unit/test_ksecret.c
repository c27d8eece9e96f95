/*
 * test_ksecret.c - the kubernetesSecret source: a Secret read through the
 * API, the copy kept for an outage, the copy forgotten when the API says
 * the Secret is gone or forbidden, workers reading at once (ThreadSanitizer
 * runs this), and the failing allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "failalloc.h"
#include "fake_api.h"
#include "ksecret.h"

#include <stdatomic.h>

static atomic_int answer = 200; /* what the API says about Secret s1 */
#define WRONG_TYPES 299         /* answer: a 200 that is not a Secret */

static void route(const struct fake_req *req, unsigned int *code, char *body, size_t len)
{
	if (strcmp(req->url, "/api/v1/namespaces/team/secrets/s1") != 0) {
		*code = 404;
		snprintf(body, len, "{\"kind\":\"Status\",\"reason\":\"NotFound\"}");
		return;
	}
	*code = (unsigned int)atomic_load(&answer);
	if (*code == WRONG_TYPES) {
		/* A 200 whose body is no Secret: every field of the wrong type. */
		*code = 200;
		snprintf(body, len,
		         "{\"apiVersion\":7,\"kind\":[\"List\"],\"metadata\":\"none\","
		         "\"items\":{\"a\":1},\"spec\":3,\"status\":[1,2]}");
	} else if (*code == 200)
		snprintf(body, len,
		         "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\","
		         "\"namespace\":\"team\",\"resourceVersion\":\"7\"},\"data\":{\"password\":"
		         "\"aHVudGVyMg==\"}}");
	else
		snprintf(body, len, "{\"kind\":\"Status\",\"code\":%u}", *code);
}

FAKE_GROUP_SETUP(setup, route)

static const struct secret_ref s1 = {
    .kind = SECRET_KUBE, .ns = "team", .name = "s1", .key = "password"};

static int fetch(struct ksecret_source *src, const struct secret_ref *ref, struct secret *out,
                 struct err *e)
{
	memset(out, 0, sizeof(*out));
	memset(e, 0, sizeof(*e));
	return ksecret_fetch(src, out, ref, e);
}

static void test_outage_uses_the_copy(void **state)
{
	struct ksecret_source src = {0};
	struct secret v;
	struct err e;
	struct secret_ref missing_key = s1;

	(void)state;
	assert_int_equal(ksecret_cache_new(&src.cache), 0);
	assert_int_equal(kube_client_new(&src.kc, fake_cfg, &e), 0);
	kube_client_set_timeout(src.kc, 5);
	/* Never read, API away: transient, said so. */
	atomic_store(&answer, 503);
	assert_int_equal(fetch(&src, &s1, &v, &e), APPDB_ETRANSIENT);
	assert_non_null(strstr(e.msg, "has not been read yet"));
	/* A 200 that is not a Secret: a bad answer like a 5xx, not a Secret without the key. */
	atomic_store(&answer, WRONG_TYPES);
	assert_int_equal(fetch(&src, &s1, &v, &e), APPDB_ETRANSIENT);
	assert_non_null(strstr(e.msg, "has not been read yet"));
	assert_non_null(strstr(e.msg, "not a v1 Secret"));
	atomic_store(&answer, 200);
	assert_int_equal(fetch(&src, &s1, &v, &e), 0);
	assert_string_equal(v.value, "hunter2");
	assert_string_equal(v.version, "7");
	secret_clear(&v);
	/* Read once, then a bad answer: the copy serves. */
	atomic_store(&answer, WRONG_TYPES);
	assert_int_equal(fetch(&src, &s1, &v, &e), 0);
	assert_string_equal(v.value, "hunter2");
	secret_clear(&v);
	/* The API is away: the copy serves, intact. */
	atomic_store(&answer, 503);
	assert_int_equal(fetch(&src, &s1, &v, &e), 0);
	assert_string_equal(v.value, "hunter2");
	secret_clear(&v);
	/* A key the Secret does not have: not found, and the Secret stays kept. */
	atomic_store(&answer, 200);
	missing_key.key = "nokey";
	assert_int_equal(fetch(&src, &missing_key, &v, &e), APPDB_ENOTFOUND);
	assert_non_null(strstr(e.msg, "nokey"));
	atomic_store(&answer, 503);
	assert_int_equal(fetch(&src, &s1, &v, &e), 0);
	assert_string_equal(v.value, "hunter2");
	secret_clear(&v);
	/* Gone or forbidden: forgotten at once. */
	atomic_store(&answer, 403);
	assert_int_equal(fetch(&src, &s1, &v, &e), APPDB_EFORBIDDEN);
	atomic_store(&answer, 503);
	assert_int_equal(fetch(&src, &s1, &v, &e), APPDB_ETRANSIENT);
	atomic_store(&answer, 200);
	assert_int_equal(fetch(&src, &s1, &v, &e), 0);
	secret_clear(&v);
	atomic_store(&answer, 404);
	assert_int_equal(fetch(&src, &s1, &v, &e), APPDB_ENOTFOUND);
	atomic_store(&answer, 503);
	assert_int_equal(fetch(&src, &s1, &v, &e), APPDB_ETRANSIENT);
	atomic_store(&answer, 200);
	kube_client_free(src.kc);
	ksecret_cache_free(src.cache);
}

struct reader {
	struct ksecret_source src;
	int bad;
};

static void *read_many(void *p)
{
	struct reader *r = p;
	int i;

	for (i = 0; i < 30; i++) {
		struct secret v;
		struct err e;
		int rc = fetch(&r->src, &s1, &v, &e);

		if (rc != 0 || v.value == NULL || strcmp(v.value, "hunter2") != 0)
			r->bad++;
		secret_clear(&v);
	}
	return NULL;
}

static void test_workers_at_once(void **state)
{
	struct ksecret_cache *cache = NULL;
	struct reader r[4];
	pthread_t th[4];
	struct err e = {0};
	int i, flips;

	(void)state;
	assert_int_equal(ksecret_cache_new(&cache), 0);
	for (i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].src.cache = cache;
		assert_int_equal(kube_client_new(&r[i].src.kc, fake_cfg, &e), 0);
		kube_client_set_timeout(r[i].src.kc, 5);
	}
	/* Read once so an outage always has the copy. */
	read_many(&r[0]);
	assert_int_equal(r[0].bad, 0);
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, read_many, &r[i]);
	for (flips = 0; flips < 20; flips++) {
		atomic_store(&answer, flips % 2 ? 200 : 503);
		usleep(2000);
	}
	atomic_store(&answer, 200);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].bad, 0);
		kube_client_free(r[i].src.kc);
	}
	ksecret_cache_free(cache);
}

static void test_failing_allocator(void **state)
{
	long n;

	(void)state;
	for (n = 1; n < 100000; n++) {
		struct ksecret_source src = {0};
		struct secret v = {0};
		struct err e = {0};
		int rc;

		failalloc_arm(n);
		rc = ksecret_cache_new(&src.cache);
		if (rc == 0)
			rc = kube_client_new(&src.kc, fake_cfg, &e);
		if (rc == 0)
			rc = ksecret_fetch(&src, &v, &s1, &e);
		failalloc_arm(0);
		/* A copy that could not be kept is no failure: the value was read. */
		if (rc == 0)
			assert_string_equal(v.value, "hunter2");
		secret_clear(&v);
		kube_client_free(src.kc);
		ksecret_cache_free(src.cache);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
	}
	assert_true(n > 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outage_uses_the_copy),
	    cmocka_unit_test(test_workers_at_once),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("ksecret", tests, setup, fake_teardown);
}
