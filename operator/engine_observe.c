/*
 * engine_observe.c - the steps between the lock and the plan's execution: observe the
 * instance and the database, the guardrails, stale memberships, passwords,
 * the plan itself and its preflight.
 */
#include "engine_int.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills the desired state from the spec and the secrets' versions. */
static int build_desired(struct rec *r)
{
	const struct appdb *db = r->db;
	size_t i;

	snprintf(r->resource, sizeof(r->resource), "%s/%s", db->ns, db->name);
	r->dusers = calloc(2 * db->n_users + 1, sizeof(*r->dusers)); /* room for clones */
	if (r->dusers == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < db->n_users; i++) {
		r->dusers[i].name = db->users[i].name;
		r->dusers[i].access = db->users[i].access;
		r->dusers[i].conn_limit = db->users[i].connection_limit;
		r->dusers[i].password_version = r->user_pw[i].version;
		r->dusers[i].more = &db->users[i].more;
	}
	r->desired.extensions = db->extensions;
	r->desired.n_extensions = db->n_extensions;
	r->desired.allowed_roles = (const char *const *)r->inst->allowed_roles;
	r->desired.n_allowed_roles = r->inst->n_allowed_roles;
	if (rec_alternating_desired(r) != 0)
		return APPDB_ENOMEM;
	r->desired.resource = r->resource;
	r->desired.uid = db->uid;
	r->desired.db_name = db->db_name;
	r->desired.owner = db->owner;
	r->desired.schemas = (const char *const *)db->schemas;
	r->desired.n_schemas = db->n_schemas;
	r->desired.users = r->dusers;
	r->desired.n_users = r->mode == ENGINE_DISABLE ? 0 : db->n_users + r->n_clones;
	r->desired.now = r->out->started_at;
	r->desired.disabling = r->mode == ENGINE_DISABLE;
	r->desired.adopt = db->adopt;
	return 0;
}

/* 1 when name is the owner or a user of the spec. */
static int in_spec(const struct appdb *db, const char *name)
{
	size_t i;

	if (strcmp(name, db->owner) == 0)
		return 1;
	for (i = 0; i < db->n_users; i++)
		if (strcmp(name, db->users[i].name) == 0)
			return 1;
	return 0;
}

/* The roles marked for this resource that the spec no longer names. */
static int find_retired(struct rec *r)
{
	size_t i;

	r->retired = calloc(r->obs.n_roles + 1, sizeof(*r->retired));
	if (r->retired == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < r->obs.n_roles; i++) {
		const struct obs_role *role = &r->obs.roles[i];
		int m = plan_marker_match(role->comment, &r->desired, NULL);

		if ((m == 1 || m == 2) && strcmp(role->name, r->db->owner) != 0 &&
		    (r->mode == ENGINE_DISABLE ||
		     (!in_spec(r->db, role->name) && !rec_is_clone(r, role->name))))
			r->retired[r->desired.n_retired++] = role->name;
	}
	r->desired.retired = r->retired;
	return 0;
}

int step_observe(struct rec *r)
{
	struct err err = {0};
	int rc;

	if ((rc = build_desired(r)) != 0)
		return rc;
	rc = pg_observe_admin(&r->obs, r->admin, &r->desired, &err);
	if (rc != 0) {
		if (rc == APPDB_ETRANSIENT)
			rec_drop_admin(r);
		return rc == APPDB_ETRANSIENT
		           ? rec_unreachable(r, rc, &err)
		           : rec_outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s",
		                         err.msg);
	}
	return find_retired(r);
}

/* Refuses what the platform does not own (DESIGN section 4, step 7). */
int step_guardrails(struct rec *r)
{
	const struct obs_role *role;
	size_t i;

	if (r->obs.db_exists && strcmp(r->obs.db_owner, r->db->owner) != 0)
		return rec_outcome(r, RESULT_BLOCKED, REASON_OWNER_MISMATCH,
		                   "database %s exists and is owned by %s, not %s", r->db->db_name,
		                   r->obs.db_owner, r->db->owner);
	for (i = 0; i <= r->db->n_users; i++) {
		const char *name = i == r->db->n_users ? r->db->owner : r->db->users[i].name;
		int m;

		role = observed_role(&r->obs, name);
		if (role == NULL)
			continue;
		m = plan_marker_match(role->comment, &r->desired, NULL);
		if (m == 0 && !r->db->adopt) /* with adopt, step_adopt decides */
			return rec_outcome(r, RESULT_BLOCKED, REASON_ROLE_NOT_MANAGED,
			                   "role %s exists and is not managed by appdb-operator",
			                   name);
		if (m == 3)
			return rec_outcome(r, RESULT_BLOCKED, REASON_ROLE_CLAIMED,
			                   "role %s belongs to another AppDatabase", name);
	}
	return rec_alternating_guardrails(r);
}

