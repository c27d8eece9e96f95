/*
 * test_execplugin.c - the credential plugin runner: output, exit status,
 * a plugin that hangs (with stdout open, closed, or held by a child of its
 * own), one that floods stdout, the environment, and the failing allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "dynbuf.h"
#include "err.h"
#include "execplugin.h"
#include "failalloc.h"

#include <string.h>

static char *no_env[] = {"PATH=/usr/bin:/bin", NULL};

/* Runs sh -c script with the given timeout and cap; the seconds it took in *took. */
static int run_sh(char **out, size_t *len, const char *script, double timeout, size_t max,
                  struct err *e, double *took)
{
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	struct execplugin_opts o = {"sh", argv, no_env, timeout, max};
	double start = clock_mono();
	int rc;

	memset(e, 0, sizeof(*e));
	rc = execplugin_run(out, len, &o, e);
	if (took != NULL)
		*took = clock_mono() - start;
	return rc;
}

static void test_output_and_status(void **state)
{
	struct err e;
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(run_sh(&out, &len, "printf '{\"a\":1}'", 5, 1024, &e, NULL), 0);
	assert_string_equal(out, "{\"a\":1}");
	assert_int_equal(len, 7);
	dynbuf_wipe_free(out, len);
	/* No output is an empty string. */
	assert_int_equal(run_sh(&out, &len, "cat", 5, 1024, &e, NULL), 0); /* stdin: /dev/null */
	assert_string_equal(out, "");
	dynbuf_wipe_free(out, len);
	assert_int_equal(run_sh(&out, &len, "printf tok; exit 3", 5, 1024, &e, NULL),
	                 APPDB_EUNAUTHORIZED);
	assert_null(out);
	assert_non_null(strstr(e.msg, "exited with status 3"));
	assert_null(strstr(e.msg, "tok"));
	assert_int_equal(run_sh(&out, &len, "kill -9 $$", 5, 1024, &e, NULL), APPDB_EUNAUTHORIZED);
	assert_non_null(strstr(e.msg, "exited with status -1"));
}

static void test_not_found(void **state)
{
	char *argv[] = {"/nonexistent/plugin", NULL};
	struct execplugin_opts o = {"/nonexistent/plugin", argv, no_env, 5, 1024};
	struct err e = {0};
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(execplugin_run(&out, &len, &o, &e), APPDB_EUNAUTHORIZED);
	assert_non_null(strstr(e.msg, "could not run it"));
	assert_null(out);
}

static void test_environment(void **state)
{
	char *argv[] = {"sh", "-c", "printf %s \"$PLUGIN_VAR\"", NULL};
	char *env[] = {"PATH=/usr/bin:/bin", "PLUGIN_VAR=from-env", NULL};
	struct execplugin_opts o = {"sh", argv, env, 5, 1024};
	struct err e = {0};
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(execplugin_run(&out, &len, &o, &e), 0);
	assert_string_equal(out, "from-env");
	dynbuf_wipe_free(out, len);
}

static void test_hanging_plugins_time_out(void **state)
{
	const char *scripts[] = {
	    "sleep 30",                 /* stdout open, nothing written */
	    "printf partial; sleep 30", /* some output, then nothing */
	    "exec >&-; sleep 30",       /* stdout closed, still running */
	    "sleep 30 & printf x",      /* exits; a child keeps stdout open */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		struct err e;
		char *out = NULL;
		size_t len = 0;
		double took;

		assert_int_equal(run_sh(&out, &len, scripts[i], 0.5, 1024, &e, &took),
		                 APPDB_EUNAUTHORIZED);
		assert_null(out);
		assert_non_null(strstr(e.msg, "timed out after 0.5 s"));
		assert_true(took >= 0.45);
		assert_true(took < 3.0);
	}
}

static void test_flood_is_cut(void **state)
{
	char *argv[] = {"yes", "token-token-token", NULL};
	struct execplugin_opts o = {"yes", argv, no_env, 10, 65536};
	struct err e = {0};
	char *out = NULL;
	size_t len = 0;
	double start = clock_mono();

	(void)state;
	assert_int_equal(execplugin_run(&out, &len, &o, &e), APPDB_EUNAUTHORIZED);
	assert_null(out);
	assert_non_null(strstr(e.msg, "output larger than 65536 bytes"));
	assert_null(strstr(e.msg, "token-token"));
	assert_true(clock_mono() - start < 5.0);
	/* Exactly at the cap is fine. */
	assert_int_equal(
	    run_sh(&out, &len, "head -c 65536 /dev/zero | tr '\\0' a", 10, 65536, &e, NULL), 0);
	assert_int_equal(len, 65536);
	dynbuf_wipe_free(out, len);
}

static void test_failing_allocator(void **state)
{
	long n;

	(void)state;
	for (n = 1; n < 100; n++) {
		struct err e;
		char *out = NULL;
		size_t len = 0;
		int rc;

		failalloc_arm(n);
		rc = run_sh(&out, &len, "printf hello", 5, 1024, &e, NULL);
		failalloc_arm(0);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			assert_string_equal(out, "hello");
			dynbuf_wipe_free(out, len);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
		assert_null(out);
	}
	assert_true(n > 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_output_and_status),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_environment),
	    cmocka_unit_test(test_hanging_plugins_time_out),
	    cmocka_unit_test(test_flood_is_cut),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("execplugin", tests, NULL, NULL);
}
