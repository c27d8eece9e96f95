/*
 * test_clock.c - RFC 3339 parsing and formatting, the two clocks and
 * deadlines for timed waits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"

#include <string.h>

static void test_parse_and_format(void **state)
{
	char buf[40];

	(void)state;
	assert_int_equal(clock_parse("2001-09-09T01:46:40Z"), 1000000000);
	assert_int_equal(clock_parse("2001-09-09T01:46:40.123456Z"), 1000000000);
	assert_int_equal(clock_parse("2001-09-09T03:46:40+02:00"), 1000000000);
	assert_int_equal(clock_parse("2001-09-09 01:46:40"), -1);
	assert_int_equal(clock_parse("2001-09-09T01:46:40"), -1);
	assert_int_equal(clock_parse("2001-09-09T01:46:40Zjunk"), -1);
	assert_int_equal(clock_parse("2001-09-09T01:46:40."), -1);
	assert_int_equal(clock_parse(NULL), -1);
	clock_format(buf, sizeof(buf), 1000000000);
	assert_string_equal(buf, "2001-09-09T01:46:40Z");
	clock_format_micro(buf, sizeof(buf), 1000000000.5);
	assert_string_equal(buf, "2001-09-09T01:46:40.500000Z");
}

static void test_now_round_trips(void **state)
{
	char buf[40];
	time_t before = time(NULL), t;

	(void)state;
	clock_format_now(buf, sizeof(buf));
	assert_int_equal(strlen(buf), 20);
	t = clock_parse(buf);
	assert_true(t >= before && t <= time(NULL));
	assert_true(clock_wall() >= (double)before);
}

static void test_mono_and_deadline(void **state)
{
	struct timespec now, d;
	double a = clock_mono(), b = clock_mono();

	(void)state;
	assert_true(b >= a);
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_deadline(&d, CLOCK_MONOTONIC, 1.75);
	assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
	assert_true((double)(d.tv_sec - now.tv_sec) + (d.tv_nsec - now.tv_nsec) / 1e9 >= 1.75);
	assert_true((double)(d.tv_sec - now.tv_sec) + (d.tv_nsec - now.tv_nsec) / 1e9 < 2.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_format),
	    cmocka_unit_test(test_now_round_trips),
	    cmocka_unit_test(test_mono_and_deadline),
	};

	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
