/*
 * engine_adopt.c - adoption (DESIGN 11.2): with spec.adopt, which of the
 * roles made by hand the resource may take over, and the users without
 * passwordFrom, whose existing password is kept.
 */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

/* A user without passwordFrom keeps the password its role has: the role must exist. */
static int check_kept_passwords(struct rec *r)
{
	size_t i;

	for (i = 0; i < r->db->n_users; i++) {
		const struct appdb_user *u = &r->db->users[i];

		if (u->password_from.kind == SECRET_NONE && observed_role(&r->obs, u->name) == NULL)
			return rec_outcome(
			    r, RESULT_BLOCKED, REASON_SECRET_MISSING,
			    "spec.users[%zu].passwordFrom: role %s does not exist, so "
			    "there is no password to keep; a new user needs passwordFrom",
			    i, u->name);
	}
	return 0;
}

/*
 * Every role of the spec that exists without any marker is adopted only
 * when it is confined to what the resource manages: the guardrails have
 * already refused those marked for another resource.
 */
int step_adopt(struct rec *r)
{
	const char **names = NULL;
	struct err err = {0};
	char *why = NULL;
	size_t i, n = 0;
	int rc = 0;

	if (!r->db->adopt || r->mode == ENGINE_DISABLE)
		return 0;
	if ((rc = check_kept_passwords(r)) != 0)
		return rc;
	if (r->obs.db_exists && plan_marker_match(r->obs.db_comment, &r->desired, NULL) == 3)
		return rec_outcome(r, RESULT_BLOCKED, REASON_ROLE_CLAIMED,
		                   "database %s belongs to another AppDatabase", r->db->db_name);
	names = calloc(r->db->n_users + 1, sizeof(*names));
	if (names == NULL)
		return APPDB_ENOMEM;
	names[n++] = r->db->owner;
	for (i = 0; i < r->db->n_users; i++)
		names[n++] = r->db->users[i].name;
	for (i = 0; i < n && rc == 0; i++) {
		const struct obs_role *role = observed_role(&r->obs, names[i]);

		if (role == NULL || plan_marker_match(role->comment, &r->desired, NULL) != 0)
			continue;
		rc = pg_adopt_check(&why, r->admin, names[i], r->db->db_name, names, n,
		                    r->obs.admin, &err);
		if (rc == APPDB_ETRANSIENT) {
			rec_drop_admin(r);
			rc = rec_unreachable(r, rc, &err);
		} else if (rc != 0 && rc != APPDB_ENOMEM) {
			rc = rec_outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s",
			                 err.msg);
		} else if (why != NULL) {
			rc = rec_outcome(r, RESULT_BLOCKED, REASON_ROLE_NOT_MANAGED,
			                 "role %s is not adopted: %s", names[i], why);
		}
		free(why);
		why = NULL;
	}
	free(names);
	return rc;
}
