/*
 * test_audit.c - the audit trail's intents: a run that dies after writing
 * its intent leaves its records for the next process, once; a live run's
 * intent is left alone; a finished run removes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audit.h"
#include "err.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/audittest.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The records of audit.jsonl with runId run (how many). */
static int records_of(const char *run)
{
	char path[128], line[4096], needle[96];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	snprintf(needle, sizeof(needle), "\"runId\":\"%s\"", run);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* How many intent files are left. */
static int intents(void)
{
	char path[128];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/audit-intent", dir);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The records a run names in its intent: the database's and one user's. */
static json_t *records(const char *run, const char *what)
{
	return json_pack("[{s:s, s:s, s:s, s:n, s:[s], s:s}, {s:s, s:s, s:s, s:s, s:[s], s:s}]",
	                 "runId", run, "resource", "team/orders", "database", "orders", "user",
	                 "actions", what, "result", "Failed", "runId", run, "resource",
	                 "team/orders", "database", "orders", "user", "orders_app", "actions",
	                 "create role orders_app", "result", "Failed");
}

/* A process that writes an intent (two lines, the second fuller) and dies, or ends the run. */
static void run_in_child(const char *run, int finish, int cut_last_line)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct audit *a = NULL;
		struct audit_intent *in = NULL;
		struct err e = {0};
		json_t *r1 = records(run, "revoke orders_owner from admin"),
		       *r2 = records(run, "create database orders");

		if (audit_open(&a, dir, 0, &e) != 0 ||
		    audit_intent_write(&in, a, run, r1, &e) != 0 ||
		    audit_intent_write(&in, a, run, r2, &e) != 0)
			_exit(1);
		if (cut_last_line) {
			/* Killed while appending a third line: half of it is there. */
			char path[160];
			FILE *f;

			snprintf(path, sizeof(path), "%s/audit-intent/%s.jsonl", dir, run);
			if ((f = fopen(path, "a")) == NULL)
				_exit(1);
			fputs("[{\"runId\":\"", f);
			fclose(f);
		}
		if (finish) {
			json_t *rec;
			size_t i;

			/* finish 2: killed between the database's record and the user's. */
			json_array_foreach (r2, i, rec) {
				if (finish == 2 && i == 1)
					_exit(0);
				audit_write(a, rec, &e);
			}
			audit_intent_done(in);
			audit_close(a);
		}
		_exit(0); /* without audit_intent_done: as after a SIGKILL, the lock goes */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_cut_run_completed_once(void **state)
{
	struct audit *a = NULL;
	struct err e = {0};

	(void)state;
	run_in_child("run1", 0, 1);
	assert_int_equal(records_of("run1"), 0);
	assert_int_equal(intents(), 1);
	/* The next process writes the fuller intent's records, once. */
	assert_int_equal(audit_open(&a, dir, 0, &e), 0);
	assert_int_equal(records_of("run1"), 2);
	assert_int_equal(intents(), 0);
	assert_int_equal(audit_complete_interrupted(a), 0);
	audit_close(a);
	assert_int_equal(audit_open(&a, dir, 0, &e), 0);
	assert_int_equal(records_of("run1"), 2);
	audit_close(a);
}

static void test_finished_run_leaves_nothing(void **state)
{
	struct audit *a = NULL;
	struct err e = {0};

	(void)state;
	run_in_child("run2", 1, 0);
	assert_int_equal(records_of("run2"), 2);
	assert_int_equal(intents(), 0);
	assert_int_equal(audit_open(&a, dir, 0, &e), 0);
	assert_int_equal(records_of("run2"), 2);
	audit_close(a);
}

/* Killed while writing its own records: the next process writes only the missing ones. */
static void test_cut_between_own_records(void **state)
{
	struct audit *a = NULL;
	struct err e = {0};
	char path[128], line[4096];
	int failed = 0;
	FILE *f;

	(void)state;
	run_in_child("run4", 2, 0);
	assert_int_equal(records_of("run4"), 1);
	assert_int_equal(audit_open(&a, dir, 0, &e), 0);
	audit_close(a);
	assert_int_equal(records_of("run4"), 2);
	assert_int_equal(intents(), 0);
	/* The database's record is the run's own; the user's comes from the intent. */
	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		failed += strstr(line, "\"runId\":\"run4\"") != NULL &&
		          strstr(line, "\"user\":\"orders_app\"") != NULL;
	fclose(f);
	assert_int_equal(failed, 1);
}

static void test_live_run_left_alone(void **state)
{
	struct audit *a = NULL, *b = NULL;
	struct audit_intent *in = NULL;
	struct err e = {0};
	json_t *r = records("run3", "create database orders");

	(void)state;
	assert_int_equal(audit_open(&a, dir, 0, &e), 0);
	assert_int_equal(audit_intent_write(&in, a, "run3", r, &e), 0);
	/* Another process on the same cache dir: the run is alive (its file locked). */
	if (fork() == 0) {
		if (audit_open(&b, dir, 0, &e) != 0)
			_exit(1);
		_exit(audit_complete_interrupted(b) == 0 && records_of("run3") == 0 ? 0 : 2);
	} else {
		int status = 0;

		wait(&status);
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(intents(), 1);
	audit_intent_done(in);
	assert_int_equal(intents(), 0);
	/* A run id unfit for a file name is refused. */
	in = NULL;
	assert_int_equal(audit_intent_write(&in, a, "../x", r, &e), APPDB_EINVAL);
	assert_null(in);
	audit_close(a);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cut_run_completed_once),
	    cmocka_unit_test(test_finished_run_leaves_nothing),
	    cmocka_unit_test(test_cut_between_own_records),
	    cmocka_unit_test(test_live_run_left_alone),
	};

	return cmocka_run_group_tests_name("audit", tests, setup, teardown);
}
