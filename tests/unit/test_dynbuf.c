/*
 * test_dynbuf.c - the capped buffer: growth, the cap, take, reset, and the
 * failing allocator (a failed add leaves it empty and reusable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dynbuf.h"
#include "err.h"
#include "failalloc.h"

#include <stdlib.h>
#include <string.h>

static void test_grows_and_takes(void **state)
{
	struct dynbuf b;
	char chunk[1000];
	size_t len = 0, i;
	char *p;

	(void)state;
	dynbuf_init(&b, 1 << 20);
	assert_string_equal(dynbuf_ptr(&b), "");
	assert_null(dynbuf_take(&b, &len));
	assert_int_equal(len, 0);
	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < 100; i++)
		assert_int_equal(dynbuf_add(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(dynbuf_len(&b), 100000);
	assert_int_equal(strlen(dynbuf_ptr(&b)), 100000);
	p = dynbuf_take(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 100000);
	assert_int_equal(p[len], '\0');
	assert_int_equal(dynbuf_len(&b), 0);
	dynbuf_wipe_free(p, len);
	/* Usable again after a take. */
	assert_int_equal(dynbuf_add(&b, "ab", 2), 0);
	dynbuf_reset(&b);
	assert_int_equal(dynbuf_len(&b), 0);
	assert_string_equal(dynbuf_ptr(&b), "");
	assert_int_equal(dynbuf_add(&b, "cd", 2), 0);
	assert_string_equal(dynbuf_ptr(&b), "cd");
	dynbuf_free(&b);
	dynbuf_free(&b); /* twice is fine */
}

static void test_cap(void **state)
{
	struct dynbuf b;

	(void)state;
	dynbuf_init(&b, 5);
	assert_int_equal(dynbuf_add(&b, "abcde", 5), 0);
	assert_string_equal(dynbuf_ptr(&b), "abcde");
	/* Past the cap: refused and emptied. */
	assert_int_equal(dynbuf_add(&b, "f", 1), APPDB_ELIMIT);
	assert_int_equal(dynbuf_len(&b), 0);
	assert_null(b.data);
	assert_int_equal(dynbuf_add(&b, "abcdef", 6), APPDB_ELIMIT);
	assert_int_equal(dynbuf_add(&b, "abc", 3), 0);
	assert_int_equal(dynbuf_add(&b, NULL, 0), 0);
	assert_string_equal(dynbuf_ptr(&b), "abc");
	dynbuf_free(&b);
	dynbuf_wipe_str(NULL);
	dynbuf_wipe_free(NULL, 3);
}

static void test_failing_allocator(void **state)
{
	long n;

	(void)state;
	for (n = 1; n < 100; n++) {
		struct dynbuf b;
		char chunk[3000];
		int rc = 0, i;

		memset(chunk, 'y', sizeof(chunk));
		dynbuf_init(&b, 1 << 20);
		failalloc_arm(n);
		for (i = 0; i < 10 && rc == 0; i++)
			rc = dynbuf_add(&b, chunk, sizeof(chunk));
		failalloc_arm(0);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			assert_int_equal(dynbuf_len(&b), 30000);
			dynbuf_free(&b);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
		assert_int_equal(dynbuf_len(&b), 0);
		assert_null(b.data);
		dynbuf_free(&b);
	}
	assert_true(n > 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grows_and_takes),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("dynbuf", tests, NULL, NULL);
}
