/*
 * plan_grants.c - the plan's in-database part: per schema its owner, USAGE
 * and CREATE, the grants on existing tables and sequences and the default
 * privileges for those to come, for current users and retired ones.
 */
#include "plan_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TABLE_PRIVS[] = {"SELECT",   "INSERT",     "UPDATE",  "DELETE",
                                          "TRUNCATE", "REFERENCES", "TRIGGER", NULL};
static const char *const SEQ_PRIVS[] = {"SELECT", "USAGE", "UPDATE", NULL};

/* Joins the privileges of list that want (1) or do not want (0) into out. */
static void privs_where(char *out, size_t len, const char *const *list, const int *flags, int want)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; list[i] != NULL; i++) {
		if (flags[i] != want)
			continue;
		if (out[0] != '\0')
			strncat(out, ", ", len - strlen(out) - 1);
		strncat(out, list[i], len - strlen(out) - 1);
	}
}

/*
 * 1 when privilege p belongs to the access level: SELECT for all, the rest
 * (INSERT UPDATE DELETE on tables, USAGE UPDATE on sequences) for readwrite.
 */
#define LEVEL_NONE (-1) /* a retired user: nothing */

static int wanted(int level, const char *p)
{
	static const char *const rw[] = {"INSERT", "UPDATE", "DELETE", "USAGE", NULL};
	size_t i;

	if (level == LEVEL_NONE)
		return 0;
	if (strcmp(p, "SELECT") == 0)
		return 1;
	for (i = 0; level == ACCESS_READWRITE && rw[i] != NULL; i++)
		if (strcmp(p, rw[i]) == 0)
			return 1;
	return 0;
}

/* 1 when p is among the user's extra privileges (bits over the model's names). */
static int wanted_extra(unsigned extra, char t, const char *p)
{
	const char *const *names = access_privileges(t == 'S' ? PRIV_SEQUENCES : PRIV_TABLES);
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if ((extra & (1u << i)) && strcmp(names[i], p) == 0)
			return 1;
	return 0;
}

/* 1 when role creates the resource's objects: the owner role and owner users. */
static int creator(const struct desired *d, const char *role)
{
	size_t i;

	if (strcmp(role, d->owner) == 0)
		return 1;
	for (i = 0; i < d->n_users; i++)
		if (strcmp(role, d->users[i].name) == 0)
			return d->users[i].access == ACCESS_OWNER;
	return 0;
}

/* The i-th role of the resource: the owner, then the users, then the retired. */
static const char *nth_role(const struct desired *d, size_t i)
{
	if (i == 0)
		return d->owner;
	if (i <= d->n_users)
		return d->users[i - 1].name;
	return d->retired[i - 1 - d->n_users];
}

static const char *objtype_word(char t)
{
	return t == 'S' ? "sequences" : "tables";
}

/*
 * Appends a grant or revoke of privs on schema's objects of type t for user
 * u: on the existing objects (creator NULL) or as creator's default
 * privileges. Nothing when privs is empty.
 */
static void add_privs(struct builder *b, enum action_kind kind, const char *creator,
                      const char *schema, char t, const char *privs, const char *user)
{
	struct action *a;

	if (privs[0] == '\0')
		return;
	switch (kind) {
	case ACT_GRANT_ON_ALL:
		a = builder_add(b, kind, user, "grant %s on all %s in schema %s to %s", privs,
		                objtype_word(t), schema, user);
		break;
	case ACT_REVOKE_ON_ALL:
		a = builder_add(b, kind, user, "revoke %s on all %s in schema %s from %s", privs,
		                objtype_word(t), schema, user);
		break;
	case ACT_DEFAULT_GRANT:
		a = builder_add(
		    b, kind, user,
		    "alter default privileges for role %s in schema %s grant %s on %s to %s",
		    creator, schema, privs, objtype_word(t), user);
		break;
	default:
		a = builder_add(
		    b, kind, user,
		    "alter default privileges for role %s in schema %s revoke %s on %s from %s",
		    creator, schema, privs, objtype_word(t), user);
		break;
	}
	if (a == NULL)
		return;
	a->target_db = 1;
	a->objtype = t;
	builder_set(b, &a->role, creator);
	builder_set(b, &a->schema, schema);
	builder_set(b, &a->privs, privs);
	builder_set(b, &a->other, user);
}