/*
 * Memberships of the admin in roles another resource's run took and never
 * gave back (that run died): revoked when no run holds memberships now,
 * which the exclusive memberships lock proves; otherwise left for a later
 * run. Those in this resource's own roles are the plan's to give back.
 */
int step_stale_memberships(struct rec *r)
{
	struct sql_quote q;
	struct err err = {0};
	char *sql = NULL;
	size_t i, n = 0;
	int got = 0, rc = 0;

	if (r->mode == ENGINE_PLAN)
		return 0;
	for (i = 0; i < r->obs.n_roles; i++) {
		const struct obs_role *role = &r->obs.roles[i];

		n += role->admin_member && plan_marker_match(role->comment, &r->desired, NULL) == 3;
	}
	if (n == 0)
		return 0;
	if (pg_memberships_try_exclusive(r->admin, &got, &err) != 0 || !got) {
		log_info(&r->log, "%zu membership(s) of the admin left by another run: %s", n,
		         got ? err.msg : "a run holds memberships now; later");
		return 0;
	}
	/* Each give-back is a change this run records (intent first, then its audit). */
	r->cleanups = calloc(n, sizeof(*r->cleanups));
	for (i = 0; r->cleanups != NULL && i < r->obs.n_roles; i++) {
		const struct obs_role *role = &r->obs.roles[i];

		if (!role->admin_member || plan_marker_match(role->comment, &r->desired, NULL) != 3)
			continue;
		if (asprintf(&r->cleanups[r->n_cleanups].text,
		             "revoke %s from %s (left by an interrupted run)", role->name,
		             r->obs.admin) < 0) {
			r->cleanups[r->n_cleanups].text = NULL;
			rc = APPDB_ENOMEM;
			break;
		}
		r->n_cleanups++;
	}
	if (r->cleanups == NULL)
		rc = APPDB_ENOMEM;
	if (rc == 0)
		rec_write_intent(r);
	q = pg_quoter(r->admin);
	for (i = 0, n = 0; i < r->obs.n_roles && rc == 0; i++) {
		const struct obs_role *role = &r->obs.roles[i];

		if (!role->admin_member || plan_marker_match(role->comment, &r->desired, NULL) != 3)
			continue;
		if ((rc = sql_admin_revoke(&sql, role->name, r->obs.admin, &q)) != 0)
			break;
		rc = rec_run_sql(r, r->admin, sql, &err);
		free(sql);
		sql = NULL;
		if (rc == 0) {
			r->cleanups[n].done = 1;
			log_info(&r->log, "%s", r->cleanups[n].text);
		}
		n++;
	}
	pg_memberships_release_exclusive(r->admin, NULL);
	if (rc == APPDB_ENOMEM)
		return rc;
	if (rc != 0)
		log_warn(&r->log, "could not give back a membership left by another run: %s",
		         err.msg);
	return 0;
}

/* Observes inside the application database when it exists. */
int step_observe_database(struct rec *r)
{
	struct err err = {0};
	int rc;

	if (!r->obs.db_exists || !r->obs.db_allow_connections ||
	    !(observed_has(&r->obs, "db:CONNECT:%s", r->obs.admin) ||
	      observed_has(&r->obs, "db:CONNECT:PUBLIC")))
		return 0; /* not open to the admin yet (an interrupted first run) */
	rc = rec_connect_admin(r, &r->target, r->db->db_name, &err);
	if (rc == APPDB_EFORBIDDEN || rc == APPDB_ENOTFOUND) {
		/* Closed since the observation: plan everything there. */
		log_info(&r->log, "cannot observe inside database %s yet: %s", r->db->db_name,
		         err.msg);
		return 0;
	}
	if (rc != 0)
		return rec_unreachable(r, rc, &err);
	rc = pg_observe_target(&r->obs, r->target, &r->desired, &err);
	r->out->target_checked = rc == 0;
	if (rc != 0)
		return rc == APPDB_ETRANSIENT
		           ? rec_unreachable(r, rc, &err)
		           : rec_outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s",
		                         err.msg);
	return 0;
}

