/*
 * test_slots.c - at most maxConnectionsPerInstance runs on an instance at
 * once, each instance counted apart; a name outside the config takes none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "slots.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static struct instance_config instances[2];
static struct config cfg;
static atomic_int running_a, most_a;

static void setup_config(int max_a, int max_b)
{
	memset(instances, 0, sizeof(instances));
	memset(&cfg, 0, sizeof(cfg));
	instances[0].name = "a";
	instances[0].max_connections = max_a;
	instances[1].name = "b";
	instances[1].max_connections = max_b;
	cfg.instances = instances;
	cfg.n_instances = 2;
}

struct run {
	struct slots *s;
	const char *instance;
};

static void *hold(void *arg)
{
	struct run *r = arg;
	int i;

	for (i = 0; i < 5; i++) {
		slots_acquire(r->s, r->instance);
		if (strcmp(r->instance, "a") == 0) {
			int now = atomic_fetch_add(&running_a, 1) + 1, seen = atomic_load(&most_a);

			while (now > seen && !atomic_compare_exchange_weak(&most_a, &seen, now))
				;
		}
		usleep(2000);
		if (strcmp(r->instance, "a") == 0)
			atomic_fetch_sub(&running_a, 1);
		slots_release(r->s, r->instance);
	}
	return NULL;
}

static void test_bound_per_instance(void **state)
{
	struct slots *s = NULL;
	pthread_t t[10];
	struct run runs[10];
	int i;

	(void)state;
	setup_config(2, 3);
	assert_int_equal(slots_new(&s, &cfg), 0);
	for (i = 0; i < 10; i++) {
		runs[i].s = s;
		runs[i].instance = i < 6 ? "a" : "b";
		assert_int_equal(pthread_create(&t[i], NULL, hold, &runs[i]), 0);
	}
	for (i = 0; i < 10; i++)
		pthread_join(t[i], NULL);
	assert_true(atomic_load(&most_a) <= 2);
	assert_int_equal(slots_peak(s, "a"), 2);
	assert_true(slots_peak(s, "b") <= 3);
	assert_true(slots_peak(s, "b") >= 1);
	slots_free(s);
}

static void test_unknown_instance_takes_no_slot(void **state)
{
	struct slots *s = NULL;
	int i;

	(void)state;
	setup_config(1, 1);
	assert_int_equal(slots_new(&s, &cfg), 0);
	for (i = 0; i < 5; i++)
		slots_acquire(s, "nowhere"); /* would block on a known instance */
	slots_acquire(s, NULL);
	slots_acquire(s, "a");
	slots_release(s, "a");
	slots_acquire(s, "a"); /* freed again */
	slots_release(s, "a");
	slots_release(s, "a"); /* an extra release does not go below zero */
	assert_int_equal(slots_peak(s, "a"), 1);
	assert_int_equal(slots_peak(s, "nowhere"), 0);
	slots_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bound_per_instance),
	    cmocka_unit_test(test_unknown_instance_takes_no_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
