/*
 * test_report.c - the governance report's computation: a trail with every
 * kind of record (tests/unit/data/report-trail.jsonl) into its figures,
 * percentiles by nearest rank, since, Markdown escaping, and the failing
 * allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "err.h"
#include "failalloc.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRAIL "tests/unit/data/report-trail.jsonl"

/* Adds every line of TRAIL to r; returns how many were counted. */
static int add_trail(struct report *r)
{
	FILE *f = fopen(TRAIL, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int counted = 0, rc;

	assert_non_null(f);
	while ((n = getline(&line, &cap, f)) >= 0) {
		rc = report_add_line(r, line, (size_t)n);
		if (rc == APPDB_ENOMEM) {
			counted = -1;
			break;
		}
		counted += rc == 0;
	}
	free(line);
	fclose(f);
	return counted;
}

static json_t *field(json_t *fig, const char *path)
{
	char buf[128], *save = NULL, *part;
	json_t *v = fig;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(part))
		                     : json_object_get(v, part);
	return v;
}

static long long num(json_t *fig, const char *path)
{
	json_t *v = field(fig, path);

	assert_true(json_is_integer(v));
	return (long long)json_integer_value(v);
}

static const char *str(json_t *fig, const char *path)
{
	json_t *v = field(fig, path);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void test_figures(void **state)
{
	struct report *r = NULL;
	json_t *fig = NULL;

	(void)state;
	assert_int_equal(report_new(&r, -1), 0);
	assert_int_equal(add_trail(r), 12);
	assert_int_equal(report_json(&fig, r), 0);
	/* One record without user per run; the junk line and the plan record are skipped. */
	assert_int_equal(num(fig, "records"), 12);
	assert_int_equal(num(fig, "skipped"), 2);
	assert_int_equal(num(fig, "runs"), 10);
	assert_int_equal(num(fig, "changes"), 4);
	assert_string_equal(str(fig, "from"), "2026-12-01T10:00:00Z");
	assert_string_equal(str(fig, "to"), "2026-12-01T13:00:00Z");
	assert_true(json_is_null(field(fig, "since")));
	/* Sorted by environment, then instance. */
	assert_string_equal(str(fig, "byInstance.0.environment"), "dev");
	assert_int_equal(num(fig, "byInstance.0.runs"), 6);
	assert_int_equal(num(fig, "byInstance.0.changed"), 2);
	assert_int_equal(num(fig, "byInstance.0.blocked"), 1);
	assert_int_equal(num(fig, "byInstance.0.failed"), 1);
	assert_int_equal(num(fig, "byInstance.0.invalid"), 1);
	assert_int_equal(num(fig, "byInstance.0.deleted"), 1);
	assert_int_equal(num(fig, "byInstance.0.approvals"), 0);
	assert_int_equal(num(fig, "byInstance.0.actions"), 3);
	assert_string_equal(str(fig, "byInstance.1.instance"), "orders-rds");
	assert_int_equal(num(fig, "byInstance.1.runs"), 4);
	/* The drift repair of the same generation is not a second approval. */
	assert_int_equal(num(fig, "byInstance.1.approvals"), 1);
	assert_int_equal(num(fig, "approvals"), 1);
	/* Actions of the database record and of the user records. */
	assert_int_equal(num(fig, "byInstance.1.actions"), 4);
	assert_string_equal(str(fig, "byOutcome.0.result"), "Blocked");
	assert_string_equal(str(fig, "byOutcome.0.reason"), "AwaitingApproval");
	assert_int_equal(num(fig, "byOutcome.0.runs"), 2);
	assert_int_equal(json_array_size(field(fig, "byOutcome")), 6);
	/* The change whose build id is the operator's own is not traceable. */
	assert_int_equal(num(fig, "traceability.changes"), 4);
	assert_int_equal(num(fig, "traceability.withBuildId"), 3);
	assert_float_equal(json_real_value(field(fig, "traceability.share")), 0.75, 1e-9);
	assert_string_equal(str(fig, "builds.0.buildId"), "ci-1");
	assert_int_equal(num(fig, "builds.0.changes"), 3);
	assert_string_equal(str(fig, "builds.1.buildId"), "");
	/* Time to Ready: 302 s (awaiting approval), 2 s, 60 s; two generations not ready. */
	assert_int_equal(num(fig, "timeToReady.generations"), 5);
	assert_int_equal(num(fig, "timeToReady.ready"), 3);
	assert_int_equal(num(fig, "timeToReady.notReady"), 2);
	assert_float_equal(json_real_value(field(fig, "timeToReady.p50")), 60, 1e-9);
	assert_float_equal(json_real_value(field(fig, "timeToReady.p95")), 302, 1e-9);
	assert_float_equal(json_real_value(field(fig, "timeToReady.max")), 302, 1e-9);
	assert_int_equal(json_array_size(field(fig, "timeToReady.histogram")), 9);
	assert_int_equal(num(fig, "timeToReady.histogram.1.count"), 1); /* <= 5 s */
	assert_int_equal(num(fig, "timeToReady.histogram.3.count"), 1); /* <= 1 min */
	assert_int_equal(num(fig, "timeToReady.histogram.5.count"), 1); /* <= 30 min */
	assert_true(json_is_null(field(fig, "timeToReady.histogram.8.le")));
	/* Every prod change with its approver. */
	assert_int_equal(json_array_size(field(fig, "prodChanges")), 2);
	assert_string_equal(str(fig, "prodChanges.0.approvedBy"), "jane");
	assert_string_equal(str(fig, "prodChanges.0.runId"), "r2");
	assert_int_equal(num(fig, "prodChanges.0.generation"), 1);
	json_decref(fig);
	report_free(r);
}

static void test_since(void **state)
{
	struct report *r = NULL;
	json_t *fig = NULL;

	(void)state;
	assert_int_equal(report_new(&r, clock_parse("2026-12-01T11:05:00Z")), 0);
	assert_int_equal(add_trail(r), 7);
	assert_int_equal(report_json(&fig, r), 0);
	assert_string_equal(str(fig, "since"), "2026-12-01T11:05:00Z");
	assert_int_equal(num(fig, "skipped"), 2);
	assert_int_equal(num(fig, "earlier"), 5);
	assert_int_equal(num(fig, "runs"), 7);
	/* The drift repair at 12:00 is not a first Ready: its generation began earlier. */
	assert_int_equal(num(fig, "timeToReady.generations"), 3);
	assert_int_equal(num(fig, "timeToReady.ready"), 1);
	assert_float_equal(json_real_value(field(fig, "timeToReady.p50")), 60, 1e-9);
	assert_int_equal(json_array_size(field(fig, "prodChanges")), 1);
	json_decref(fig);
	report_free(r);
}

static void test_empty_and_malformed(void **state)
{
	static const char *const bad[] = {
	    "{\"event\":\"audit\",\"ts\":\"2026-12-01T10:00:00Z\",\"resource\":\"a/b\"}",
	    "{\"event\":\"audit\",\"ts\":\"yesterday\",\"resource\":\"a/"
	    "b\",\"result\":\"Changed\"}",
	    "{\"event\":\"audit\",\"ts\":\"2026-12-01T10:00:00Z\",\"resource\":7,\"result\":\"X\"}",
	    "{\"event\":\"audit\",\"ts\":\"2026-12-01T10:00:00Z\",\"resource\":\"a/b\","
	    "\"result\":\"Changed\",\"user\":[]}",
	    "{\"ts\":\"2026-12-01T10:00:00Z\",\"ts\":\"2026-12-01T10:00:00Z\"}",
	    "[]",
	    "\"audit\"",
	};
	struct report *r = NULL;
	json_t *fig = NULL;
	char *md = NULL;
	size_t i;

	(void)state;
	assert_int_equal(report_new(&r, -1), 0);
	assert_int_equal(report_add_line(r, "\n", 1), 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(report_add_line(r, bad[i], strlen(bad[i])), 1);
	assert_int_equal(report_json(&fig, r), 0);
	assert_int_equal(num(fig, "records"), 0);
	assert_int_equal(num(fig, "skipped"), (long long)(sizeof(bad) / sizeof(bad[0])));
	assert_true(json_is_null(field(fig, "traceability.share")));
	assert_true(json_is_null(field(fig, "timeToReady.p50")));
	assert_int_equal(report_markdown(&md, fig), 0);
	assert_non_null(strstr(md, "No changes in this period."));
	assert_non_null(strstr(md, "p50 -, p95 -, max -"));
	free(md);
	json_decref(fig);
	report_free(r);
}

/* Text from the trail cannot break the table or forge a line. */
static void test_markdown_escapes(void **state)
{
	static const char line[] =
	    "{\"event\":\"audit\",\"ts\":\"2026-12-01T10:00:00Z\",\"environment\":\"prod\","
	    "\"instance\":\"i|x\",\"resource\":\"ns/a|b\",\"generation\":1,\"result\":\"Changed\","
	    "\"reason\":\"Provisioned\",\"buildId\":\"b\\n# "
	    "forged\",\"approvedBy\":\"<b>*j*</b>\"}";
	struct report *r = NULL;
	json_t *fig = NULL;
	char *md = NULL;

	(void)state;
	assert_int_equal(report_new(&r, -1), 0);
	assert_int_equal(report_add_line(r, line, strlen(line)), 0);
	assert_int_equal(report_json(&fig, r), 0);
	assert_int_equal(report_markdown(&md, fig), 0);
	assert_non_null(strstr(md, "| prod | i\\|x |"));
	assert_non_null(strstr(md, "ns/a\\|b"));
	assert_non_null(strstr(md, "\\<b>\\*j\\*\\</b>"));
	assert_null(strstr(md, "\n# forged"));
	assert_non_null(strstr(md, "b\\x0a# forged"));
	assert_int_equal(report_add_line(r, "x", 1), 1);
	assert_non_null(strstr(md, "1 of 1 changes carry the build id"));
	free(md);
	json_decref(fig);
	report_free(r);
}

static void test_percentile(void **state)
{
	const double one[] = {7}, ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

	(void)state;
	assert_float_equal(report_percentile(one, 1, 0.5), 7, 0);
	assert_float_equal(report_percentile(one, 1, 0.95), 7, 0);
	assert_float_equal(report_percentile(ten, 10, 0.5), 5, 0);
	assert_float_equal(report_percentile(ten, 10, 0.95), 10, 0);
	assert_float_equal(report_percentile(ten, 10, 0.9), 9, 0);
	assert_float_equal(report_percentile(ten, 10, 0.01), 1, 0);
	assert_float_equal(report_percentile(ten, 10, 1), 10, 0);
}

/* TRAIL's lines parsed (a new array; a line that is not JSON as null). */
static json_t *trail_records(void)
{
	FILE *f = fopen(TRAIL, "r");
	json_t *arr = json_array();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	assert_non_null(f);
	while ((n = getline(&line, &cap, f)) >= 0)
		if (n > 1)
			json_array_append_new(arr, json_loadb(line, (size_t)n, 0, NULL));
	free(line);
	fclose(f);
	return arr;
}

/* The Markdown of the records; the caller frees it. */
static char *trail_markdown(json_t *recs, int *rc)
{
	struct report *r = NULL;
	json_t *fig = NULL, *rec;
	char *md = NULL;
	size_t i;

	*rc = report_new(&r, -1);
	json_array_foreach (recs, i, rec) {
		if (*rc == 0 && report_add_record(r, json_is_null(rec) ? NULL : rec) < 0)
			*rc = APPDB_ENOMEM;
	}
	if (*rc == 0)
		*rc = report_json(&fig, r);
	if (*rc == 0)
		*rc = report_markdown(&md, fig);
	json_decref(fig);
	report_free(r);
	return md;
}

/*
 * Every allocation fails once in turn: ENOMEM comes back, nothing leaks or
 * crashes. The lines are parsed before (jansson's parser is not itself
 * safe under a failing allocator); the fuzz target covers report_add_line.
 */
static void test_failing_allocator(void **state)
{
	json_t *recs = trail_records();
	char *want, *md;
	long n;
	int rc;

	(void)state;
	want = trail_markdown(recs, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(want, "10 run(s), 4 change(s), 1 approval(s)"));
	for (n = 1; n < 100000; n++) {
		failalloc_arm(n);
		md = trail_markdown(recs, &rc);
		failalloc_arm(0);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			assert_string_equal(md, want);
			free(md);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
		assert_null(md);
	}
	assert_true(n > 50);
	free(want);
	json_decref(recs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_figures),
	    cmocka_unit_test(test_since),
	    cmocka_unit_test(test_empty_and_malformed),
	    cmocka_unit_test(test_markdown_escapes),
	    cmocka_unit_test(test_percentile),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