/*
 * Grants and revocations on existing objects and default privileges for one
 * grantee at level (an access level, or LEVEL_NONE for a retired user).
 * reassigned: this run gives the grantee's objects to the owner role, so it
 * needs grants on them, which the observation (made while it owned them)
 * cannot show.
 * Default privileges are kept for the creating roles only; those a former
 * creator still holds are revoked.
 */
static void plan_object_privs(struct builder *b, const struct desired *d, const struct observed *o,
                              const char *schema, const char *grantee, int level, int reassigned,
                              char t, unsigned extra)
{
	const char *const *list = t == 'S' ? SEQ_PRIVS : TABLE_PRIVS;
	int has_objects = observed_has(o, "objects:%s:%c:%s", schema, t, grantee);
	int owner_user = !creator(d, grantee) ? 0 : strcmp(grantee, d->owner) != 0;
	int missing[8] = {0}, excess[8] = {0};
	char privs[128];
	size_t i, c, n_roles = 1 + d->n_users + d->n_retired;

	for (i = 0; list[i] != NULL; i++) {
		int want = wanted(level, list[i]) ||
		           (level != LEVEL_NONE && wanted_extra(extra, t, list[i]));

		missing[i] = want && (reassigned ||
		                      (has_objects && !observed_has(o, "all:%s:%c:%s:%s", schema, t,
		                                                    list[i], grantee)));
		excess[i] = has_objects && !want &&
		            observed_has(o, "any:%s:%c:%s:%s", schema, t, list[i], grantee);
	}
	privs_where(privs, sizeof(privs), list, missing, 1);
	add_privs(b, ACT_GRANT_ON_ALL, NULL, schema, t, privs, grantee);
	privs_where(privs, sizeof(privs), list, excess, 1);
	add_privs(b, ACT_REVOKE_ON_ALL, NULL, schema, t, privs, grantee);

	for (c = 0; c < n_roles; c++) {
		const char *role = nth_role(d, c);
		/* An owner user needs no default grant from itself or the owner role. */
		int creates =
		    creator(d, role) && strcmp(role, grantee) != 0 && !(owner_user && c == 0);

		for (i = 0; list[i] != NULL; i++) {
			int want =
			    creates && (wanted(level, list[i]) ||
			                (level != LEVEL_NONE && wanted_extra(extra, t, list[i])));
			int has = observed_has(o, "defacl:%s:%s:%c:%s:%s", role, schema, t, list[i],
			                       grantee);

			missing[i] = want && !has;
			excess[i] = !want && has;
		}
		privs_where(privs, sizeof(privs), list, missing, 1);
		add_privs(b, ACT_DEFAULT_GRANT, role, schema, t, privs, grantee);
		privs_where(privs, sizeof(privs), list, excess, 1);
		add_privs(b, ACT_DEFAULT_REVOKE, role, schema, t, privs, grantee);
	}
}

/* 1 when name is the owner role or one of the resource's login roles. */
static int resource_role(const struct desired *d, const char *name)
{
	size_t i;

	if (strcmp(name, d->owner) == 0)
		return 1;
	for (i = 0; i < d->n_users; i++)
		if (strcmp(name, d->users[i].name) == 0)
			return 1;
	for (i = 0; i < d->n_retired; i++)
		if (strcmp(name, d->retired[i]) == 0)
			return 1;
	return 0;
}

/* What is known of one schema before the plan runs. */
struct schema_state {
	int exists;
	const char *owner; /* NULL: unknown (a new database's public before 15) */
	int control;       /* 1 the admin may change its ACL, 0 it may not, -1 unknown */
	int public_create; /* PUBLIC may create objects there */
	int public_usage;
};

