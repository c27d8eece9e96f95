/*
 * plan.c - the difference between observed and desired, as an ordered list
 * of actions: roles, database, memberships, then per schema the grants and
 * default privileges. An empty plan means nothing to change.
 */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TABLE_PRIVS[] = {"SELECT", "INSERT", "UPDATE", "DELETE", NULL};
static const char *const SEQ_PRIVS[] = {"SELECT", "USAGE", "UPDATE", NULL};

int observed_has(const struct observed *o, const char *fmt, ...)
{
	char key[1024];
	va_list ap;

	if (o->facts == NULL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	return json_object_get(o->facts, key) != NULL;
}

int observed_add(struct observed *o, const char *fact)
{
	if (o->facts == NULL && (o->facts = json_object()) == NULL)
		return APPDB_ENOMEM;
	return json_object_set_new(o->facts, fact, json_true()) == 0 ? 0 : APPDB_ENOMEM;
}

const char *observed_rest(const struct observed *o, const char *prefix)
{
	const char *key;
	size_t n = strlen(prefix);
	json_t *v;

	if (o->facts == NULL)
		return NULL;
	json_object_foreach (o->facts, key, v) {
		if (strncmp(key, prefix, n) == 0)
			return key + n;
	}
	return NULL;
}

int plan_warn(struct plan *p, const char *text)
{
	char **w = realloc(p->warnings, (p->n_warnings + 1) * sizeof(*w));

	if (w == NULL)
		return APPDB_ENOMEM;
	p->warnings = w;
	if ((w[p->n_warnings] = strdup(text)) == NULL)
		return APPDB_ENOMEM;
	p->n_warnings++;
	return 0;
}

const struct obs_role *observed_role(const struct observed *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n_roles; i++)
		if (strcmp(o->roles[i].name, name) == 0)
			return &o->roles[i];
	return NULL;
}

void observed_clear(struct observed *o)
{
	size_t i;

	for (i = 0; i < o->n_roles; i++) {
		free(o->roles[i].name);
		free(o->roles[i].comment);
	}
	free(o->roles);
	free(o->admin);
	free(o->db_owner);
	free(o->db_comment);
	json_decref(o->facts);
	memset(o, 0, sizeof(*o));
}

char *plan_marker(const struct desired *d, const struct desired_user *user)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "managedBy", "appdb-operator", "resource",
	                      d->resource, "uid", d->uid);
	char *s = NULL;

	if (o == NULL)
		return NULL;
	if (user != NULL && user->password_version != NULL)
		json_object_set_new(o, "passwordVersion", json_string(user->password_version));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

char *plan_retired_marker(const char *comment, const char *now)
{
	json_t *c = comment != NULL ? json_loads(comment, 0, NULL) : NULL;
	char *s = NULL;

	if (json_is_object(c) && (json_object_get(c, "retiredAt") != NULL ||
	                          json_object_set_new(c, "retiredAt", json_string(now)) == 0))
		s = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(c);
	return s;
}

int plan_marker_match(const char *comment, const struct desired *d, const struct desired_user *user)
{
	json_t *c;
	const char *managed, *resource, *uid, *pv;
	int rc;

	if (comment == NULL)
		return 0;
	c = json_loads(comment, 0, NULL);
	managed = json_string_value(json_object_get(c, "managedBy"));
	resource = json_string_value(json_object_get(c, "resource"));
	uid = json_string_value(json_object_get(c, "uid"));
	pv = json_string_value(json_object_get(c, "passwordVersion"));
	if (!json_is_object(c) || managed == NULL || strcmp(managed, "appdb-operator") != 0 ||
	    resource == NULL)
		rc = 0;
	else if (strcmp(resource, d->resource) != 0)
		rc = 3;
	else if (uid == NULL || strcmp(uid, d->uid) != 0)
		rc = 2;
	else if (user != NULL && user->password_version != NULL &&
	         (pv == NULL || strcmp(pv, user->password_version) != 0))
		rc = 2;
	else if (user != NULL && json_object_get(c, "retiredAt") != NULL)
		rc = 2; /* back in the spec: enabled again */
	else
		rc = 1;
	json_decref(c);
	return rc;
}

