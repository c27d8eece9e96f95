/*
 * plan.c - the difference between observed and desired, as an ordered list
 * of actions: roles, database, memberships, then per schema the grants and
 * default privileges. An empty plan means nothing to change.
 */
#include "plan.h"
#include "plan_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *builder_dup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Appends an action; text is formatted. Strings are copied. */

struct action *builder_add(struct builder *b, enum action_kind kind, const char *user,
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
	a->user = builder_dup(user);
	if (a->text == NULL || (user != NULL && a->user == NULL))
		b->rc = APPDB_ENOMEM;
	return a;
}

/* Adds a formatted warning to the plan, recording ENOMEM. */

void builder_warn(struct builder *b, const char *fmt, ...)
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
void builder_set(struct builder *b, char **field, const char *s)
{
	if (b->rc != 0 || s == NULL)
		return;
	*field = strdup(s);
	if (*field == NULL)
		b->rc = APPDB_ENOMEM;
}

void builder_need_admin_role(struct builder *b, const char *role)
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
			a = builder_add(b, ACT_ALTER_ROLE, name, "disable role %s (nologin)", name);
			if (a != NULL) {
				builder_set(b, &a->role, name);
				a->login = 0;
			}
		}
		c = r->comment != NULL ? json_loads(r->comment, 0, NULL) : NULL;
		marked = json_object_get(c, "retiredAt") != NULL;
		json_decref(c);
		if (!marked) {
			a = builder_add(b, ACT_COMMENT_ROLE, name, "mark role %s as retired", name);
			if (a != NULL) {
				builder_set(b, &a->role, name);
				if (b->rc == 0 &&
				    (a->comment = plan_retired_marker(r->comment, d->now)) == NULL)
					b->rc = APPDB_ENOMEM;
			}
		}
	}
}

/*
 * The text of the action that marks an existing object (what: "role" or
 * "database"): "adopt ..." when it carries no marker at all and the spec
 * adopts, else "mark ... as managed". Returns buf.
 */
static const char *mark_text(char *buf, size_t len, const char *comment, const struct desired *d,
                             const char *what, const char *name)
{
	if (d->adopt && plan_marker_match(comment, d, NULL) == 0)
		snprintf(buf, len, "adopt %s %s", what, name);
	else
		snprintf(buf, len, "mark %s %s as managed", what, name);
	return buf;
}

