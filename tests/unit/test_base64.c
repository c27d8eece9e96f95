/*
 * test_base64.c - strict (Secret data) and lenient (kubeconfig) decoding,
 * and the failing allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base64.h"
#include "dynbuf.h"
#include "err.h"
#include "failalloc.h"

#include <stdlib.h>
#include <string.h>

static int decode(char **out, size_t *len, const char *in, enum base64_mode mode)
{
	return base64_decode(out, len, in, strlen(in), mode);
}

static void test_strict(void **state)
{
	const char *bad[] = {
	    "YQ", "YQ=", "Y===", "YQ==YQ==", "YW\nI=", "YW*=", "=YWI", "YQ=a", NULL};
	char *v = NULL;
	size_t len = 0, i;

	(void)state;
	assert_int_equal(decode(&v, &len, "aHVudGVyMg==", BASE64_STRICT), 0);
	assert_string_equal(v, "hunter2");
	assert_int_equal(len, 7);
	dynbuf_wipe_free(v, len);
	assert_int_equal(decode(&v, &len, "YWI=", BASE64_STRICT), 0);
	assert_string_equal(v, "ab");
	dynbuf_wipe_free(v, len);
	assert_int_equal(decode(&v, &len, "", BASE64_STRICT), 0);
	assert_int_equal(len, 0);
	assert_string_equal(v, "");
	dynbuf_wipe_free(v, len);
	/* Bytes may be anything, NUL included: the callers decide. */
	assert_int_equal(decode(&v, &len, "YQBi", BASE64_STRICT), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "a\0b", 3);
	dynbuf_wipe_free(v, len);
	assert_int_equal(decode(&v, &len, "+/+/", BASE64_STRICT), 0);
	assert_int_equal((unsigned char)v[0], 0xfb);
	dynbuf_wipe_free(v, len);
	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(decode(&v, &len, bad[i], BASE64_STRICT), APPDB_EINVAL);
		assert_null(v);
	}
}

static void test_lenient(void **state)
{
	char *v = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(decode(&v, &len, " aHVu\n dGVy\r\n\tMg== \n", BASE64_LENIENT), 0);
	assert_string_equal(v, "hunter2");
	dynbuf_wipe_free(v, len);
	assert_int_equal(decode(&v, &len, "aHVudGVyMg", BASE64_LENIENT), 0);
	assert_string_equal(v, "hunter2");
	dynbuf_wipe_free(v, len);
	assert_int_equal(decode(&v, &len, "YQ===", BASE64_LENIENT), APPDB_EINVAL);
	assert_int_equal(decode(&v, &len, "Y", BASE64_LENIENT), APPDB_EINVAL);
	assert_int_equal(decode(&v, &len, "YQ==YQ", BASE64_LENIENT), APPDB_EINVAL);
	assert_int_equal(decode(&v, &len, "Y-Q=", BASE64_LENIENT), APPDB_EINVAL);
	assert_null(v);
}

static void test_failing_allocator(void **state)
{
	long n;

	(void)state;
	for (n = 1; n < 10; n++) {
		char *v = NULL;
		size_t len = 0;
		int rc;

		failalloc_arm(n);
		rc = decode(&v, &len, "aHVudGVyMg==", BASE64_STRICT);
		failalloc_arm(0);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			dynbuf_wipe_free(v, len);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
		assert_null(v);
	}
	assert_true(n > 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strict),
	    cmocka_unit_test(test_lenient),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