struct builder {
	struct plan *p;
	int rc;
};

static char *dup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Appends an action; text is formatted. Strings are copied. */
static struct action *add(struct builder *b, enum action_kind kind, const char *user,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct action *add(struct builder *b, enum action_kind kind, const char *user,
                          const char *fmt, ...)
{
	struct action *items, *a;
	va_list ap;
	char text[512];

	if (b->rc != 0)
		return NULL;
	items = realloc(b->p->items, (b->p->n + 1) * sizeof(*items));
	if (items == NULL) {
		b->rc = APPDB_ENOMEM;
		return NULL;
	}
	b->p->items = items;
	a = &items[b->p->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->login = -1;
	a->conn_limit = ACT_KEEP;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	a->text = strdup(text);
	a->user = dup(user);
	if (a->text == NULL || (user != NULL && a->user == NULL))
		b->rc = APPDB_ENOMEM;
	return a;
}

/* Adds a formatted warning to the plan, recording ENOMEM. */
static void warn(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct builder *b, const char *fmt, ...)
{
	va_list ap;
	char text[768];

	if (b->rc != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	b->rc = plan_warn(b->p, text);
}

/* Copies s into *field, recording ENOMEM. */
static void set(struct builder *b, char **field, const char *s)
{
	if (b->rc != 0 || s == NULL)
		return;
	*field = strdup(s);
	if (*field == NULL)
		b->rc = APPDB_ENOMEM;
}

static void need_admin_role(struct builder *b, const char *role)
{
	struct plan *p = b->p;
	char **nr;
	size_t i;

	if (b->rc != 0 || role == NULL)
		return;
	for (i = 0; i < p->n_admin_roles; i++)
		if (strcmp(p->admin_roles[i], role) == 0)
			return;
	nr = realloc(p->admin_roles, (p->n_admin_roles + 1) * sizeof(*nr));
	if (nr == NULL) {
		b->rc = APPDB_ENOMEM;
		return;
	}
	p->admin_roles = nr;
	if ((nr[p->n_admin_roles] = strdup(role)) == NULL)
		b->rc = APPDB_ENOMEM;
	else
		p->n_admin_roles++;
}

/*
 * Users the spec no longer names are disabled, never dropped: NOLOGIN and
 * "retiredAt" in the marker here; CONNECT, grants, default privileges and
 * the owner membership are revoked further on.
 */
static void plan_retired_roles(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct action *a;
	size_t i;

	for (i = 0; i < d->n_retired; i++) {
		const char *name = d->retired[i];
		const struct obs_role *r = observed_role(o, name);
		json_t *c;
		int marked;

		if (r == NULL)
			continue;
		if (r->login) {
			a = add(b, ACT_ALTER_ROLE, name, "disable role %s (nologin)", name);
			if (a != NULL) {
				set(b, &a->role, name);
				a->login = 0;
			}
		}
		c = r->comment != NULL ? json_loads(r->comment, 0, NULL) : NULL;
		marked = json_object_get(c, "retiredAt") != NULL;
		json_decref(c);
		if (!marked) {
			a = add(b, ACT_COMMENT_ROLE, name, "mark role %s as retired", name);
			if (a != NULL) {
				set(b, &a->role, name);
				if (b->rc == 0 &&
				    (a->comment = plan_retired_marker(r->comment, d->now)) == NULL)
					b->rc = APPDB_ENOMEM;
			}
		}
	}
}

/* Roles, their attributes, passwords and markers. */
static void plan_roles(struct builder *b, const struct desired *d, const struct observed *o)
{
	const struct obs_role *r = observed_role(o, d->owner);
	struct action *a;
	char *marker = NULL;
	size_t i;

	marker = plan_marker(d, NULL);
	if (marker == NULL) {
		b->rc = APPDB_ENOMEM;
		return;
	}
	if (r == NULL) {
		a = add(b, ACT_CREATE_ROLE, NULL, "create role %s (nologin)", d->owner);
		if (a != NULL) {
			set(b, &a->role, d->owner);
			set(b, &a->comment, marker);
			a->login = 0;
			a->conn_limit = -1;
		}
	} else {
		if (r->login) {
			a = add(b, ACT_ALTER_ROLE, NULL, "alter role %s nologin", d->owner);
			if (a != NULL) {
				set(b, &a->role, d->owner);
				a->login = 0;
			}
		}
		if (plan_marker_match(r->comment, d, NULL) != 1) {
			a = add(b, ACT_COMMENT_ROLE, NULL, "mark role %s as managed", d->owner);
			if (a != NULL) {
				set(b, &a->role, d->owner);
				set(b, &a->comment, marker);
			}
		}
	}
	free(marker);

	for (i = 0; i < d->n_users; i++) {
		const struct desired_user *u = &d->users[i];

		r = observed_role(o, u->name);
		marker = plan_marker(d, u);
		if (marker == NULL) {
			b->rc = APPDB_ENOMEM;
			return;
		}
		if (r == NULL) {
			a = add(b, ACT_CREATE_ROLE, u->name, "create role %s (login%s)", u->name,
			        u->conn_limit >= 0 ? ", connection limit" : "");
			if (a != NULL) {
				set(b, &a->role, u->name);
				set(b, &a->comment, marker);
				a->login = 1;
				a->conn_limit = u->conn_limit;
			}
			free(marker);
			continue;
		}
		if (!r->login || r->conn_limit != u->conn_limit) {
			a = add(b, ACT_ALTER_ROLE, u->name, "alter role %s%s%s", u->name,
			        !r->login ? " login" : "",
			        r->conn_limit != u->conn_limit ? " connection limit" : "");
			if (a != NULL) {
				set(b, &a->role, u->name);
				a->login = r->login ? -1 : 1;
				a->conn_limit =
				    r->conn_limit != u->conn_limit ? u->conn_limit : ACT_KEEP;
			}
		}
		if (u->set_password) {
			a = add(b, ACT_SET_PASSWORD, u->name, "set password for %s", u->name);
			if (a != NULL)
				set(b, &a->role, u->name);
		}
		if (plan_marker_match(r->comment, d, u) != 1) {
			a = add(b, ACT_COMMENT_ROLE, u->name, "mark role %s as managed", u->name);
			if (a != NULL) {
				set(b, &a->role, u->name);
				set(b, &a->comment, marker);
			}
		}
		free(marker);
	}
	plan_retired_roles(b, d, o);
}

/* A retired user's CONNECT and owner membership are revoked. */
static void plan_retired_database(struct builder *b, const struct desired *d,
                                  const struct observed *o)
{
	struct action *a;
	size_t i;

	for (i = 0; i < d->n_retired; i++) {
		const char *name = d->retired[i];

		if (observed_has(o, "db:CONNECT:%s", name)) {
			a = add(b, ACT_REVOKE_CONNECT, name,
			        "revoke connect on database %s from %s", d->db_name, name);
			if (a != NULL) {
				set(b, &a->db, d->db_name);
				set(b, &a->other, name);
			}
		}
		if (observed_has(o, "member:%s:%s", d->owner, name)) {
			a = add(b, ACT_REVOKE_ROLE, name, "revoke %s from %s", d->owner, name);
			if (a != NULL) {
				set(b, &a->role, d->owner);
				set(b, &a->other, name);
			}
		}
	}
}

/* The database, its marker, CONNECT, and owner-role memberships. */
static void plan_database(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct action *a;
	char *marker = plan_marker(d, NULL);
	size_t i;

	if (marker == NULL) {
		b->rc = APPDB_ENOMEM;
		return;
	}
	if (!o->db_exists) {
		a = add(b, ACT_CREATE_DATABASE, NULL, "create database %s owner %s", d->db_name,
		        d->owner);
		if (a != NULL) {
			set(b, &a->db, d->db_name);
			set(b, &a->other, d->owner);
		}
	}
	if (!o->db_exists || plan_marker_match(o->db_comment, d, NULL) != 1) {
		a = add(b, ACT_COMMENT_DATABASE, NULL, "mark database %s as managed", d->db_name);
		if (a != NULL) {
			set(b, &a->db, d->db_name);
			set(b, &a->comment, marker);
		}
	}
	free(marker);
	/* The admin keeps CONNECT so that later runs can observe inside. */
	if (!o->db_exists || !observed_has(o, "db:CONNECT:%s", o->admin)) {
		a = add(b, ACT_GRANT_CONNECT, NULL, "grant connect on database %s to %s",
		        d->db_name, o->admin);
		if (a != NULL) {
			set(b, &a->db, d->db_name);
			set(b, &a->other, o->admin);
		}
	}
	if (!o->db_exists || observed_has(o, "db:CONNECT:PUBLIC")) {
		a = add(b, ACT_REVOKE_CONNECT_PUBLIC, NULL,
		        "revoke connect on database %s from public", d->db_name);
		if (a != NULL)
			set(b, &a->db, d->db_name);
	}
	for (i = 0; i < d->n_users; i++) {
		const struct desired_user *u = &d->users[i];
		int member = observed_has(o, "member:%s:%s", d->owner, u->name);

		if (!o->db_exists || !observed_has(o, "db:CONNECT:%s", u->name)) {
			a = add(b, ACT_GRANT_CONNECT, u->name, "grant connect on database %s to %s",
			        d->db_name, u->name);
			if (a != NULL) {
				set(b, &a->db, d->db_name);
				set(b, &a->other, u->name);
			}
		}
		if (u->access == ACCESS_OWNER && !member) {
			a = add(b, ACT_GRANT_ROLE, u->name, "grant %s to %s", d->owner, u->name);
			if (a != NULL) {
				set(b, &a->role, d->owner);
				set(b, &a->other, u->name);
			}
		} else if (u->access != ACCESS_OWNER && member) {
			a = add(b, ACT_REVOKE_ROLE, u->name, "revoke %s from %s", d->owner,
			        u->name);
			if (a != NULL) {
				set(b, &a->role, d->owner);
				set(b, &a->other, u->name);
			}
		}
	}
	plan_retired_database(b, d, o);
	/*
	 * A new database is created closed to connections and opened only now,
	 * when PUBLIC has lost CONNECT: no session of another role can get in
	 * at any moment, even across a crash between two statements.
	 */
	if (!o->db_exists || !o->db_allow_connections) {
		a = add(b, ACT_ALLOW_CONNECTIONS, NULL, "allow connections to database %s",
		        d->db_name);
		if (a != NULL)
			set(b, &a->db, d->db_name);
	}
}

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
	if (level == LEVEL_NONE)
		return 0;
	return strcmp(p, "SELECT") == 0 || level == ACCESS_READWRITE;
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
		a = add(b, kind, user, "grant %s on all %s in schema %s to %s", privs,
		        objtype_word(t), schema, user);
		break;
	case ACT_REVOKE_ON_ALL:
		a = add(b, kind, user, "revoke %s on all %s in schema %s from %s", privs,
		        objtype_word(t), schema, user);
		break;
	case ACT_DEFAULT_GRANT:
		a = add(b, kind, user,
		        "alter default privileges for role %s in schema %s grant %s on %s to %s",
		        creator, schema, privs, objtype_word(t), user);
		break;
	default:
		a = add(b, kind, user,
		        "alter default privileges for role %s in schema %s revoke %s on %s from %s",
		        creator, schema, privs, objtype_word(t), user);
		break;
	}
	if (a == NULL)
		return;
	a->target_db = 1;
	a->objtype = t;
	set(b, &a->role, creator);
	set(b, &a->schema, schema);
	set(b, &a->privs, privs);
	set(b, &a->other, user);
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
                              char t)
{
	const char *const *list = t == 'S' ? SEQ_PRIVS : TABLE_PRIVS;
	int has_objects = observed_has(o, "objects:%s:%c:%s", schema, t, grantee);
	int owner_user = !creator(d, grantee) ? 0 : strcmp(grantee, d->owner) != 0;
	int missing[8] = {0}, excess[8] = {0};
	char privs[128];
	size_t i, c, n_roles = 1 + d->n_users + d->n_retired;

	for (i = 0; list[i] != NULL; i++) {
		int want = wanted(level, list[i]);

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
			int want = creates && wanted(level, list[i]);
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
	warn(b,
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
	a = add(b, ACT_REVOKE_SCHEMA_PUBLIC, NULL, "revoke %s on schema %s from public", text,
	        schema);
	if (a == NULL)
		return;
	a->target_db = 1;
	set(b, &a->schema, schema);
	set(b, &a->privs, text);
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

/* A retired user's USAGE, grants and default privileges in schema are revoked. */
static void plan_retired_schema(struct builder *b, const struct desired *d,
                                const struct observed *o, const char *schema)
{
	struct action *a;
	size_t i;

	for (i = 0; i < d->n_retired; i++) {
		const char *name = d->retired[i];

		if (observed_has(o, "schemapriv:%s:USAGE:%s", schema, name)) {
			a = add(b, ACT_REVOKE_SCHEMA_USAGE, name,
			        "revoke usage on schema %s from %s", schema, name);
			if (a != NULL) {
				a->target_db = 1;
				set(b, &a->schema, schema);
				set(b, &a->other, name);
			}
		}
		plan_object_privs(b, d, o, schema, name, LEVEL_NONE, 0, 'r');
		plan_object_privs(b, d, o, schema, name, LEVEL_NONE, 0, 'S');
	}
}

/* Schemas, USAGE, object grants and default privileges inside the database. */
static void plan_schemas(struct builder *b, const struct desired *d, const struct observed *o)
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
		a = add(b, ACT_REASSIGN_OWNED, name, "reassign objects owned by %s to %s", name,
		        d->owner);
		if (a != NULL) {
			a->target_db = 1;
			set(b, &a->role, name);
			set(b, &a->other, d->owner);
		}
	}
	for (s = 0; s < d->n_schemas; s++) {
		const char *schema = d->schemas[s];

		schema_state(&st, d, o, schema);
		if (!st.exists) {
			a = add(b, ACT_CREATE_SCHEMA, NULL, "create schema %s owner %s", schema,
			        d->owner);
			if (a != NULL) {
				a->target_db = 1;
				set(b, &a->schema, schema);
				set(b, &a->other, d->owner);
			}
		}
		plan_schema_public(b, d, &st, schema);
		for (i = 0; i < d->n_users; i++) {
			const struct desired_user *u = &d->users[i];

			if (u->access == ACCESS_OWNER) {
				/*
				 * The owner membership covers the owner role's objects;
				 * those another owner user made get readwrite grants.
				 */
				plan_object_privs(b, d, o, schema, u->name, ACCESS_READWRITE, 0,
				                  'r');
				plan_object_privs(b, d, o, schema, u->name, ACCESS_READWRITE, 0,
				                  'S');
				continue;
			}
			if (!observed_has(o, "schemapriv:%s:USAGE:%s", schema, u->name)) {
				int via_public =
				    st.public_usage &&
				    !(st.owner != NULL && strcmp(st.owner, d->owner) == 0);

				if (st.control == 0 && via_public) {
					/* Nothing to grant: PUBLIC's USAGE covers the user. */
				} else if (st.control == 0) {
					warn(b,
					     "cannot grant USAGE on schema %s of database %s to "
					     "%s: it "
					     "belongs to %s, for whom the admin cannot act",
					     schema, d->db_name, u->name, st.owner);
				} else {
					a = add(b, ACT_GRANT_SCHEMA_USAGE, u->name,
					        "grant usage on schema %s to %s", schema, u->name);
					if (a != NULL) {
						a->target_db = 1;
						a->may_not_apply = st.control == -1 && via_public;
						set(b, &a->schema, schema);
						set(b, &a->other, u->name);
					}
				}
			}
			reassigned = observed_has(o, "owns:%s", u->name);
			plan_object_privs(b, d, o, schema, u->name, (int)u->access, reassigned,
			                  'r');
			plan_object_privs(b, d, o, schema, u->name, (int)u->access, reassigned,
			                  'S');
		}
		plan_retired_schema(b, d, o, schema);
	}
}

int plan_build(struct plan *out, const struct desired *d, const struct observed *o)
{
	struct builder b = {.p = out, .rc = 0};
	size_t i;
	int needs_db = 0;

	memset(out, 0, sizeof(*out));
	if (d->disabling) {
		/* Every login role is retired; nothing is created or granted. */
		plan_retired_roles(&b, d, o);
		if (o->db_exists)
			plan_retired_database(&b, d, o);
		for (i = 0; o->target_observed && i < d->n_schemas; i++)
			plan_retired_schema(&b, d, o, d->schemas[i]);
	} else {
		plan_roles(&b, d, o);
		plan_database(&b, d, o);
		plan_schemas(&b, d, o);
	}

	/* Database and in-database work runs as a member of the creating roles. */
	for (i = 0; i < out->n; i++)
		if (out->items[i].db != NULL || out->items[i].target_db)
			needs_db = 1;
	if (needs_db) {
		/* The roles whose objects the grants cover, and those named in FOR ROLE. */
		need_admin_role(&b, d->owner);
		for (i = 0; i < d->n_users; i++)
			if (d->users[i].access == ACCESS_OWNER ||
			    observed_has(o, "owns:%s", d->users[i].name))
				need_admin_role(&b, d->users[i].name);
		for (i = 0; i < d->n_retired; i++)
			if (observed_has(o, "owns:%s", d->retired[i]))
				need_admin_role(&b, d->retired[i]);
		for (i = 0; i < out->n; i++) {
			enum action_kind k = out->items[i].kind;

			if (k == ACT_DEFAULT_GRANT || k == ACT_DEFAULT_REVOKE ||
			    k == ACT_REASSIGN_OWNED)
				need_admin_role(&b, out->items[i].role);
		}
	}

	/* Memberships an interrupted run left behind are given back. */
	if (observed_has(o, "member:%s:%s", d->owner, o->admin)) {
		struct action *a =
		    add(&b, ACT_DROP_ADMIN_MEMBERSHIP, NULL,
		        "revoke %s from %s (left by an interrupted run)", d->owner, o->admin);
		if (a != NULL)
			set(&b, &a->role, d->owner);
	}
	for (i = 0; i < d->n_retired; i++) {
		if (!observed_has(o, "member:%s:%s", d->retired[i], o->admin))
			continue;
		struct action *a =
		    add(&b, ACT_DROP_ADMIN_MEMBERSHIP, NULL,
		        "revoke %s from %s (left by an interrupted run)", d->retired[i], o->admin);
		if (a != NULL)
			set(&b, &a->role, d->retired[i]);
	}
	for (i = 0; i < d->n_users; i++) {
		if (!observed_has(o, "member:%s:%s", d->users[i].name, o->admin))
			continue;
		struct action *a = add(&b, ACT_DROP_ADMIN_MEMBERSHIP, d->users[i].name,
		                       "revoke %s from %s (left by an interrupted run)",
		                       d->users[i].name, o->admin);
		if (a != NULL)
			set(&b, &a->role, d->users[i].name);
	}
	if (b.rc != 0)
		plan_clear(out);
	return b.rc;
}

void plan_clear(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		struct action *a = &p->items[i];

		free(a->role);
		free(a->other);
		free(a->db);
		free(a->schema);
		free(a->privs);
		free(a->comment);
		free(a->user);
		free(a->text);
		free(a->warning);
	}
	free(p->items);
	for (i = 0; i < p->n_warnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	for (i = 0; i < p->n_admin_roles; i++)
		free(p->admin_roles[i]);
	free(p->admin_roles);
	memset(p, 0, sizeof(*p));
}
