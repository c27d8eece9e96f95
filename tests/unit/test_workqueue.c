/*
 * test_workqueue.c - coalescing, no double hand-out, delays and backoff.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "failalloc.h"
#include "workqueue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double fake_now;

/* The injected clock. */
static double fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* A queue on the fake clock without jitter. */
static struct workqueue *new_fake_queue(void)
{
	struct workqueue_opts o = {.clock = fake_clock, .jitter = -1};
	struct workqueue *q = NULL;

	fake_now = 1000;
	assert_int_equal(workqueue_new(&q, &o), 0);
	return q;
}

static void test_coalescing(void **state)
{
	struct workqueue *q = new_fake_queue();
	char *k = NULL;

	assert_int_equal(workqueue_add(q, "ns/a"), 0);
	assert_int_equal(workqueue_add(q, "ns/a"), 0);
	assert_int_equal(workqueue_add(q, "ns/b"), 0);
	assert_int_equal(workqueue_len(q), 2);
	assert_int_equal(workqueue_try_get(q, &k), 0);
	assert_string_equal(k, "ns/a");
	free(k);
	assert_int_equal(workqueue_try_get(q, &k), 0);
	assert_string_equal(k, "ns/b");
	free(k);
	assert_int_equal(workqueue_try_get(q, &k), 0);
	assert_null(k);
	workqueue_done(q, "ns/a");
	workqueue_done(q, "ns/b");
	assert_int_equal(workqueue_len(q), 0);
	workqueue_free(q);
}

static void test_held_key_requeued_after_done(void **state)
{
	struct workqueue *q = new_fake_queue();
	char *k = NULL, *k2 = NULL;

	workqueue_add(q, "a");
	workqueue_try_get(q, &k);
	assert_string_equal(k, "a");
	/* Added twice while held: not handed out, queued once after done. */
	workqueue_add(q, "a");
	workqueue_add(q, "a");
	assert_int_equal(workqueue_len(q), 0);
	workqueue_try_get(q, &k2);
	assert_null(k2);
	workqueue_done(q, "a");
	assert_int_equal(workqueue_len(q), 1);
	workqueue_try_get(q, &k2);
	assert_string_equal(k2, "a");
	workqueue_done(q, "a");
	assert_int_equal(workqueue_len(q), 0);
	free(k);
	free(k2);
	workqueue_free(q);
}

static void test_add_after(void **state)
{
	struct workqueue *q = new_fake_queue();
	char *k = NULL;

	workqueue_add_after(q, "a", 10);
	workqueue_add_after(q, "a", 5); /* earlier wins */
	assert_int_equal(workqueue_len(q), 0);
	assert_int_equal(workqueue_delayed_len(q), 1);
	fake_now += 4.9;
	assert_int_equal(workqueue_len(q), 0);
	fake_now += 0.2;
	assert_int_equal(workqueue_len(q), 1);
	assert_int_equal(workqueue_delayed_len(q), 0);
	workqueue_try_get(q, &k);
	assert_string_equal(k, "a");
	workqueue_done(q, "a");
	free(k);
	/* A later add_after does not postpone an earlier one. */
	workqueue_add_after(q, "b", 1);
	workqueue_add_after(q, "b", 100);
	fake_now += 1.5;
	assert_int_equal(workqueue_len(q), 1);
	workqueue_free(q);
}

static void test_backoff(void **state)
{
	struct workqueue *q = new_fake_queue();
	double d = 0;
	int i;

	assert_true(workqueue_backoff(NULL, 1) == 1.0);
	assert_true(workqueue_backoff(NULL, 2) == 2.0);
	assert_true(workqueue_backoff(NULL, 9) == 256.0);
	assert_true(workqueue_backoff(NULL, 10) == 300.0);
	assert_true(workqueue_backoff(NULL, 1000) == 300.0);
	workqueue_add_rate_limited(q, "a", &d);
	assert_true(d == 1.0);
	workqueue_add_rate_limited(q, "a", &d);
	assert_true(d == 2.0);
	workqueue_add_rate_limited(q, "a", &d);
	assert_true(d == 4.0);
	assert_int_equal(workqueue_num_requeues(q, "a"), 3);
	/* Only the earliest pending time counts: due after 1 s. */
	fake_now += 1.01;
	assert_int_equal(workqueue_len(q), 1);
	workqueue_forget(q, "a");
	assert_int_equal(workqueue_num_requeues(q, "a"), 0);
	workqueue_add_rate_limited(q, "a", &d);
	assert_true(d == 1.0);
	for (i = 0; i < 20; i++)
		workqueue_add_rate_limited(q, "a", &d);
	assert_true(d == 300.0);
	workqueue_free(q);
}

