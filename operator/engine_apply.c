/*
 * engine_apply.c - executes the plan, statement by statement on the right connection,
 * and gives the admin's temporary memberships back.
 */
#include "engine_int.h"

#include "log.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

int rec_run_sql(struct rec *r, PGconn *conn, const char *sql, struct err *err)
{
	int rc = pg_exec(conn, sql, err);

#ifdef APPDB_FAILPOINTS
	if (rc == 0 && r->eng->kill_after > 0 && ++r->eng->statements >= r->eng->kill_after)
		raise(SIGKILL);
#endif
	return rc;
}

/* The password of the spec user (or alternating clone) named name, or NULL. */
static const char *password_of(struct rec *r, const char *name)
{
	return rec_password_of(r, name);
}

/* Executes one action on the right connection. */
static int apply_action(struct rec *r, const struct action *a, int *granted, int *skipped,
                        struct err *err)
{
	struct sql_quote q;
	char *verifier = NULL, *sql = NULL, *tmp = NULL;
	PGconn *conn = r->admin;
	size_t i;
	int rc = 0, applied = 1;

	if ((a->db != NULL || a->target_db) && !*granted) {
		/*
		 * Take the memberships the database work needs, for this run only,
		 * under the shared memberships lock so that no other run takes
		 * them away meanwhile (step_stale_memberships).
		 */
		if ((rc = pg_memberships_share(r->admin, err)) != 0)
			return rc;
		*granted = 1;
		q = pg_quoter(r->admin);
		for (i = 0; i < r->plan.n_admin_roles && rc == 0; i++) {
			rc = sql_admin_grant(&tmp, r->plan.admin_roles[i], r->obs.admin,
			                     r->obs.server_version, &q);
			if (rc == 0)
				rc = rec_run_sql(r, r->admin, tmp, err);
			free(tmp);
			tmp = NULL;
		}
		if (rc != 0)
			return rc;
	}
	if (a->target_db) {
		if (r->target == NULL &&
		    (rc = rec_connect_admin(r, &r->target, r->db->db_name, err)) != 0)
			return rc;
		conn = r->target;
	}
	if (a->kind == ACT_SET_PASSWORD ||
	    (a->kind == ACT_CREATE_ROLE && a->login == 1 && !a->no_password)) {
		const char *pw = password_of(r, a->role);

		if (pw == NULL)
			return err_set(err, APPDB_EINTERNAL, "no password for %s", a->role);
		if ((rc = pg_verifier(&verifier, r->admin, a->role, pw, err)) != 0)
			return rc;
	}
	q = pg_quoter(conn);
	rc = sql_render(&sql, a, r->obs.server_version, verifier, &q);
	if (rc != 0)
		err_set(err, rc, "could not render the statement");
	else if (!a->may_not_apply)
		rc = rec_run_sql(r, conn, sql, err);
	else if ((rc = pg_acts_as_schema_owner(conn, a->schema, &applied, err)) == 0) {
		/*
		 * A new database before 15: its public belongs to whoever owns
		 * template1's. A statement that could not take effect is not run
		 * (the server would only warn); one that ran may still say so.
		 */
		if (applied)
			rc = pg_exec_applied(conn, sql, &applied, err);
		if (rc == 0 && !applied) {
			*skipped = 1;
			if (a->warning != NULL)
				rc = plan_warn(&r->plan, a->warning);
		}
	}
	rec_free_secret_str(verifier);
	rec_free_secret_str(sql);
	return rc;
}

/* Gives back every membership the admin took or an earlier run left. */
static int give_back_memberships(struct rec *r, int granted, struct err *err)
{
	struct sql_quote q = pg_quoter(r->admin);
	char *sql = NULL;
	size_t i;
	int rc = 0, first = 0;

	for (i = 0; granted && i < r->plan.n_admin_roles; i++) {
		if (sql_admin_revoke(&sql, r->plan.admin_roles[i], r->obs.admin, &q) != 0)
			return APPDB_ENOMEM;
		rc = rec_run_sql(r, r->admin, sql, err);
		first = first != 0 ? first : rc;
		free(sql);
	}
	if (granted && first == 0)
		first = pg_memberships_unshare(r->admin, err);
	for (i = 0; i < r->plan.n; i++) {
		struct action *a = &r->plan.items[i];
		size_t j;
		int done = 0;

		if (a->kind != ACT_DROP_ADMIN_MEMBERSHIP)
			continue;
		for (j = 0; granted && j < r->plan.n_admin_roles; j++)
			done |= strcmp(r->plan.admin_roles[j], a->role) == 0;
		a->done = done;
		if (done)
			continue;
		if (sql_admin_revoke(&sql, a->role, r->obs.admin, &q) != 0)
			return APPDB_ENOMEM;
		rc = rec_run_sql(r, r->admin, sql, err);
		a->done = rc == 0;
		first = first != 0 ? first : rc;
		free(sql);
	}
	return first;
}

int step_apply(struct rec *r)
{
	struct err err = {0};
	size_t i;
	int granted = 0, skipped, rc = 0, rc2;

	if (!rec_applies(r) && rec_take_actions(r) != 0)
		return APPDB_ENOMEM;
	if (r->awaiting)
		return rec_outcome(
		    r, RESULT_BLOCKED, REASON_AWAITING_APPROVAL,
		    "generation %lld needs approval: set the annotations %s=%lld and %s",
		    r->db->generation, ANNOTATION_APPROVED_GENERATION, r->db->generation,
		    ANNOTATION_APPROVED_BY);
	if (r->plan.n == 0 || r->mode == ENGINE_PLAN)
		return 0;
	rec_write_intent(r);
	for (i = 0; i < r->plan.n && rc == 0; i++) {
		struct action *a = &r->plan.items[i];

		if (a->kind == ACT_DROP_ADMIN_MEMBERSHIP)
			continue;
		skipped = 0;
		rc = apply_action(r, a, &granted, &skipped, &err);
		if (rc != 0) {
			err_wrap(&err, rc, "%s", a->text);
		} else if (!skipped) {
			a->done = 1;
			log_info(&r->log, "%s", a->text);
		}
	}
	rc2 = give_back_memberships(r, granted, rc == 0 ? &err : NULL);
	if (rc == 0)
		rc = rc2;
	if (rc == APPDB_ENOMEM || rec_take_actions(r) != 0)
		return APPDB_ENOMEM;
	if (rc != 0) {
		if (rc == APPDB_ETRANSIENT)
			rec_drop_admin(r);
		/* A timeout (a tenant holding a lock) is retried like any failure. */
		return rec_outcome(r, RESULT_FAILED,
		                   rc == APPDB_ETRANSIENT ? REASON_DB_UNREACHABLE
		                                          : REASON_PROVISIONING_FAILED,
		                   "%s%s", err.msg, rc == APPDB_ETIMEOUT ? " (will retry)" : "");
	}
	return 0;
}
