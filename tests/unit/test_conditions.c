/*
 * test_conditions.c - kstatus conditions from run outcomes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "conditions.h"
#include "engine.h"
#include "err.h"
#include "failalloc.h"

#include <stdlib.h>
#include <string.h>

/* status of type in conds, or "" */
static const char *cstatus(json_t *conds, const char *type)
{
	const char *s = json_string_value(json_object_get(conditions_find(conds, type), "status"));

	return s != NULL ? s : "";
}

static const char *cfield(json_t *conds, const char *type, const char *field)
{
	const char *s = json_string_value(json_object_get(conditions_find(conds, type), field));

	return s != NULL ? s : "";
}

static json_t *run(json_t *prev, int ready, const char *reason, const char *now, long long gen)
{
	struct cond_outcome o = {0};
	json_t *out = NULL;

	conditions_outcome_for(&o, ready, reason);
	o.message = "some message";
	o.observed_generation = gen;
	o.now = now;
	assert_int_equal(conditions_compute(&out, prev, &o), 0);
	assert_non_null(out);
	return out;
}

static void test_success(void **state)
{
	json_t *c = run(NULL, 1, REASON_PROVISIONED, "2026-01-01T00:00:00Z", 3);

	assert_int_equal(json_array_size(c), 3);
	assert_string_equal(cstatus(c, "Ready"), "True");
	assert_string_equal(cfield(c, "Ready", "reason"), "Provisioned");
	assert_string_equal(cstatus(c, "Reconciling"), "False");
	assert_string_equal(cstatus(c, "Stalled"), "False");
	assert_int_equal(
	    json_integer_value(json_object_get(conditions_find(c, "Ready"), "observedGeneration")),
	    3);
	assert_string_equal(cfield(c, "Ready", "lastTransitionTime"), "2026-01-01T00:00:00Z");
	json_decref(c);
}

static void test_stalling_reasons(void **state)
{
	const char *reasons[] = {"InvalidSpec",          "SecretMissing",   "AwaitingApproval",
	                         "ProvisioningDisabled", "OwnerMismatch",   "RoleNotManaged",
	                         "RoleClaimedByOther",   "InstanceUnknown", "InstanceNotAllowed"};
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		json_t *c = run(NULL, 0, reasons[i], "2026-01-01T00:00:00Z", 1);

		assert_true(conditions_reason_stalls(reasons[i]));
		assert_string_equal(cstatus(c, "Stalled"), "True");
		assert_string_equal(cstatus(c, "Reconciling"), "False");
		assert_string_equal(cstatus(c, "Ready"), "False");
		assert_string_equal(cfield(c, "Ready", "reason"), reasons[i]);
		assert_string_equal(cfield(c, "Stalled", "reason"), reasons[i]);
		json_decref(c);
	}
}

static void test_retry_reasons(void **state)
{
	const char *reasons[] = {"DatabaseUnreachable", "ProvisioningFailed"};
	size_t i;

	for (i = 0; i < 2; i++) {
		json_t *c = run(NULL, 0, reasons[i], "2026-01-01T00:00:00Z", 1);

		assert_false(conditions_reason_stalls(reasons[i]));
		assert_string_equal(cstatus(c, "Reconciling"), "True");
		assert_string_equal(cstatus(c, "Stalled"), "False");
		assert_string_equal(cstatus(c, "Ready"), "False");
		assert_string_equal(cfield(c, "Ready", "reason"), reasons[i]);
		json_decref(c);
	}
}

static void test_transition_time_moves_only_on_flip(void **state)
{
	json_t *c1 = run(NULL, 0, "DatabaseUnreachable", "2026-01-01T00:00:00Z", 1);
	json_t *c2 = run(c1, 0, "ProvisioningFailed", "2026-01-01T00:01:00Z", 1);
	json_t *c3 = run(c2, 1, "Provisioned", "2026-01-01T00:02:00Z", 2);
	json_t *c4 = run(c3, 1, "Provisioned", "2026-01-01T00:03:00Z", 2);

	/* Same statuses: times kept though the reason changed. */
	assert_string_equal(cfield(c2, "Ready", "lastTransitionTime"), "2026-01-01T00:00:00Z");
	assert_string_equal(cfield(c2, "Reconciling", "lastTransitionTime"),
	                    "2026-01-01T00:00:00Z");
	assert_string_equal(cfield(c2, "Ready", "reason"), "ProvisioningFailed");
	/* Ready and Reconciling flip; Stalled stays False. */
	assert_string_equal(cfield(c3, "Ready", "lastTransitionTime"), "2026-01-01T00:02:00Z");
	assert_string_equal(cfield(c3, "Reconciling", "lastTransitionTime"),
	                    "2026-01-01T00:02:00Z");
	assert_string_equal(cfield(c3, "Stalled", "lastTransitionTime"), "2026-01-01T00:00:00Z");
	/* Nothing flips. */
	assert_string_equal(cfield(c4, "Ready", "lastTransitionTime"), "2026-01-01T00:02:00Z");
	assert_int_equal(
	    json_integer_value(json_object_get(conditions_find(c4, "Ready"), "observedGeneration")),
	    2);
	json_decref(c1);
	json_decref(c2);
	json_decref(c3);
	json_decref(c4);
}

