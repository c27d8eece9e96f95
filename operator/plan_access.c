/*
 * plan_access.c - the plan's part for DESIGN section 11.3: database and
 * schema privileges beyond the access levels, memberOf and rds_iam,
 * VALID UNTIL, per-database settings and extensions. Whatever the spec no
 * longer names is revoked or reset, never dropped.
 */
#include "plan_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RDS_IAM "rds_iam"

int plan_user_in_schema(const struct desired_user *u, const char *schema)
{
	size_t i;

	if (u->more == NULL || u->more->schemas == NULL)
		return 1;
	for (i = 0; i < u->more->n_schemas; i++)
		if (strcmp(u->more->schemas[i], schema) == 0)
			return 1;
	return 0;
}

unsigned plan_user_extra(const struct desired_user *u, enum priv_target target)
{
	return u != NULL && u->more != NULL ? u->more->privileges[target] : 0;
}

/* Joins the names of target whose bit is in mask, skipping skip's bits. */
static void priv_list(char *out, size_t len, enum priv_target target, unsigned mask)
{
	const char *const *names = access_privileges(target);
	size_t i;

	out[0] = '\0';
	for (i = 0; names[i] != NULL; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (out[0] != '\0')
			strncat(out, ", ", len - strlen(out) - 1);
		strncat(out, names[i], len - strlen(out) - 1);
	}
}

/* The bit of name among target's privileges. */
static unsigned priv_bit(enum priv_target target, const char *name)
{
	const char *const *names = access_privileges(target);
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return 1u << i;
	return 0;
}

/* 1 when role is one u should be a member of: memberOf, or rds_iam with iamAuth. */
static int wants_role(const struct desired_user *u, const char *role)
{
	size_t i;

	if (u == NULL || u->more == NULL)
		return 0;
	if (u->more->iam_auth && strcmp(role, RDS_IAM) == 0)
		return 1;
	for (i = 0; i < u->more->n_member_of; i++)
		if (strcmp(u->more->member_of[i], role) == 0)
			return 1;
	return 0;
}

static void grant_role(struct builder *b, enum action_kind kind, const char *role, const char *user)
{
	struct action *a;

	if (kind == ACT_GRANT_ROLE)
		a = builder_add(b, kind, user, "grant %s to %s", role, user);
	else
		a = builder_add(b, kind, user, "revoke %s from %s", role, user);
	if (a == NULL)
		return;
	builder_set(b, &a->role, role);
	builder_set(b, &a->other, user);
}

/*
 * Memberships outside the resource for one login role (u NULL: retired):
 * those the spec names are granted; those in allowedRoles or rds_iam the
 * spec no longer names are revoked. Others (granted by a person) are left.
 */
static void plan_memberships(struct builder *b, const struct desired *d, const struct observed *o,
                             const char *name, const struct desired_user *u)
{
	size_t i;

	if (u != NULL && u->more != NULL) {
		for (i = 0; i < u->more->n_member_of; i++)
			if (!observed_has(o, "member:%s:%s", u->more->member_of[i], name))
				grant_role(b, ACT_GRANT_ROLE, u->more->member_of[i], name);
		if (u->more->iam_auth && !observed_has(o, "member:%s:%s", RDS_IAM, name))
			grant_role(b, ACT_GRANT_ROLE, RDS_IAM, name);
	}
	for (i = 0; i < d->n_allowed_roles; i++) {
		const char *role = d->allowed_roles[i];

		if (!wants_role(u, role) && observed_has(o, "member:%s:%s", role, name))
			grant_role(b, ACT_REVOKE_ROLE, role, name);
	}
	if (!wants_role(u, RDS_IAM) && observed_has(o, "member:%s:%s", RDS_IAM, name))
		grant_role(b, ACT_REVOKE_ROLE, RDS_IAM, name);
}