static void test_jitter_bounds(void **state)
{
	struct workqueue_opts o = {.clock = fake_clock, .jitter = 0.1, .seed = 42};
	struct workqueue *q = NULL;
	double d = 0;
	int i, differs = 0;
	double prev = -1;

	assert_int_equal(workqueue_new(&q, &o), 0);
	for (i = 0; i < 50; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		workqueue_add_rate_limited(q, key, &d);
		assert_true(d >= 1.0 && d <= 1.1);
		if (prev >= 0 && d != prev)
			differs = 1;
		prev = d;
	}
	assert_true(differs);
	for (i = 0; i < 30; i++)
		workqueue_add_rate_limited(q, "k0", &d);
	assert_true(d <= 300.0 && d >= 299.0);
	workqueue_free(q);
}

struct worker_arg {
	struct workqueue *q;
	pthread_mutex_t *lock;
	int *holding; /* per key index: how many hold it now */
	int *seen;
	int violations;
	int handled;
};

/* Takes keys until shutdown; counts whether a key is ever held twice. */
static void *worker(void *p)
{
	struct worker_arg *a = p;
	char *k = NULL;

	for (;;) {
		int idx;

		workqueue_get(a->q, &k);
		if (k == NULL)
			break;
		idx = atoi(k + 1);
		pthread_mutex_lock(a->lock);
		if (a->holding[idx]++ != 0)
			a->violations++;
		a->seen[idx]++;
		pthread_mutex_unlock(a->lock);
		usleep(100);
		pthread_mutex_lock(a->lock);
		a->holding[idx]--;
		a->handled++;
		pthread_mutex_unlock(a->lock);
		workqueue_done(a->q, k);
		free(k);
	}
	return NULL;
}

static void test_no_double_handout_threads(void **state)
{
	struct workqueue *q = NULL;
	pthread_t th[4];
	struct worker_arg a[4];
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int holding[10] = {0}, seen[10] = {0};
	int i, violations = 0;

	assert_int_equal(workqueue_new(&q, NULL), 0);
	for (i = 0; i < 4; i++) {
		a[i] = (struct worker_arg){q, &lock, holding, seen, 0, 0};
		pthread_create(&th[i], NULL, worker, &a[i]);
	}
	for (i = 0; i < 2000; i++) {
		char key[8];

		snprintf(key, sizeof(key), "k%d", i % 10);
		workqueue_add(q, key);
		if (i % 100 == 0)
			usleep(200);
	}
	/* Let the workers drain the queue, then stop them. */
	for (i = 0; i < 200 && workqueue_len(q) > 0; i++)
		usleep(5000);
	usleep(20000);
	workqueue_shutdown(q);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		violations += a[i].violations;
	}
	assert_int_equal(violations, 0);
	for (i = 0; i < 10; i++)
		assert_true(seen[i] >= 1);
	workqueue_free(q);
}

/* Blocks in get; returns what it got. */
static void *blocked_getter(void *p)
{
	char *k = NULL;

	workqueue_get(p, &k);
	return k;
}

static void test_shutdown_wakes_getters(void **state)
{
	struct workqueue *q = NULL;
	pthread_t th[3];
	void *res;
	int i;

	assert_int_equal(workqueue_new(&q, NULL), 0);
	for (i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, blocked_getter, q);
	usleep(20000);
	workqueue_shutdown(q);
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], &res);
		assert_null(res);
	}
	assert_int_equal(workqueue_add(q, "x"), 0);
	assert_int_equal(workqueue_len(q), 0);
	workqueue_free(q);
}

static void test_blocking_get_waits_for_delay(void **state)
{
	struct workqueue *q = NULL;
	pthread_t th;
	void *res;

	assert_int_equal(workqueue_new(&q, NULL), 0);
	pthread_create(&th, NULL, blocked_getter, q);
	usleep(10000);
	workqueue_add_after(q, "later", 0.05);
	pthread_join(th, &res);
	assert_string_equal(res, "later");
	workqueue_done(q, "later");
	free(res);
	workqueue_free(q);
}

static void test_failing_allocator(void **state)
{
	long n;

	for (n = 1; n < 10000; n++) {
		struct workqueue *q = NULL;
		char *k = NULL;
		int rc, i;

		failalloc_arm(n);
		rc = workqueue_new(&q, NULL);
		for (i = 0; rc == 0 && i < 100; i++) {
			char key[16];

			snprintf(key, sizeof(key), "k%d", i);
			rc = workqueue_add(q, key);
			if (rc == 0)
				rc = workqueue_add_rate_limited(q, key, NULL);
		}
		if (rc == 0)
			rc = workqueue_try_get(q, &k);
		failalloc_arm(0);
		if (k != NULL) {
			workqueue_done(q, k);
			free(k);
		}
		workqueue_free(q);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
	}
	assert_true(n > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_coalescing),
	    cmocka_unit_test(test_held_key_requeued_after_done),
	    cmocka_unit_test(test_add_after),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_jitter_bounds),
	    cmocka_unit_test(test_no_double_handout_threads),
	    cmocka_unit_test(test_shutdown_wakes_getters),
	    cmocka_unit_test(test_blocking_get_waits_for_delay),
	    cmocka_unit_test(test_failing_allocator),
	};
	failalloc_init();
	return cmocka_run_group_tests_name("workqueue", tests, NULL, NULL);
}
