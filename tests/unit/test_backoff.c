/*
 * test_backoff.c - capped exponential backoff and its spread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

#include <math.h>

/* 1 when a and b agree to a nanosecond. */
static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

static void test_delay(void **state)
{
	(void)state;
	assert_true(near(backoff_delay(0.5, 30, 1), 0.5));
	assert_true(near(backoff_delay(0.5, 30, 0), 0.5));
	assert_true(near(backoff_delay(0.5, 30, -4), 0.5));
	assert_true(near(backoff_delay(0.5, 30, 2), 1.0));
	assert_true(near(backoff_delay(0.5, 30, 6), 16.0));
	assert_true(near(backoff_delay(0.5, 30, 7), 30.0));
	assert_true(near(backoff_delay(1, 300, 61), 300.0));
	assert_true(near(backoff_delay(1, 300, 1 << 30), 300.0));
}

static void test_spread(void **state)
{
	(void)state;
	assert_true(near(backoff_spread(10, 0.2, 0.0), 8.0));
	assert_true(near(backoff_spread(10, 0.2, 0.5), 10.0));
	assert_true(near(backoff_spread(10, 0.2, 1.0), 12.0));
	assert_true(near(backoff_spread(10, 0, 0.7), 10.0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delay),
	    cmocka_unit_test(test_spread),
	};

	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