/* VALID UNTIL: the spec's time, or infinity once the field is gone. */
static void plan_valid_until(struct builder *b, const struct observed *o,
                             const struct desired_user *u)
{
	char prefix[160], want[32];
	const char *seen;
	struct action *a;

	snprintf(prefix, sizeof(prefix), "validuntil:%s:", u->name);
	seen = observed_rest(o, prefix);
	if (u->more != NULL && u->more->valid_until != NULL) {
		snprintf(want, sizeof(want), "%lld", u->more->valid_until_epoch);
		if (seen != NULL && strcmp(seen, want) == 0)
			return;
		a = builder_add(b, ACT_VALID_UNTIL, u->name, "alter role %s valid until %s",
		                u->name, u->more->valid_until);
		if (a != NULL) {
			builder_set(b, &a->role, u->name);
			builder_set(b, &a->comment, u->more->valid_until);
		}
		return;
	}
	if (seen == NULL || strcmp(seen, "infinity") == 0)
		return;
	a = builder_add(b, ACT_VALID_UNTIL, u->name, "alter role %s valid until infinity", u->name);
	if (a != NULL) {
		builder_set(b, &a->role, u->name);
		builder_set(b, &a->comment, "infinity");
	}
}

/* s without double quotes and spaces (search_path as PostgreSQL stores it). */
static void unquoted(char *out, size_t len, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < len; s++)
		if (*s != '"' && *s != ' ')
			out[n++] = *s;
	out[n] = '\0';
}

/* 1 when the stored value of setting name equals the spec's. */
static int setting_equal(const char *name, const char *seen, const char *want)
{
	char a[1024], b[1024];

	if (strcmp(name, "search_path") != 0)
		return strcmp(seen, want) == 0;
	unquoted(a, sizeof(a), seen);
	unquoted(b, sizeof(b), want);
	return strcmp(a, b) == 0;
}

/* ALTER ROLE ... IN DATABASE ... SET / RESET for the keys the spec may name. */
static void plan_settings(struct builder *b, const struct desired *d, const struct observed *o,
                          const struct desired_user *u)
{
	const char *const *k;
	struct action *a;
	char prefix[200];
	size_t i;

	for (k = ACCESS_SETTING_KEYS; *k != NULL; k++) {
		const char *want = NULL, *seen;

		for (i = 0; u->more != NULL && i < u->more->n_settings; i++)
			if (strcmp(u->more->settings[i].name, *k) == 0)
				want = u->more->settings[i].value;
		snprintf(prefix, sizeof(prefix), "setting:%s:%s=", u->name, *k);
		seen = observed_rest(o, prefix);
		if (want != NULL && (seen == NULL || !setting_equal(*k, seen, want))) {
			a = builder_add(b, ACT_SET_SETTING, u->name,
			                "alter role %s in database %s set %s", u->name, d->db_name,
			                *k);
			if (a != NULL) {
				builder_set(b, &a->role, u->name);
				builder_set(b, &a->db, d->db_name);
				builder_set(b, &a->other, *k);
				builder_set(b, &a->comment, want);
			}
		} else if (want == NULL && seen != NULL) {
			a = builder_add(b, ACT_RESET_SETTING, u->name,
			                "alter role %s in database %s reset %s", u->name,
			                d->db_name, *k);
			if (a != NULL) {
				builder_set(b, &a->role, u->name);
				builder_set(b, &a->db, d->db_name);
				builder_set(b, &a->other, *k);
			}
		}
	}
}

void plan_access_roles(struct builder *b, const struct desired *d, const struct observed *o)
{
	size_t i;

	for (i = 0; i < d->n_users; i++) {
		const struct desired_user *u = &d->users[i];

		plan_memberships(b, d, o, u->name, u);
		plan_valid_until(b, o, u);
	}
	for (i = 0; i < d->n_retired; i++)
		plan_memberships(b, d, o, d->retired[i], NULL);
}

