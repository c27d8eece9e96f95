/*
 * test_fdio.c - whole writes and capped whole-file reads, with the failing
 * allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dynbuf.h"
#include "err.h"
#include "failalloc.h"
#include "fdio.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/fdiotest.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return unlink(path);
}

/* Writes n bytes of 'z' to path with fdio_write_all. */
static void write_n(size_t n)
{
	char *buf = malloc(n + 1);
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_non_null(buf);
	assert_true(fd >= 0);
	memset(buf, 'z', n);
	assert_int_equal(fdio_write_all(fd, buf, n), 0);
	close(fd);
	free(buf);
}

static void test_read_back(void **state)
{
	struct err e = {0};
	char *text = NULL;
	size_t len = 0;

	(void)state;
	write_n(0);
	assert_int_equal(fdio_read_file(&text, &len, path, 100, &e), 0);
	assert_string_equal(text, "");
	assert_int_equal(len, 0);
	dynbuf_wipe_free(text, len);
	write_n(100000);
	assert_int_equal(fdio_read_file(&text, &len, path, 100000, &e), 0);
	assert_int_equal(len, 100000);
	assert_int_equal(strlen(text), 100000);
	dynbuf_wipe_free(text, len);
	/* One byte over the cap. */
	assert_int_equal(fdio_read_file(&text, &len, path, 99999, &e), APPDB_EIO);
	assert_null(text);
	assert_non_null(strstr(e.msg, "larger than 99999 bytes"));
	err_clear(&e);
	assert_int_equal(fdio_read_file(&text, NULL, "/nonexistent/x", 10, &e), APPDB_EIO);
	assert_non_null(strstr(e.msg, "could not open /nonexistent/x"));
	assert_int_equal(fdio_write_all(-1, "x", 1), -1);
}

static void test_failing_allocator(void **state)
{
	long n;

	(void)state;
	write_n(20000);
	for (n = 1; n < 100; n++) {
		struct err e = {0};
		char *text = NULL;
		size_t len = 0;
		int rc;

		failalloc_arm(n);
		rc = fdio_read_file(&text, &len, path, 1 << 20, &e);
		failalloc_arm(0);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			assert_int_equal(len, 20000);
			dynbuf_wipe_free(text, len);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
		assert_null(text);
	}
	assert_true(n > 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_back),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("fdio", tests, setup, teardown);
}