/*
 * Decides which existing users need their password set: when the source has
 * a version, a different version than the role records; without one, when a
 * login probe with the password fails.
 */
int step_passwords(struct rec *r)
{
	size_t i;

	for (i = 0; r->mode != ENGINE_DISABLE && i < r->db->n_users; i++) {
		struct desired_user *u = &r->dusers[i];
		const struct obs_role *role = observed_role(&r->obs, u->name);
		struct pg_params p = {0};
		struct err err = {0};
		int ok = 0;

		if (r->db->users[i].rotation == ROTATION_ALTERNATING) {
			rec_alternating_passwords(r, i);
			continue;
		}
		if (role == NULL || r->db->users[i].password_from.kind == SECRET_NONE)
			continue; /* created with its password, kept (adopt), or none (iamAuth) */
		if (u->password_version != NULL) {
			json_t *c = json_loads(role->comment, 0, NULL);
			const char *pv = json_string_value(json_object_get(c, "passwordVersion"));

			u->set_password = pv == NULL || strcmp(pv, u->password_version) != 0;
			json_decref(c);
			continue;
		}
		p.host = r->inst->host;
		p.port = r->inst->port;
		p.dbname = r->obs.db_exists ? r->db->db_name : r->inst->admin_database;
		p.user = u->name;
		p.password = r->user_pw[i].value;
		p.sslmode = r->inst->ssl_mode;
		p.sslrootcert = r->inst->ssl_root_cert;
		p.application_name = r->app_name;
		p.statement_timeout = r->inst->statement_timeout_seconds;
		p.lock_timeout = r->eng->cfg->lock_timeout_seconds;
		if (pg_probe_login(&ok, &p, &err) != 0) {
			log_warn(&r->log, "could not check the password of %s: %s", u->name,
			         err.msg);
			continue;
		}
		u->set_password = !ok;
	}
	return 0;
}

int step_plan(struct rec *r)
{
	return plan_build(&r->plan, &r->desired, &r->obs);
}

/* Before the first change: does the admin have what the plan needs? */
int step_preflight(struct rec *r)
{
	size_t i;
	int roles = 0, passwords = 0, database = 0;

	if (r->plan.n == 0 || r->awaiting || r->mode == ENGINE_PLAN)
		return 0;
	for (i = 0; i < r->plan.n; i++) {
		enum action_kind k = r->plan.items[i].kind;

		roles |= k == ACT_CREATE_ROLE || k == ACT_ALTER_ROLE || k == ACT_GRANT_ROLE ||
		         k == ACT_REVOKE_ROLE || k == ACT_SET_PASSWORD;
		passwords |=
		    k == ACT_SET_PASSWORD || (k == ACT_CREATE_ROLE && r->plan.items[i].login == 1);
		database |= k == ACT_CREATE_DATABASE;
	}
	roles |= r->plan.n_admin_roles > 0;
	for (i = 0; i < r->plan.n; i++) {
		const char *trigger = observed_rest(&r->obs, "evtrigger:");

		if (r->plan.items[i].target_db && trigger != NULL)
			return rec_outcome(
			    r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
			    "database %s has an event trigger whose function a "
			    "non-superuser can change (name:owner %s); the operator runs "
			    "no statement there that would fire it",
			    r->db->db_name, trigger);
	}
	if (roles && !r->obs.admin_createrole)
		return rec_outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
		                   "the admin role %s lacks CREATEROLE, which managing roles needs",
		                   r->obs.admin);
	if (database && !r->obs.admin_createdb)
		return rec_outcome(
		    r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
		    "the admin role %s lacks CREATEDB, which creating database %s needs",
		    r->obs.admin, r->db->db_name);
	if (passwords && r->obs.restrict_password && !r->obs.admin_rds_password)
		return rec_outcome(
		    r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
		    "rds.restrict_password_commands is on and the admin role %s is not "
		    "a member of rds_password",
		    r->obs.admin);
	return 0;
}

/* Runs one statement; test builds honour the kill failpoint of the crash tests. */
