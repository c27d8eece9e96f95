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
static int wanted(enum access acc, const char *p)
{
	return strcmp(p, "SELECT") == 0 || acc == ACCESS_READWRITE;
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

/* Grants and revocations on existing objects and default privileges for one user. */
static void plan_object_privs(struct builder *b, const struct desired *d, const struct observed *o,
                              const char *schema, const struct desired_user *u, char t)
{
	const char *const *list = t == 'S' ? SEQ_PRIVS : TABLE_PRIVS;
	int has_objects = observed_has(o, "objects:%s:%c", schema, t);
	int missing[8] = {0}, excess[8] = {0};
	char privs[128];
	size_t i, c;

	for (i = 0; list[i] != NULL; i++) {
		int want = wanted(u->access, list[i]);

		missing[i] = has_objects && want &&
		             !observed_has(o, "all:%s:%c:%s:%s", schema, t, list[i], u->name);
		excess[i] = has_objects && !want &&
		            observed_has(o, "any:%s:%c:%s:%s", schema, t, list[i], u->name);
	}
	privs_where(privs, sizeof(privs), list, missing, 1);
	add_privs(b, ACT_GRANT_ON_ALL, NULL, schema, t, privs, u->name);
	privs_where(privs, sizeof(privs), list, excess, 1);
	add_privs(b, ACT_REVOKE_ON_ALL, NULL, schema, t, privs, u->name);

	/* Default privileges, for every role that creates objects. */
	for (c = 0; c <= d->n_users; c++) {
		const char *creator;

		if (c == d->n_users)
			creator = d->owner;
		else if (d->users[c].access == ACCESS_OWNER)
			creator = d->users[c].name;
		else
			continue;
		for (i = 0; list[i] != NULL; i++) {
			int want = wanted(u->access, list[i]);
			int has = observed_has(o, "defacl:%s:%s:%c:%s:%s", creator, schema, t,
			                       list[i], u->name);

			missing[i] = want && !has;
			excess[i] = !want && has;
		}
		privs_where(privs, sizeof(privs), list, missing, 1);
		add_privs(b, ACT_DEFAULT_GRANT, creator, schema, t, privs, u->name);
		privs_where(privs, sizeof(privs), list, excess, 1);
		add_privs(b, ACT_DEFAULT_REVOKE, creator, schema, t, privs, u->name);
	}
}

/* Schemas, USAGE, object grants and default privileges inside the database. */
static void plan_schemas(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct action *a;
	size_t s, i;

	for (s = 0; s < d->n_schemas; s++) {
		const char *schema = d->schemas[s];

		/* A new database has public from its template. */
		int exists = observed_has(o, "schema:%s", schema) ||
		             (!o->db_exists && strcmp(schema, "public") == 0);

		if (!exists) {
			a = add(b, ACT_CREATE_SCHEMA, NULL, "create schema %s owner %s", schema,
			        d->owner);
			if (a != NULL) {
				a->target_db = 1;
				set(b, &a->schema, schema);
				set(b, &a->other, d->owner);
			}
		}
		for (i = 0; i < d->n_users; i++) {
			const struct desired_user *u = &d->users[i];

			if (u->access == ACCESS_OWNER)
				continue;
			if (!observed_has(o, "schemapriv:%s:USAGE:%s", schema, u->name)) {
				a = add(b, ACT_GRANT_SCHEMA_USAGE, u->name,
				        "grant usage on schema %s to %s", schema, u->name);
				if (a != NULL) {
					a->target_db = 1;
					set(b, &a->schema, schema);
					set(b, &a->other, u->name);
				}
			}
			plan_object_privs(b, d, o, schema, u, 'r');
			plan_object_privs(b, d, o, schema, u, 'S');
		}
	}
}

int plan_build(struct plan *out, const struct desired *d, const struct observed *o)
{
	struct builder b = {.p = out, .rc = 0};
	size_t i;
	int needs_db = 0;

	memset(out, 0, sizeof(*out));
	plan_roles(&b, d, o);
	plan_database(&b, d, o);
	plan_schemas(&b, d, o);

	/* Database and in-database work runs as a member of the creating roles. */
	for (i = 0; i < out->n; i++)
		if (out->items[i].db != NULL || out->items[i].target_db)
			needs_db = 1;
	if (needs_db) {
		need_admin_role(&b, d->owner);
		for (i = 0; i < d->n_users; i++)
			if (d->users[i].access == ACCESS_OWNER)
				need_admin_role(&b, d->users[i].name);
	}

	/* Memberships an interrupted run left behind are given back. */
	if (observed_has(o, "member:%s:%s", d->owner, o->admin)) {
		struct action *a =
		    add(&b, ACT_DROP_ADMIN_MEMBERSHIP, NULL,
		        "revoke %s from %s (left by an interrupted run)", d->owner, o->admin);
		if (a != NULL)
			set(&b, &a->role, d->owner);
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
	}
	free(p->items);
	for (i = 0; i < p->n_admin_roles; i++)
		free(p->admin_roles[i]);
	free(p->admin_roles);
	memset(p, 0, sizeof(*p));
}