static void test_foreign_conditions_kept_and_bad_prev(void **state)
{
	json_t *prev =
	    json_loads("[{\"type\":\"Custom\",\"status\":\"True\"},"
	               "{\"status\":\"True\"}, 7,"
	               "{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":5}]",
	               0, NULL);
	json_t *c = run(prev, 1, "Provisioned", "2026-01-01T00:00:00Z", 1);
	json_t *c2;

	assert_int_equal(json_array_size(c), 4);
	assert_string_equal(cstatus(c, "Custom"), "True");
	/* A non-string lastTransitionTime is replaced. */
	assert_string_equal(cfield(c, "Ready", "lastTransitionTime"), "2026-01-01T00:00:00Z");
	json_decref(prev);
	json_decref(c);
	prev = json_string("not an array");
	c2 = run(prev, 0, NULL, "2026-01-01T00:00:00Z", 1);
	assert_string_equal(cfield(c2, "Ready", "reason"), "ProvisioningFailed");
	assert_string_equal(cstatus(c2, "Reconciling"), "True");
	json_decref(prev);
	json_decref(c2);
}

static void test_long_message_cut_on_utf8_boundary(void **state)
{
	char msg[3000];
	struct cond_outcome o = {0};
	json_t *c = NULL;
	const char *m;
	size_t i;

	for (i = 0; i + 2 < sizeof(msg); i += 2) {
		msg[i] = (char)0xC3;
		msg[i + 1] = (char)0xA9; /* é */
	}
	msg[i] = '\0';
	conditions_outcome_for(&o, 0, "InvalidSpec");
	o.message = msg;
	o.now = "2026-01-01T00:00:00Z";
	assert_int_equal(conditions_compute(&c, NULL, &o), 0);
	assert_non_null(c);
	m = cfield(c, "Ready", "message");
	assert_true(strlen(m) <= COND_MESSAGE_MAX);
	assert_true(strlen(m) % 2 == 0);
	json_decref(c);
}

static void test_failing_allocator(void **state)
{
	json_t *prev = json_loads("[{\"type\":\"Custom\",\"status\":\"True\"},"
	                          "{\"type\":\"Ready\",\"status\":\"False\","
	                          "\"lastTransitionTime\":\"x\"}]",
	                          0, NULL);
	struct cond_outcome o = {0};
	long n;

	conditions_outcome_for(&o, 1, NULL);
	o.now = "2026-01-01T00:00:00Z";
	o.message = "m";
	for (n = 1; n < 10000; n++) {
		json_t *out = NULL;
		int rc;

		failalloc_arm(n);
		rc = conditions_compute(&out, prev, &o);
		failalloc_arm(0);
		json_decref(out);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
		assert_null(out);
	}
	assert_true(n > 5);
	json_decref(prev);
}

/* Paused: Reconciling replaced in place (False, Paused), every other condition kept. */
static void test_paused(void **state)
{
	json_t *prev = json_loads("[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":"
	                          "\"Provisioned\"},{\"type\":\"Reconciling\",\"status\":"
	                          "\"False\",\"reason\":\"Provisioned\",\"lastTransitionTime\":"
	                          "\"old\"},{\"type\":\"Custom\",\"status\":\"True\"}]",
	                          0, NULL);
	struct cond_outcome o = {0};
	json_t *out = NULL, *c;
	long n;

	(void)state;
	o.now = "2026-01-01T00:00:00Z";
	o.message = "paused";
	o.observed_generation = 2;
	assert_int_equal(conditions_paused(&out, prev, &o), 0);
	assert_int_equal(json_array_size(out), 3);
	assert_true(json_equal(json_array_get(out, 0), json_array_get(prev, 0)));
	assert_true(json_equal(json_array_get(out, 2), json_array_get(prev, 2)));
	c = json_array_get(out, 1);
	assert_string_equal(json_string_value(json_object_get(c, "reason")), "Paused");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "False");
	/* Still False: its lastTransitionTime does not move. */
	assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")), "old");
	json_decref(out);
	for (n = 1; n < 10000; n++) {
		int rc;

		out = NULL;
		failalloc_arm(n);
		rc = conditions_paused(&out, prev, &o);
		failalloc_arm(0);
		json_decref(out);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
		assert_null(out);
	}
	assert_true(n > 3);
	json_decref(prev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_success),
	    cmocka_unit_test(test_stalling_reasons),
	    cmocka_unit_test(test_retry_reasons),
	    cmocka_unit_test(test_transition_time_moves_only_on_flip),
	    cmocka_unit_test(test_foreign_conditions_kept_and_bad_prev),
	    cmocka_unit_test(test_long_message_cut_on_utf8_boundary),
	    cmocka_unit_test(test_failing_allocator),
	    cmocka_unit_test(test_paused),
	};
	failalloc_init();
	return cmocka_run_group_tests_name("conditions", tests, NULL, NULL);
}
