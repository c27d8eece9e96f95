/*
 * conditions.c - Ready/Reconciling/Stalled from a run's outcome.
 */
#include "conditions.h"
#include "engine.h"
#include "err.h"

#include <string.h>

static const char *const stalling_reasons[] = {
    REASON_INVALID_SPEC,          REASON_SECRET_MISSING,   REASON_AWAITING_APPROVAL,
    REASON_PROVISIONING_DISABLED, REASON_OWNER_MISMATCH,   REASON_ROLE_NOT_MANAGED,
    REASON_ROLE_CLAIMED,          REASON_INSTANCE_UNKNOWN, REASON_INSTANCE_NOT_ALLOWED,
};

int conditions_reason_stalls(const char *reason)
{
	size_t i;

	if (reason == NULL)
		return 0;
	for (i = 0; i < sizeof(stalling_reasons) / sizeof(stalling_reasons[0]); i++)
		if (strcmp(reason, stalling_reasons[i]) == 0)
			return 1;
	return 0;
}

void conditions_outcome_for(struct cond_outcome *o, int ready, const char *reason)
{
	o->ready = ready;
	o->stalled = 0;
	o->reconciling = 0;
	if (ready) {
		o->reason = REASON_PROVISIONED;
		return;
	}
	o->reason = reason != NULL && strcmp(reason, REASON_PROVISIONED) != 0
	                ? reason
	                : REASON_PROVISIONING_FAILED;
	if (conditions_reason_stalls(o->reason))
		o->stalled = 1;
	else
		o->reconciling = 1;
}

json_t *conditions_find(json_t *conds, const char *type)
{
	size_t i;
	json_t *c;

	if (!json_is_array(conds))
		return NULL;
	json_array_foreach (conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t != NULL && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

/* Length of msg cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *msg, size_t max)
{
	size_t n = strlen(msg);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* One condition object, keeping lastTransitionTime when the status is unchanged. */
static json_t *make_condition(json_t *prev, const char *type, int status,
                              const struct cond_outcome *o)
{
	const char *st = status ? "True" : "False";
	const char *msg = o->message != NULL ? o->message : "";
	json_t *old = conditions_find(prev, type);
	const char *old_status = json_string_value(json_object_get(old, "status"));
	const char *old_ltt = json_string_value(json_object_get(old, "lastTransitionTime"));
	const char *ltt = o->now;
	json_t *c = NULL;

	if (old_status != NULL && strcmp(old_status, st) == 0 && old_ltt != NULL &&
	    old_ltt[0] != '\0')
		ltt = old_ltt;
	c = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s%}", "type", type, "status", st,
	              "observedGeneration", (json_int_t)o->observed_generation,
	              "lastTransitionTime", ltt, "reason", o->reason, "message", msg,
	              utf8_cut(msg, COND_MESSAGE_MAX));
	return c;
}

int conditions_compute(json_t **out, json_t *prev, const struct cond_outcome *o)
{
	json_t *arr = json_array();
	json_t *c;
	size_t i;
	int rc = APPDB_ENOMEM;

	*out = NULL;
	if (arr == NULL)
		goto out;
	if (json_array_append_new(arr, make_condition(prev, COND_READY, o->ready, o)) != 0 ||
	    json_array_append_new(
	        arr, make_condition(prev, COND_RECONCILING, !o->ready && o->reconciling, o)) != 0 ||
	    json_array_append_new(
	        arr, make_condition(prev, COND_STALLED, !o->ready && o->stalled, o)) != 0)
		goto out;
	if (json_is_array(prev)) {
		json_array_foreach (prev, i, c) {
			const char *t = json_string_value(json_object_get(c, "type"));

			if (t == NULL || strcmp(t, COND_READY) == 0 ||
			    strcmp(t, COND_RECONCILING) == 0 || strcmp(t, COND_STALLED) == 0)
				continue;
			if (json_array_append(arr, c) != 0)
				goto out;
		}
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

int conditions_paused(json_t **out, json_t *prev, const struct cond_outcome *o)
{
	struct cond_outcome paused = *o;
	json_t *arr = json_array(), *rec = NULL, *c;
	size_t i;
	int rc = APPDB_ENOMEM, placed = 0;

	*out = NULL;
	paused.reason = REASON_PAUSED;
	if (arr == NULL || (rec = make_condition(prev, COND_RECONCILING, 0, &paused)) == NULL)
		goto out;
	if (json_is_array(prev)) {
		json_array_foreach (prev, i, c) {
			const char *t = json_string_value(json_object_get(c, "type"));
			int ours = t != NULL && strcmp(t, COND_RECONCILING) == 0;

			if (ours && placed)
				continue;
			if (json_array_append(arr, ours ? rec : c) != 0)
				goto out;
			placed |= ours;
		}
	}
	if (!placed && json_array_append(arr, rec) != 0)
		goto out;
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	json_decref(rec);
	json_decref(arr);
	return rc;
}