static void schema_state(struct schema_state *st, const struct desired *d, const struct observed *o,
                         const char *schema)
{
	char prefix[160];

	memset(st, 0, sizeof(*st));
	if (o->target_observed) {
		st->exists = observed_has(o, "schema:%s", schema);
		snprintf(prefix, sizeof(prefix), "schemaowner:%s:", schema);
		st->owner = st->exists ? observed_rest(o, prefix) : NULL;
		st->public_create = observed_has(o, "schemapriv:%s:CREATE:PUBLIC", schema);
		st->public_usage = observed_has(o, "schemapriv:%s:USAGE:PUBLIC", schema);
	} else if (strcmp(schema, "public") == 0) {
		/* Not seen from inside yet: public as the template makes it. */
		st->exists = 1;
		st->owner = o->server_version >= 150000 ? "pg_database_owner" : NULL;
		st->public_create = o->server_version < 150000;
		st->public_usage = 1;
	}
	if (!st->exists) {
		st->owner = d->owner; /* the plan creates it, owned by the owner role */
		st->control = 1;
	} else if (st->owner == NULL) {
		st->control = -1;
	} else {
		/* From 15 the database owner (the owner role) acts as pg_database_owner. */
		st->control = resource_role(d, st->owner) || strcmp(st->owner, o->admin) == 0 ||
		              strcmp(st->owner, "pg_database_owner") == 0;
	}
}

/* The one statement a superuser must run so that PUBLIC cannot create in schema. */
static void warn_public_create(struct builder *b, const struct desired *d, const char *schema,
                               const char *owner)
{
	builder_warn(
	    b,
	    "PUBLIC can still create objects in schema %s of database %s: it belongs to %s, "
	    "for whom the admin cannot act; the instance's superuser must run "
	    "REVOKE CREATE ON SCHEMA %s FROM PUBLIC in database %s%s",
	    schema, d->db_name, owner != NULL ? owner : "a superuser", schema, d->db_name,
	    strcmp(schema, "public") == 0 ? " and in template1, so that every later database "
	                                    "inherits it"
	                                  : "");
}

/*
 * What PUBLIC may do in a schema: never CREATE (PostgreSQL 14 and older
 * grant it on public), and in a schema the resource owns not USAGE either.
 */
static void plan_schema_public(struct builder *b, const struct desired *d,
                               const struct schema_state *st, const char *schema)
{
	int managed = st->owner != NULL && strcmp(st->owner, d->owner) == 0;
	int usage = managed && st->public_usage;
	struct action *a;
	char text[64];

	if (!st->public_create && !usage)
		return;
	if (st->control == 0) {
		if (st->public_create)
			warn_public_create(b, d, schema, st->owner);
		return;
	}
	snprintf(text, sizeof(text), "%s%s%s", st->public_create ? "CREATE" : "",
	         st->public_create && usage ? ", " : "", usage ? "USAGE" : "");
	a = builder_add(b, ACT_REVOKE_SCHEMA_PUBLIC, NULL, "revoke %s on schema %s from public",
	                text, schema);
	if (a == NULL)
		return;
	a->target_db = 1;
	builder_set(b, &a->schema, schema);
	builder_set(b, &a->privs, text);
	if (st->control == -1) {
		/* A new database before 15: the template's owner decides. */
		a->may_not_apply = 1;
		if (st->public_create) {
			struct plan *p = b->p;
			size_t n = p->n_warnings;

			warn_public_create(b, d, schema, st->owner);
			if (b->rc == 0 && p->n_warnings == n + 1) {
				a->warning = p->warnings[n]; /* reported only if it did nothing */
				p->n_warnings = n;
			}
		}
	}
}

/*
 * A login role keeps nothing in schema: USAGE, grants and default
 * privileges revoked (a retired user, or one whose schemas leave it out).
 */
static void plan_outside_schema(struct builder *b, const struct desired *d,
                                const struct observed *o, const char *schema, const char *name)
{
	struct action *a;

	if (observed_has(o, "schemapriv:%s:USAGE:%s", schema, name)) {
		a = builder_add(b, ACT_REVOKE_SCHEMA_USAGE, name,
		                "revoke usage on schema %s from %s", schema, name);
		if (a != NULL) {
			a->target_db = 1;
			builder_set(b, &a->schema, schema);
			builder_set(b, &a->other, name);
		}
	}
	plan_object_privs(b, d, o, schema, name, LEVEL_NONE, 0, 'r', 0);
	plan_object_privs(b, d, o, schema, name, LEVEL_NONE, 0, 'S', 0);
}

