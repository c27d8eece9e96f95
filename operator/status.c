/*
 * status.c - status patches, the comparison that skips an unchanged one,
 * and the write with its conflict retry.
 */
#include "status.h"

#include "conditions.h"

#include <string.h>

/* A paused run changes only Reconciling (False, Paused); everything else stays. */
static json_t *paused_patch(const struct run_result *r, long long generation, json_t *prev)
{
	struct cond_outcome o = {0};
	json_t *conds = NULL;

	o.message = r->message;
	o.observed_generation = generation;
	o.now = r->finished_at;
	if (conditions_paused(&conds, prev, &o) != 0)
		return NULL;
	return json_pack("{s:{s:o}}", "status", "conditions", conds);
}

/* 1 when prev already says Reconciling=False with reason Paused for this generation. */
static int paused_current(long long generation, const struct store_status *prev)
{
	json_t *c = conditions_find(prev->conditions, COND_RECONCILING);
	const char *st = json_string_value(json_object_get(c, "status"));
	const char *reason = json_string_value(json_object_get(c, "reason"));
	json_t *gen = json_object_get(c, "observedGeneration");

	return st != NULL && strcmp(st, "False") == 0 && reason != NULL &&
	       strcmp(reason, REASON_PAUSED) == 0 && json_integer_value(gen) == generation;
}

/* The patch of a run that ran (every field of the status). */
static json_t *run_patch(const struct run_result *r, long long generation, json_t *prev_conditions)
{
	struct cond_outcome o = {0};
	json_t *conds = NULL, *users = json_array(), *actions = json_array(), *status, *last;
	size_t i;

	conditions_outcome_for(&o, r->ready, r->reason);
	o.message = r->message;
	o.observed_generation = generation;
	o.now = r->finished_at;
	if (conditions_compute(&conds, prev_conditions, &o) != 0)
		conds = json_array();
	for (i = 0; i < r->n_users; i++) {
		json_t *u = json_pack("{s:s, s:s}", "name", r->users[i].name, "access",
		                      access_name(r->users[i].access));

		/* Inside an array a null is a value, not a deletion: leave it out. */
		if (u != NULL && r->users[i].password_version != NULL)
			json_object_set_new(u, "passwordVersion",
			                    json_string(r->users[i].password_version));
		json_array_append_new(users, u);
	}
	for (i = 0; i < r->n_actions; i++)
		json_array_append_new(actions, json_string(r->actions[i]));
	last = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s?, s:O}", "runId", r->run_id, "buildId",
	                 r->build_id, "startedAt", r->started_at, "finishedAt", r->finished_at,
	                 "result", run_result_name(r->result), "reason", r->reason, "actions",
	                 actions);
	status = json_pack("{s:I, s:o, s:s?, s:o, s:o}", "observedGeneration",
	                   (json_int_t)generation, "conditions", conds, "database", r->database,
	                   "users", users, "lastRun", last);
	if (r->reason != NULL && strcmp(r->reason, REASON_AWAITING_APPROVAL) == 0)
		json_object_set(status, "pendingActions", actions);
	else
		json_object_set_new(status, "pendingActions", json_null());
	json_decref(actions);
	return json_pack("{s:o}", "status", status);
}

json_t *status_patch(const struct run_result *r, long long generation, json_t *prev_conditions)
{
	return r->paused ? paused_patch(r, generation, prev_conditions)
	                 : run_patch(r, generation, prev_conditions);
}

int status_current(const struct run_result *r, long long generation,
                   const struct store_status *prev)
{
	if (r->paused)
		return paused_current(generation, prev);
	return r->result == RESULT_UNCHANGED && prev->observed_generation == generation &&
	       status_ready(prev) && !prev->pending_actions;
}

int status_ready(const struct store_status *prev)
{
	json_t *ready = conditions_find(prev->conditions, COND_READY);
	const char *st = json_string_value(json_object_get(ready, "status"));

	return st != NULL && strcmp(st, "True") == 0;
}

void status_write(struct ctl *c, struct kube_client *kc, const struct log_ctx *log, const char *key,
                  const struct appdb *db, const struct store_status *prev,
                  const struct run_result *r)
{
	struct store_status fresh_st = {0};
	json_t *conds = prev->conditions;
	json_t *patch = NULL, *fresh = NULL;
	struct err err = {0};
	int rc = APPDB_ECONFLICT, tries;

	if (status_current(r, db->generation, prev))
		return;
	for (tries = 0; rc == APPDB_ECONFLICT && tries < STATUS_CONFLICT_RETRIES; tries++) {
		json_decref(patch);
		patch = status_patch(r, db->generation, conds);
		err_clear(&err);
		rc = kube_patch_appdb_status(NULL, kc, db->ns, db->name, patch, &err);
		if (rc == APPDB_ECONFLICT) {
			/* Retry on a fresh read of the object. */
			json_decref(fresh);
			fresh = NULL;
			if (kube_get_appdb(&fresh, kc, db->ns, db->name, &err) == 0) {
				store_status_clear(&fresh_st);
				store_status_from_json(&fresh_st, json_object_get(fresh, "status"));
				conds = fresh_st.conditions;
			}
		}
	}
	if (rc == APPDB_ENOTFOUND) {
		log_info(log, "%s is gone; its status is not written", key);
	} else if (rc == APPDB_EINVAL) {
		log_error(log, "the API refused the status of %s: %s", key, err.msg);
	} else if (rc != 0) {
		log_warn(log, "could not write the status of %s (%s); kept to send later", key,
		         err.msg);
		if (rc == APPDB_ETRANSIENT || rc == APPDB_ETHROTTLED || rc == APPDB_EUNAUTHORIZED)
			ctl_set_api_up(c, rc == APPDB_ETHROTTLED, log);
		store_keep(c->store, log, key, STORE_STATUS, patch);
	}
	json_decref(patch);
	json_decref(fresh);
	store_status_clear(&fresh_st);
}