/* TEMPORARY and CREATE on the database for one login role (want: the bits). */
static void plan_db_privs(struct builder *b, const struct desired *d, const struct observed *o,
                          const char *name, unsigned want)
{
	static const char *const managed[] = {"TEMPORARY", "CREATE", NULL};
	unsigned missing = 0, excess = 0;
	char privs[64];
	struct action *a;
	size_t i;

	for (i = 0; managed[i] != NULL; i++) {
		unsigned bit = priv_bit(PRIV_DATABASE, managed[i]);
		int has = o->db_exists && observed_has(o, "db:%s:%s", managed[i], name);

		if ((want & bit) && !has)
			missing |= bit;
		else if (!(want & bit) && has)
			excess |= bit;
	}
	if (missing != 0) {
		priv_list(privs, sizeof(privs), PRIV_DATABASE, missing);
		a = builder_add(b, ACT_GRANT_DB_PRIVS, name, "grant %s on database %s to %s", privs,
		                d->db_name, name);
		if (a != NULL) {
			builder_set(b, &a->db, d->db_name);
			builder_set(b, &a->privs, privs);
			builder_set(b, &a->other, name);
		}
	}
	if (excess != 0) {
		priv_list(privs, sizeof(privs), PRIV_DATABASE, excess);
		a = builder_add(b, ACT_REVOKE_DB_PRIVS, name, "revoke %s on database %s from %s",
		                privs, d->db_name, name);
		if (a != NULL) {
			builder_set(b, &a->db, d->db_name);
			builder_set(b, &a->privs, privs);
			builder_set(b, &a->other, name);
		}
	}
}

void plan_access_database(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct action *a;
	size_t i;

	/* TEMPORARY is granted by privileges.database only, so PUBLIC's goes. */
	if (!o->db_exists || observed_has(o, "db:TEMPORARY:PUBLIC")) {
		a = builder_add(b, ACT_REVOKE_DB_PRIVS, NULL,
		                "revoke temporary on database %s from public", d->db_name);
		if (a != NULL) {
			builder_set(b, &a->db, d->db_name);
			builder_set(b, &a->privs, "TEMPORARY");
		}
	}
	for (i = 0; i < d->n_users; i++) {
		const struct desired_user *u = &d->users[i];

		plan_db_privs(b, d, o, u->name, plan_user_extra(u, PRIV_DATABASE));
		plan_settings(b, d, o, u);
	}
	for (i = 0; i < d->n_retired; i++)
		plan_db_privs(b, d, o, d->retired[i], 0);
}

/* CREATE on schema for one login role; want 1 to have it. */
static void plan_schema_create(struct builder *b, const struct observed *o, const char *schema,
                               const char *name, int want)
{
	int has = observed_has(o, "schemapriv:%s:CREATE:%s", schema, name);
	struct action *a;

	if (want == has)
		return;
	if (want)
		a = builder_add(b, ACT_GRANT_SCHEMA_PRIVS, name, "grant create on schema %s to %s",
		                schema, name);
	else
		a = builder_add(b, ACT_REVOKE_SCHEMA_PRIVS, name,
		                "revoke create on schema %s from %s", schema, name);
	if (a == NULL)
		return;
	a->target_db = 1;
	builder_set(b, &a->schema, schema);
	builder_set(b, &a->privs, "CREATE");
	builder_set(b, &a->other, name);
}

void plan_access_schema(struct builder *b, const struct desired *d, const struct observed *o,
                        const char *schema)
{
	unsigned create = priv_bit(PRIV_SCHEMA, "CREATE");
	size_t i;

	for (i = 0; i < d->n_users; i++) {
		const struct desired_user *u = &d->users[i];

		if (u->access == ACCESS_OWNER)
			continue; /* the owner membership covers CREATE */
		plan_schema_create(b, o, schema, u->name,
		                   plan_user_in_schema(u, schema) &&
		                       (plan_user_extra(u, PRIV_SCHEMA) & create) != 0);
	}
	for (i = 0; i < d->n_retired; i++)
		plan_schema_create(b, o, schema, d->retired[i], 0);
}