/* A retired user's USAGE, grants and default privileges in schema are revoked. */
void plan_retired_schema(struct builder *b, const struct desired *d, const struct observed *o,
                         const char *schema)
{
	size_t i;

	for (i = 0; i < d->n_retired; i++)
		plan_outside_schema(b, d, o, schema, d->retired[i]);
}

/* Schemas, USAGE, object grants and default privileges inside the database. */
void plan_schemas(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct schema_state st;
	struct action *a;
	size_t s, i;
	int reassigned;

	/*
	 * A user that is no longer an owner keeps no objects: they go to the
	 * owner role (nothing dropped), so its level's rights are all it has.
	 */
	for (i = 0; i < d->n_users; i++) {
		const char *name = d->users[i].name;

		if (d->users[i].access == ACCESS_OWNER || !observed_has(o, "owns:%s", name))
			continue;
		a = builder_add(b, ACT_REASSIGN_OWNED, name, "reassign objects owned by %s to %s",
		                name, d->owner);
		if (a != NULL) {
			a->target_db = 1;
			builder_set(b, &a->role, name);
			builder_set(b, &a->other, d->owner);
		}
	}
	for (s = 0; s < d->n_schemas; s++) {
		const char *schema = d->schemas[s];

		schema_state(&st, d, o, schema);
		if (!st.exists) {
			a = builder_add(b, ACT_CREATE_SCHEMA, NULL, "create schema %s owner %s",
			                schema, d->owner);
			if (a != NULL) {
				a->target_db = 1;
				builder_set(b, &a->schema, schema);
				builder_set(b, &a->other, d->owner);
			}
		}
		plan_schema_public(b, d, &st, schema);
		for (i = 0; i < d->n_users; i++) {
			const struct desired_user *u = &d->users[i];
			unsigned xt = plan_user_extra(u, PRIV_TABLES);
			unsigned xs = plan_user_extra(u, PRIV_SEQUENCES);

			if (!plan_user_in_schema(u, schema)) {
				plan_outside_schema(b, d, o, schema, u->name);
				continue;
			}
			if (u->access == ACCESS_OWNER) {
				/*
				 * The owner membership covers the owner role's objects;
				 * those another owner user made get readwrite grants.
				 */
				plan_object_privs(b, d, o, schema, u->name, ACCESS_READWRITE, 0,
				                  'r', xt);
				plan_object_privs(b, d, o, schema, u->name, ACCESS_READWRITE, 0,
				                  'S', xs);
				continue;
			}
			if (!observed_has(o, "schemapriv:%s:USAGE:%s", schema, u->name)) {
				int via_public =
				    st.public_usage &&
				    !(st.owner != NULL && strcmp(st.owner, d->owner) == 0);

				if (st.control == 0 && via_public) {
					/* Nothing to grant: PUBLIC's USAGE covers the user. */
				} else if (st.control == 0) {
					builder_warn(
					    b,
					    "cannot grant USAGE on schema %s of database %s to "
					    "%s: it "
					    "belongs to %s, for whom the admin cannot act",
					    schema, d->db_name, u->name, st.owner);
				} else {
					a = builder_add(b, ACT_GRANT_SCHEMA_USAGE, u->name,
					                "grant usage on schema %s to %s", schema,
					                u->name);
					if (a != NULL) {
						a->target_db = 1;
						a->may_not_apply = st.control == -1 && via_public;
						builder_set(b, &a->schema, schema);
						builder_set(b, &a->other, u->name);
					}
				}
			}
			reassigned = observed_has(o, "owns:%s", u->name);
			plan_object_privs(b, d, o, schema, u->name, (int)u->access, reassigned, 'r',
			                  xt);
			plan_object_privs(b, d, o, schema, u->name, (int)u->access, reassigned, 'S',
			                  xs);
		}
		plan_access_schema(b, d, o, schema);
		plan_retired_schema(b, d, o, schema);
	}
}