/* Roles, their attributes, passwords and markers. */
static void plan_roles(struct builder *b, const struct desired *d, const struct observed *o)
{
	const struct obs_role *r = observed_role(o, d->owner);
	struct action *a;
	char *marker = NULL, text[160];
	size_t i;

	marker = plan_marker(d, NULL);
	if (marker == NULL) {
		b->rc = APPDB_ENOMEM;
		return;
	}
	if (r == NULL) {
		a = builder_add(b, ACT_CREATE_ROLE, NULL, "create role %s (nologin)", d->owner);
		if (a != NULL) {
			builder_set(b, &a->role, d->owner);
			builder_set(b, &a->comment, marker);
			a->login = 0;
			a->conn_limit = -1;
		}
	} else {
		if (r->login) {
			a = builder_add(b, ACT_ALTER_ROLE, NULL, "alter role %s nologin", d->owner);
			if (a != NULL) {
				builder_set(b, &a->role, d->owner);
				a->login = 0;
			}
		}
		if (plan_marker_match(r->comment, d, NULL) != 1) {
			a = builder_add(
			    b, ACT_COMMENT_ROLE, NULL, "%s",
			    mark_text(text, sizeof(text), r->comment, d, "role", d->owner));
			if (a != NULL) {
				builder_set(b, &a->role, d->owner);
				builder_set(b, &a->comment, marker);
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
			a = builder_add(b, ACT_CREATE_ROLE, u->name, "create role %s (login%s)",
			                u->name, u->conn_limit >= 0 ? ", connection limit" : "");
			if (a != NULL) {
				builder_set(b, &a->role, u->name);
				builder_set(b, &a->comment, marker);
				a->login = 1;
				a->conn_limit = u->conn_limit;
				a->no_password = u->more != NULL && u->more->iam_auth;
			}
			free(marker);
			continue;
		}
		if (!r->login || r->conn_limit != u->conn_limit) {
			a = builder_add(b, ACT_ALTER_ROLE, u->name, "alter role %s%s%s", u->name,
			                !r->login ? " login" : "",
			                r->conn_limit != u->conn_limit ? " connection limit" : "");
			if (a != NULL) {
				builder_set(b, &a->role, u->name);
				a->login = r->login ? -1 : 1;
				a->conn_limit =
				    r->conn_limit != u->conn_limit ? u->conn_limit : ACT_KEEP;
			}
		}
		if (u->set_password) {
			a = builder_add(b, ACT_SET_PASSWORD, u->name, "set password for %s",
			                u->name);
			if (a != NULL)
				builder_set(b, &a->role, u->name);
		}
		if (plan_marker_match(r->comment, d, u) != 1) {
			a = builder_add(
			    b, ACT_COMMENT_ROLE, u->name, "%s",
			    mark_text(text, sizeof(text), r->comment, d, "role", u->name));
			if (a != NULL) {
				builder_set(b, &a->role, u->name);
				builder_set(b, &a->comment, marker);
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
			a = builder_add(b, ACT_REVOKE_CONNECT, name,
			                "revoke connect on database %s from %s", d->db_name, name);
			if (a != NULL) {
				builder_set(b, &a->db, d->db_name);
				builder_set(b, &a->other, name);
			}
		}
		if (observed_has(o, "member:%s:%s", d->owner, name)) {
			a = builder_add(b, ACT_REVOKE_ROLE, name, "revoke %s from %s", d->owner,
			                name);
			if (a != NULL) {
				builder_set(b, &a->role, d->owner);
				builder_set(b, &a->other, name);
			}
		}
	}
}

/* The database, its marker, CONNECT, and owner-role memberships. */
static void plan_database(struct builder *b, const struct desired *d, const struct observed *o)
{
	struct action *a;
	char *marker = plan_marker(d, NULL), text[160];
	size_t i;

	if (marker == NULL) {
		b->rc = APPDB_ENOMEM;
		return;
	}
	if (!o->db_exists) {
		a = builder_add(b, ACT_CREATE_DATABASE, NULL, "create database %s owner %s",
		                d->db_name, d->owner);
		if (a != NULL) {
			builder_set(b, &a->db, d->db_name);
			builder_set(b, &a->other, d->owner);
		}
	}
	if (!o->db_exists || plan_marker_match(o->db_comment, d, NULL) != 1) {
		a = builder_add(b, ACT_COMMENT_DATABASE, NULL, "%s",
		                mark_text(text, sizeof(text), o->db_exists ? o->db_comment : "", d,
		                          "database", d->db_name));
		if (a != NULL) {
			builder_set(b, &a->db, d->db_name);
			builder_set(b, &a->comment, marker);
		}
	}
	free(marker);
	/* The admin keeps CONNECT so that later runs can observe inside. */
	if (!o->db_exists || !observed_has(o, "db:CONNECT:%s", o->admin)) {
		a = builder_add(b, ACT_GRANT_CONNECT, NULL, "grant connect on database %s to %s",
		                d->db_name, o->admin);
		if (a != NULL) {
			builder_set(b, &a->db, d->db_name);
			builder_set(b, &a->other, o->admin);
		}
	}
	if (!o->db_exists || observed_has(o, "db:CONNECT:PUBLIC")) {
		a = builder_add(b, ACT_REVOKE_CONNECT_PUBLIC, NULL,
		                "revoke connect on database %s from public", d->db_name);
		if (a != NULL)
			builder_set(b, &a->db, d->db_name);
	}
	for (i = 0; i < d->n_users; i++) {
		const struct desired_user *u = &d->users[i];
		int member = observed_has(o, "member:%s:%s", d->owner, u->name);

		if (!o->db_exists || !observed_has(o, "db:CONNECT:%s", u->name)) {
			a = builder_add(b, ACT_GRANT_CONNECT, u->name,
			                "grant connect on database %s to %s", d->db_name, u->name);
			if (a != NULL) {
				builder_set(b, &a->db, d->db_name);
				builder_set(b, &a->other, u->name);
			}
		}
		if (u->access == ACCESS_OWNER && !member) {
			a = builder_add(b, ACT_GRANT_ROLE, u->name, "grant %s to %s", d->owner,
			                u->name);
			if (a != NULL) {
				builder_set(b, &a->role, d->owner);
				builder_set(b, &a->other, u->name);
			}
		} else if (u->access != ACCESS_OWNER && member) {
			a = builder_add(b, ACT_REVOKE_ROLE, u->name, "revoke %s from %s", d->owner,
			                u->name);
			if (a != NULL) {
				builder_set(b, &a->role, d->owner);
				builder_set(b, &a->other, u->name);
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
		a = builder_add(b, ACT_ALLOW_CONNECTIONS, NULL, "allow connections to database %s",
		                d->db_name);
		if (a != NULL)
			builder_set(b, &a->db, d->db_name);
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
		plan_access_disabling(&b, d, o);
		if (o->db_exists)
			plan_retired_database(&b, d, o);
		for (i = 0; o->target_observed && i < d->n_schemas; i++)
			plan_retired_schema(&b, d, o, d->schemas[i]);
	} else {
		plan_roles(&b, d, o);
		plan_access_roles(&b, d, o);
		plan_database(&b, d, o);
		plan_access_database(&b, d, o);
		plan_schemas(&b, d, o);
		plan_access_extensions(&b, d, o);
	}

	/* Database and in-database work runs as a member of the creating roles. */
	for (i = 0; i < out->n; i++)
		if (out->items[i].db != NULL || out->items[i].target_db)
			needs_db = 1;
	if (needs_db) {
		/* The roles whose objects the grants cover, and those named in FOR ROLE. */
		builder_need_admin_role(&b, d->owner);
		for (i = 0; i < d->n_users; i++)
			if (d->users[i].access == ACCESS_OWNER ||
			    observed_has(o, "owns:%s", d->users[i].name))
				builder_need_admin_role(&b, d->users[i].name);
		for (i = 0; i < d->n_retired; i++)
			if (observed_has(o, "owns:%s", d->retired[i]))
				builder_need_admin_role(&b, d->retired[i]);
		for (i = 0; i < out->n; i++) {
			enum action_kind k = out->items[i].kind;

			if (k == ACT_DEFAULT_GRANT || k == ACT_DEFAULT_REVOKE ||
			    k == ACT_REASSIGN_OWNED)
				builder_need_admin_role(&b, out->items[i].role);
		}
	}

	plan_access_admin_roles(&b, d, o);

	/* Memberships an interrupted run left behind are given back. */
	if (observed_has(o, "member:%s:%s", d->owner, o->admin)) {
		struct action *a = builder_add(&b, ACT_DROP_ADMIN_MEMBERSHIP, NULL,
		                               "revoke %s from %s (left by an interrupted run)",
		                               d->owner, o->admin);
		if (a != NULL)
			builder_set(&b, &a->role, d->owner);
	}
	for (i = 0; i < d->n_retired; i++) {
		if (!observed_has(o, "member:%s:%s", d->retired[i], o->admin))
			continue;
		struct action *a = builder_add(&b, ACT_DROP_ADMIN_MEMBERSHIP, NULL,
		                               "revoke %s from %s (left by an interrupted run)",
		                               d->retired[i], o->admin);
		if (a != NULL)
			builder_set(&b, &a->role, d->retired[i]);
	}
	for (i = 0; i < d->n_users; i++) {
		if (!observed_has(o, "member:%s:%s", d->users[i].name, o->admin))
			continue;
		struct action *a = builder_add(&b, ACT_DROP_ADMIN_MEMBERSHIP, d->users[i].name,
		                               "revoke %s from %s (left by an interrupted run)",
		                               d->users[i].name, o->admin);
		if (a != NULL)
			builder_set(&b, &a->role, d->users[i].name);
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