void plan_access_extensions(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct action *a;
	size_t i;

	for (i = 0; i < d->n_extensions; i++) {
		const struct appdb_extension *e = &d->extensions[i];

		if (o->target_observed && observed_has(o, "ext:%s", e->name))
			continue;
		a = builder_add(b, ACT_CREATE_EXTENSION, NULL, "create extension %s%s%s", e->name,
		                e->schema != NULL ? " in schema " : "",
		                e->schema != NULL ? e->schema : "");
		if (a == NULL)
			return;
		a->target_db = 1;
		builder_set(b, &a->other, e->name);
		builder_set(b, &a->schema, e->schema);
		builder_set(b, &a->role, d->owner);
	}
}

void plan_access_disabling(struct builder *b, const struct desired *d, const struct observed *o)
{
	size_t i;

	for (i = 0; i < d->n_retired; i++) {
		plan_memberships(b, d, o, d->retired[i], NULL);
		if (o->db_exists)
			plan_db_privs(b, d, o, d->retired[i], 0);
	}
}

/* 1 when the admin must not become a member of role: it holds rds_iam. */
static int holds_iam(const struct desired *d, const struct observed *o, const char *role)
{
	size_t i;

	if (observed_has(o, "iamheld:%s", role) || strcmp(role, RDS_IAM) == 0)
		return 1;
	for (i = 0; i < d->n_users; i++)
		if (strcmp(d->users[i].name, role) == 0)
			return wants_role(&d->users[i], RDS_IAM);
	return 0;
}

void plan_access_admin_roles(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct plan *p = b->p;
	size_t i, n = 0;

	if (b->rc != 0)
		return;
	for (i = 0; i < p->n_admin_roles; i++) {
		if (!holds_iam(d, o, p->admin_roles[i])) {
			p->admin_roles[n++] = p->admin_roles[i];
			continue;
		}
		builder_warn(b,
		             "role %s holds rds_iam: the admin does not become a member of it, so "
		             "grants on objects it owns are not managed",
		             p->admin_roles[i]);
		free(p->admin_roles[i]);
	}
	p->n_admin_roles = n;
}

int plan_access_problem(char *buf, size_t len, const struct desired *d, const struct observed *o)
{
	size_t i, j;

	for (i = 0; i < d->n_users; i++) {
		const struct user_access *m = d->users[i].more;

		if (m == NULL)
			continue;
		if (m->iam_auth && !observed_has(o, "role:%s", RDS_IAM)) {
			snprintf(buf, len,
			         "spec.users[%zu].iamAuth: role rds_iam does not exist on this "
			         "instance (RDS IAM logins need Amazon RDS)",
			         i);
			return 1;
		}
		for (j = 0; j < m->n_member_of; j++) {
			if (observed_has(o, "role:%s", m->member_of[j]))
				continue;
			snprintf(buf, len,
			         "spec.users[%zu].memberOf[%zu]: role %s does not exist on this "
			         "instance (PostgreSQL %d)",
			         i, j, m->member_of[j], o->server_version / 10000);
			return 1;
		}
	}
	for (i = 0; o->server_version < 140000 && i < d->n_users; i++) {
		const struct user_access *m = d->users[i].more;

		for (j = 0; m != NULL && j < m->n_settings; j++) {
			if (strcmp(m->settings[j].name, "idle_session_timeout") != 0)
				continue;
			snprintf(buf, len,
			         "spec.users[%zu].settings.idle_session_timeout: PostgreSQL %d has "
			         "no such setting (it comes with 14)",
			         i, o->server_version / 10000);
			return 1;
		}
	}
	for (i = 0; i < d->n_extensions; i++) {
		if (observed_has(o, "extavail:%s", d->extensions[i].name) ||
		    observed_has(o, "ext:%s", d->extensions[i].name))
			continue;
		snprintf(buf, len,
		         "spec.database.extensions[%zu].name: extension %s is not available on "
		         "this instance (pg_available_extensions)",
		         i, d->extensions[i].name);
		return 1;
	}
	return 0;
}
