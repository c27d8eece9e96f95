/*
 * engine_access.c - the step for DESIGN section 11.3 between observing and
 * planning: memberships outside the resource, VALID UNTIL, settings,
 * rds_iam and extensions are observed, and what the instance cannot do
 * (rds_iam off RDS, a role or an extension it does not have) stops the run
 * before any change, with a reason naming the field.
 */
#include "engine_int.h"

#include <stdio.h>

int step_observe_access(struct rec *r)
{
	struct err err = {0};
	char msg[512];
	int rc;

	rc = pg_observe_access(&r->obs, r->admin, &r->desired, &err);
	if (rc == 0 && r->target != NULL && r->obs.target_observed)
		rc = pg_observe_extensions(&r->obs, r->target, &r->desired, &err);
	if (rc == APPDB_ENOMEM)
		return rc;
	if (rc != 0)
		return rc == APPDB_ETRANSIENT
		           ? rec_unreachable(r, rc, &err)
		           : rec_outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s",
		                         err.msg);
	if (r->mode != ENGINE_DISABLE &&
	    plan_access_problem(msg, sizeof(msg), &r->desired, &r->obs))
		return rec_outcome(r, RESULT_BLOCKED, REASON_INVALID_SPEC, "%s", msg);
	return 0;
}
